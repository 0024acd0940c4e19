using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Training;
using TorchSharp;

namespace Pfa.Bench;

/// <summary>
/// The paper's Table 1 on Fashion-MNIST: train the VGG-style CNN, then PFA-KL and PFA-En at τ = 0.98, 0.95,
/// 0.90, each fine-tuned with the same budget; report the accuracy change and % parameters / % MACs.
/// </summary>
public static class QualityBench
{
    const string FashionMnist = Models.FashionMnist;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/quality.md");
        var work = Arg("--work", "bench/work");
        int epochs = int.Parse(Arg("--epochs", "10"), Inv);
        int finetuneEpochs = int.Parse(Arg("--finetune-epochs", "3"), Inv);
        Directory.CreateDirectory(work);
        var modelPath = Path.Combine(work, "model.json");
        var weightsPath = Path.Combine(work, "model.dat");
        var description = Models.FashionVgg();
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }

        var total = Stopwatch.StartNew();
        if (!File.Exists(weightsPath))
        {
            torch.manual_seed(1);
            using var net = new PfaNetwork(description);
            using var train = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train" }, description.Normalize);
            var options = new TrainOptions { Epochs = epochs, LearningRate = 0.05, BatchSize = 128, WeightDecay = 5e-4, Schedule = ScheduleKind.Cosine, Seed = 1 };
            Trainer.Train(net, train, options, e => Say(string.Create(Inv, $"train epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")));
            PfaModel.SaveWeights(net, weightsPath);
            description.Save(modelPath);
        }
        double trainMinutes = total.Elapsed.TotalMinutes;

        // The same fine-tune budget for every recipe.
        var finetune = new FinetuneBudget { Epochs = finetuneEpochs, LearningRate = 0.01, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };
        var runs = new (string Name, PfaBudget Budget)[]
        {
            ("PFA-KL", new PfaBudget { Finetune = finetune }),
            ("PFA-En 0.98", new PfaBudget { Strategy = "energy", Energy = 0.98, Finetune = finetune }),
            ("PFA-En 0.95", new PfaBudget { Strategy = "energy", Energy = 0.95, Finetune = finetune }),
            ("PFA-En 0.90", new PfaBudget { Strategy = "energy", Energy = 0.90, Finetune = finetune }),
        };
        var rows = new List<(string Name, Summary S)>();
        foreach (var (name, budget) in runs)
        {
            var request = new CompressRequest
            {
                ModelPath = modelPath, WeightsPath = weightsPath, Budget = new BudgetFile(budget, Environment.CurrentDirectory, null),
                TrainData = new DataSpec { Path = FashionMnist, Split = "train" },
                EvalData = new DataSpec { Path = FashionMnist, Split = "test" },
                OutDir = Path.Combine(work, name.Replace(' ', '-')),
            };
            var summary = Compressor.Run(request, line => Say($"  [{name}] {line}"));
            Say($"{name}: {summary.OneLine()}");
            rows.Add((name, summary));
        }

        var full = rows[0].S;
        var md = new StringBuilder();
        md.AppendLine("# Quality: PFA on Fashion-MNIST (paper Table 1 style)");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll quality` ({DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} CPU cores). Model: the 6-conv VGG-style CNN of `samples/FashionMnistVgg` ({full.ParametersBefore:N0} parameters, {full.MacsBefore:N0} MACs), trained {epochs} epochs on the 60k training images (SGD Nesterov, lr 0.05 cosine, weight decay 5e-4, batch 128). Analysis on the 60k training images; every compressed model fine-tuned {finetuneEpochs} epochs (lr 0.01 cosine) with filter selection; accuracy on the 10k test images."));
        md.AppendLine();
        md.AppendLine("| | Δ accuracy (pp) | accuracy | % parameters | % MACs |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        md.AppendLine(string.Create(Inv, $"| full model | | {full.AccuracyBefore:0.00}% | 100% | 100% |"));
        foreach (var (name, s) in rows)
            md.AppendLine(string.Create(Inv, $"| {name} | {-s.Drop:+0.00;-0.00} | {s.AccuracyAfter:0.00}% | {s.ParametersPercent:0.00}% | {s.MacsPercent:0.00}% |"));
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"Training took {trainMinutes:0.0} min (0 when a trained model was reused); the whole run {total.Elapsed.TotalMinutes:0.0} min."));
        md.AppendLine();
        md.AppendLine("<details><summary>log</summary>");
        md.AppendLine();
        md.AppendLine("```");
        md.Append(log);
        md.AppendLine("```");
        md.AppendLine("</details>");
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }
}

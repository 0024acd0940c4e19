using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes.Design;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// Garg et al.'s design on the Fashion-MNIST VGG-style CNN (the quality bench's trained model): width+depth and
/// width-only at threshold 0.999 and at the threshold whose design is closest to 30% of the parameters, trained
/// from scratch; against PFA-KL and the default footprint strategy at the same parameters, fine-tuned. Every run
/// gets the same training budget (epochs on the same images); accuracy, % parameters, % MACs, time.
/// </summary>
public static class GargBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/garg.md");
        var work = Arg("--work", "bench/work");
        int epochs = int.Parse(Arg("--epochs", "3"), Inv);
        int samples = int.Parse(Arg("--samples", "20000"), Inv);
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        var modelPath = Path.Combine(work, "model.json");
        var weightsPath = Path.Combine(work, "model.dat");
        if (!File.Exists(weightsPath)) { Console.Error.WriteLine($"no trained model in {work}: run the quality bench first"); return 2; }
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }
        var total = Stopwatch.StartNew();
        var train = new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = samples };
        var test = new DataSpec { Path = Models.FashionMnist, Split = "test" };
        var training = new FinetuneBudget { Epochs = epochs, LearningRate = 0.05, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };
        var finetune = training with { LearningRate = 0.01 };

        // The threshold whose design is closest to 30% of the parameters, from one garg analysis (no training).
        double t30;
        {
            var probe = Compressor.Run(new CompressRequest
            {
                ModelPath = modelPath, WeightsPath = weightsPath, Budget = new BudgetFile(new PfaBudget { Strategy = "garg", Finetune = training with { Epochs = 0 } }, work, null),
                TrainData = train, EvalData = test with { Limit = 1000 }, OutDir = Path.Combine(work, "garg-probe"),
            });
            using var analysis = AnalysisResult.Load(Path.Combine(work, "garg-probe", "analysis"));
            var graph = Pfa.Core.Model.ModelGraph.Build(Pfa.Core.Model.ModelDescription.Load(modelPath));
            var candidates = Enumerable.Range(0, 199).Select(i => 0.9 + i * 0.0005).ToList();
            var sizes = candidates.Select(t => (t, GargDesign.TradeOff(graph, new BudgetFile(new PfaBudget { Strategy = "garg", Threshold = t }, work, null), analysis.Spectra.ByLayer())
                .First(r => Math.Abs(r.Threshold - t) < 1e-12).Parameters / (double)probe.ParametersBefore)).ToList();
            t30 = Math.Round(sizes.OrderBy(s => Math.Abs(s.Item2 - 0.30)).First().t, 4);
            Say(string.Create(Inv, $"threshold closest to 30% of the parameters: {t30}"));
        }

        var rows = new List<(string Name, int Seed, Summary S, double Seconds)>();
        void Measure(string name, PfaBudget budget, int seed)
        {
            var watch = Stopwatch.StartNew();
            var summary = Compressor.Run(new CompressRequest
            {
                ModelPath = modelPath, WeightsPath = weightsPath, Budget = new BudgetFile(budget with { Seed = seed }, work, null),
                TrainData = train, EvalData = test, OutDir = Path.Combine(work, "garg-" + name.Replace(' ', '-').Replace('+', '-') + "-" + seed),
            }, line => Say($"  [{name} {seed}] {line}"));
            rows.Add((name, seed, summary, watch.Elapsed.TotalSeconds));
            Say(string.Create(Inv, $"{name} seed {seed}: {summary.OneLine()} ({watch.Elapsed.TotalSeconds:0} s)"));
        }

        var notes = new List<string>();
        // Width only differs from width+depth only when the depth rule drops a layer: otherwise it is the same design.
        void WidthOnly(string depthName, string name, PfaBudget budget, int seed)
        {
            var withDepth = Pfa.Core.Recipes.Recipe.Load(rows.First(r => r.Name == depthName && r.Seed == seed).S.Recipe);
            if (withDepth.Layers.Any(l => l.Dropped is not null)) Measure(name, budget, seed);
            else if (seed == 1) notes.Add($"{name}: the same design as {depthName} (the depth rule dropped no layer: S_L grows through every conv), not trained twice.");
        }
        for (int seed = 1; seed <= seeds; seed++)
        {
            Measure("garg 0.999 width+depth", new PfaBudget { Strategy = "garg", Finetune = training }, seed);
            WidthOnly("garg 0.999 width+depth", "garg 0.999 width only", new PfaBudget { Strategy = "garg", Depth = false, Finetune = training }, seed);
            Measure($"garg {t30} width+depth", new PfaBudget { Strategy = "garg", Threshold = t30, Finetune = training }, seed);
            WidthOnly($"garg {t30} width+depth", $"garg {t30} width only", new PfaBudget { Strategy = "garg", Threshold = t30, Depth = false, Finetune = training }, seed);
            Measure($"garg {t30} + selected filters", new PfaBudget { Strategy = "garg", Threshold = t30, Init = "selected", Finetune = finetune }, seed);
            Measure("PFA-KL", new PfaBudget { Finetune = finetune }, seed);
            long garg30 = rows.First(r => r.Name == $"garg {t30} width+depth").S.ParametersAfter;
            Measure("footprint (default) at garg's size", new PfaBudget { Strategy = "footprint", Parameters = garg30, Finetune = finetune }, seed);
        }

        var md = new StringBuilder();
        md.AppendLine("# Garg et al.'s PCA design vs PFA on Fashion-MNIST");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll garg` ({BenchMachine.Describe()}, {total.Elapsed.TotalMinutes:0} min). Model: the quality bench's VGG-style CNN ({rows[0].S.AccuracyBefore:0.00}%). Every run: analysis and {epochs} epoch(s) on the first {samples:N0} training images, SGD Nesterov cosine, weight decay 5e-4, batch 128 — garg designs train from scratch at lr 0.05 (the method's one training run); PFA recipes and garg + selected filters fine-tune at lr 0.01. {seeds} seeds; mean ± standard deviation; accuracy on the 10k test images. Time: the whole compress run (analysis, design, training, evaluation)."));
        md.AppendLine();
        md.AppendLine("| option | accuracy | % params | % MACs | time (s) | widths |");
        md.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var group in rows.GroupBy(r => r.Name))
        {
            var acc = group.Select(r => r.S.AccuracyAfter).ToArray();
            double mean = acc.Average(), sd = acc.Length > 1 ? Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Length - 1)) : 0;
            var first = group.First();
            var recipe = Pfa.Core.Recipes.Recipe.Load(first.S.Recipe);
            var widths = string.Join(" ", recipe.Layers.Select(l => l.Dropped is null ? $"{l.FiltersAfter}" : $"~~{l.FiltersAfter}~~"));
            md.AppendLine(string.Create(Inv, $"| {group.Key} | **{mean:0.00}** ± {sd:0.00} | {first.S.ParametersPercent:0.00} | {first.S.MacsPercent:0.00} | {group.Average(r => r.Seconds):0} | {widths} |"));
        }
        md.AppendLine();
        foreach (var n in notes) md.AppendLine($"- {n}");
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

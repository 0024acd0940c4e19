using System.Globalization;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Surgery;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// Issue 21's "accuracy after recalibration" on the residual bench's networks: what lifts a compressed model's test
/// accuracy before any fine-tuning. Per candidate of the search's family (α = 1, 0.25, 0 and the uniform + ℓ1 peer):
/// right after surgery; after re-estimating the batch-norm statistics on 50 and on 200 training batches of 128; and
/// after 50 batches and the classifier re-fitted to the original's logits (<see cref="ClassifierRefit"/>, the pipeline's
/// recalibration since this study). With <c>--finetune-seeds n</c>, each shape is also fine-tuned with the residual
/// bench's budget from both starts (batch norms only / batch norms and classifier), seeds 1…n.
/// Needs the residual bench's trained models (bash bench/restore-trained.sh). Table in bench/results/recalibration-study.md.
/// </summary>
public static class RecalibrationStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var work = Arg("--work", "bench/work/residual");
        var outPath = Arg("--out", "bench/results/recalibration-study.md");
        var only = Arg("--models", "resnet20-projection,resnet20-padding,mobilenet").Split(',');
        var targets = Arg("--targets", "0.5,0.3").Split(',').Select(t => double.Parse(t, Inv)).ToArray();
        int finetuneSeeds = int.Parse(Arg("--finetune-seeds", "0"), Inv);
        var shapes = new[] { new CandidateSearch.Shape(1), new CandidateSearch.Shape(0.25), new CandidateSearch.Shape(0), new CandidateSearch.Shape(0, "l1") };
        var rows = new List<string>();
        var finetuned = new List<string>();
        var total = System.Diagnostics.Stopwatch.StartNew();
        foreach (var (name, residual) in ResidualBench.Nets.Where(n => only.Contains(n.Name)).Select(n => (n.Name, n.Residual)))
        {
            var dir = Path.Combine(work, name);
            using var trained = ResidualBench.LoadTrained(dir, residual);
            var network = trained.Network;
            using var test = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "test" }, ResidualBench.Normalize);
            using var train = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = 20000 }, ResidualBench.Normalize);
            double full = Acc(network, test);
            foreach (var target in targets)
            {
                var budget = new BudgetFile(new PfaBudget { Strategy = "footprint", Target = target, Residual = residual }, dir, null);
                foreach (var shape in shapes)
                {
                    var recipe = CandidateSearch.Make(network, trained.Analysis, budget, trained.StatsBytes, trained.WeightOf, shape);
                    double Measure(int batches, string classifier)
                    {
                        var (_, model) = ChannelSurgery.Apply(network, recipe);
                        using var _m = model;
                        Start(network, model, train, batches, classifier, seed: 1);
                        return Acc(model, test);
                    }
                    double surgery = Measure(0, "none"), bn50 = Measure(50, "none"), bn200 = Measure(200, "none"), bias = Measure(50, "bias"), refit = Measure(50, "refit");
                    var line = string.Create(Inv, $"| {name} | {target * 100:0}% | {shape} | {recipe.Totals.ParametersPercent:0.00} | {surgery:0.00} | {bn50:0.00} | {bn200:0.00} | {bias:0.00} | {refit:0.00} |");
                    rows.Add(line);
                    Console.WriteLine(line);
                    for (int seed = 1; seed <= finetuneSeeds; seed++)
                    {
                        var pair = new[] { "none", "bias", "refit" }.Select(classifier =>
                        {
                            var (_, model) = ChannelSurgery.Apply(network, recipe with { Strategy = recipe.Strategy with { Seed = seed } });
                            using var _m = model;
                            Start(network, model, train, 50, classifier, seed);
                            Trainer.Train(model, train, new PfaBudget { Seed = seed, Finetune = ResidualBench.Finetune(epochs: 1) }.TrainOptions());
                            return Acc(model, test);
                        }).ToArray();
                        var f = string.Create(Inv, $"| {name} | {target * 100:0}% | {shape} | {seed} | {pair[0]:0.00} | {pair[1]:0.00} ({pair[1] - pair[0]:+0.00;-0.00}) | {pair[2]:0.00} ({pair[2] - pair[0]:+0.00;-0.00}) |");
                        finetuned.Add(f);
                        Console.WriteLine(f);
                    }
                }
            }
            rows.Add(string.Create(Inv, $"| {name} | full | — | 100 | {full:0.00} | | | | |"));
        }
        var md = new StringBuilder();
        md.AppendLine("# Recalibration study: what lifts a compressed model before fine-tuning");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll recalibration {string.Join(' ', args)}` ({DateTime.UtcNow:yyyy-MM-dd}, {total.Elapsed.TotalMinutes:0} min). The residual bench's trained networks and analyses; at each target, four shapes of the search's family (keep ratio ∝ γ^α scaled to the target, variance selection with the residual branches' rule; `α = 0, l1` = the uniform + ℓ1 peer). Top-1 on the 10k test images: right after surgery; after re-estimating the batch-norm statistics on 50 and on 200 training batches of 128 (seed 1, the first 20,000 training images); and after 50 batches with the classifier then fitted to the original's logits on the same batches (`ClassifierRefit`): its bias only (the mean logits made the original's) or its weights and bias (ridge least squares)."));
        md.AppendLine();
        md.AppendLine("| model | target | shape | % params | after surgery | BN, 50 batches | BN, 200 batches | BN + classifier bias, 50 batches | BN + classifier re-fit, 50 batches |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows) md.AppendLine(r);
        if (finetuned.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Fine-tuned from each start with the residual bench's budget (1 epoch on the first 20,000 training images, SGD Nesterov lr 0.01 cosine), test top-1:");
            md.AppendLine();
            md.AppendLine("| model | target | shape | seed | from BN only | from BN + classifier bias (Δ) | from BN + classifier re-fit (Δ) |");
            md.AppendLine("|---|---|---|---:|---:|---:|---:|");
            foreach (var f in finetuned) md.AppendLine(f);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>A compressed model's start: batch norms re-estimated on <paramref name="batches"/> batches (none: 0), then
    /// the classifier left ("none"), its bias moved ("bias") or re-fitted ("refit") on the first 50 of them.</summary>
    static void Start(PfaNetwork network, PfaNetwork model, Dataset train, int batches, string classifier, int seed)
    {
        if (batches == 0) return;
        BatchNormRecalibration.Run(model, train, batches, 128, seed);
        if (classifier != "none") ClassifierRefit.Run(network, model, train, 50, 128, seed, weights: classifier == "refit");
    }

    static double Acc(PfaNetwork model, Dataset test) => Evaluator.Evaluate(model, test).Top1 * 100;
}

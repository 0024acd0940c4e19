using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes.Allocation;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using Pfa.Core.Training;
using TorchSharp;

namespace Pfa.Bench;

/// <summary>
/// The users' question — at the size I need, which option keeps more accuracy? — on the Fashion-MNIST VGG-style
/// CNN: at 50/30/18% of the parameters and 50/25% of the MACs, each option's recipe from one analysis, accuracy
/// right after surgery, then the same fine-tune budget for every option with several seeds (mean and spread),
/// measured CPU latency, and the per-layer widths each option chose. Plus PFA-KL as in the paper.
/// Rows are appended to rows.jsonl in the work folder as they finish, so an interrupted run keeps its results
/// and a rerun skips what is done.
/// </summary>
public static class QualityBench
{
    const string FashionMnist = Models.FashionMnist;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A size target: a label and how each option expresses it in pfa.json.</summary>
    sealed record Target(string Label, bool Macs, double Fraction);

    /// <summary>One compared option: how it becomes a budget at a target.</summary>
    sealed record Option(string Label, Func<Target, PfaBudget> Budget);

    public sealed record Row(string Target, string Option, int Seed, double Before, double After, double ParametersPercent, double MacsPercent,
        double LatencyPercent1, double LatencyPercent64, string Widths, double FinetuneSeconds, double? Recalibrated = null, double? SearchSeconds = null, int? FinetuneSamples = null);

    static PfaBudget Sized(string paramsStrategy, string macsStrategy, Target t, string? select) => t.Macs
        ? new PfaBudget { Strategy = macsStrategy, Target = t.Fraction, Measure = macsStrategy == "uniform" ? "flops" : null, Select = select }
        : new PfaBudget { Strategy = paramsStrategy, Target = t.Fraction, Select = select };

    static readonly Dictionary<string, Option> Options = new Option[]
    {
        new("default", t => Sized("footprint", "flops", t, null)),
        new("no-search", t => Sized("footprint", "flops", t, null) with { Search = SearchBudget.Off }),
        new("default+distill", t => Sized("footprint", "flops", t, null)),
        new("default, distill's time", t => Sized("footprint", "flops", t, null)),
        new("default+pearson", t => Sized("footprint", "flops", t, "pearson")),
        new("tau", t => Sized("footprint-tau", "flops-tau", t, null)),
        new("uniform+l1", t => Sized("uniform", "uniform", t, "l1")),
        new("random", t => Sized("footprint", "flops", t, "random") with { Search = SearchBudget.Off }),
        // Studied while choosing the default (not in the committed table unless asked for with --options).
        new("default+l1", t => Sized("footprint", "flops", t, "l1")),
        new("default+variance", t => Sized("footprint", "flops", t, "variance")),
        new("uniform+pearson", t => Sized("uniform", "uniform", t, null)),
        new("tau+l1", t => Sized("footprint-tau", "flops-tau", t, "l1")),
        new("klpow", t => Sized("footprint-klpow", "flops-klpow", t, null)),
    }.ToDictionary(o => o.Label);

    static readonly Dictionary<string, Target> Targets = new Target[]
    {
        new("50% params", false, 0.50), new("30% params", false, 0.30), new("18% params", false, 0.18),
        new("50% MACs", true, 0.50), new("25% MACs", true, 0.25),
    }.ToDictionary(t => t.Label.Replace("% params", "p").Replace("% MACs", "m"));

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/quality.md");
        var work = Arg("--work", "bench/work");
        int epochs = int.Parse(Arg("--epochs", "10"), Inv);
        int finetuneEpochs = int.Parse(Arg("--finetune-epochs", "2"), Inv);
        int finetuneSamples = int.Parse(Arg("--finetune-samples", "20000"), Inv);
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        var optionNames = Arg("--options", "default,no-search,uniform+l1").Split(',');
        var targetNames = Arg("--targets", "50p,30p").Split(',');
        var distillTargets = Arg("--distill-targets", "").Split(',').Where(t => t.Length > 0).Select(t => Targets[t].Label).ToList();
        var candidatesPath = Path.Combine(work, "candidates.jsonl");
        Directory.CreateDirectory(work);
        StudyAllocations.Register();
        var modelPath = Path.Combine(work, "model.json");
        var weightsPath = Path.Combine(work, "model.dat");
        var rowsPath = Path.Combine(work, "rows.jsonl");
        var description = Models.FashionVgg();
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }
        var total = Stopwatch.StartNew();

        if (!File.Exists(weightsPath))
        {
            torch.manual_seed(1);
            using var net = new PfaNetwork(description);
            using var train60k = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train" }, description.Normalize);
            var options = new TrainOptions { Epochs = epochs, LearningRate = 0.05, BatchSize = 128, WeightDecay = 5e-4, Schedule = ScheduleKind.Cosine, Seed = 1 };
            Trainer.Train(net, train60k, options, e => Say(string.Create(Inv, $"train epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")));
            PfaModel.SaveWeights(net, weightsPath);
            description.Save(modelPath);
        }
        using var network = PfaModel.Load(description, weightsPath);
        using var test = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "test" }, description.Normalize);
        using var finetuneData = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train", Limit = finetuneSamples }, description.Normalize);
        double full = Evaluator.Evaluate(network, test).Top1 * 100;
        Say(string.Create(Inv, $"full model: {full:0.00}% on {test.Count:N0} test images"));

        // One analysis (the 60k training images) serves every option: recipes need no data pass.
        var analysisDir = Path.Combine(work, "analysis");
        if (!File.Exists(Path.Combine(analysisDir, AnalysisResult.SpectraFileName)))
        {
            using var train60k = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train" }, description.Normalize);
            var watch = Stopwatch.StartNew();
            using var fresh = AnalysisResult.Run(network, train60k, BudgetFile.Default, 256);
            fresh.Save(analysisDir);
            Say(string.Create(Inv, $"analysis of {train60k.Count:N0} images: {watch.Elapsed.TotalSeconds:0} s"));
        }
        using var analysis = AnalysisResult.Load(analysisDir);
        var statsBytes = File.ReadAllBytes(Path.Combine(analysisDir, AnalysisResult.StatsFileName));
        var weightOf = PfaModel.WeightsOf(network);
        var spaces = network.Graph.Spaces;
        var latencyFull1 = Latency.Measure(network, batch: 1).MedianMs;
        var latencyFull64 = Latency.Measure(network, batch: 64, runs: 10).MedianMs;

        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var finetune = new FinetuneBudget { Epochs = finetuneEpochs, LearningRate = 0.01, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };

        (double Accuracy, double Seconds) Finetune(Recipe recipe, int seed, Dataset data, bool distill) =>
            BenchFinetune.Run(network, recipe, seed, data, test, finetune, distill);

        var chosenByTarget = new Dictionary<string, Recipe>();
        void Measure(string targetLabel, string optionLabel, PfaBudget budget)
        {
            var budgetFile = new BudgetFile(budget, work, null);
            bool distill = optionLabel == "default+distill", equalTime = optionLabel == "default, distill's time";
            double? searchSeconds = null;
            Recipe recipe;
            if (distill || equalTime) recipe = chosenByTarget[targetLabel];
            else if (!CandidateSearch.Applies(budgetFile)) recipe = RecipeMaker.Make(description, analysis, budgetFile, statsBytes, weightOf);
            else
            {
                (recipe, double seconds) = SearchStudy.Choose(network, analysis, budgetFile, statsBytes, weightOf, finetuneData);
                searchSeconds = seconds;
                chosenByTarget[targetLabel] = recipe;
                SearchStudy.Study(candidatesPath, "vgg6", targetLabel, recipe, seconds, network, analysis, budgetFile, statsBytes, weightOf, finetuneData,
                    r => Finetune(r, 1, finetuneData, false), Say);
            }
            var kept = ChannelSurgery.KeptBySpace(spaces, recipe);
            var widths = string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter));
            double before, recalibrated, lat1, lat64;
            {
                var (_, compressed) = ChannelSurgery.Apply(network, kept, false, 1);
                using var _c = compressed;
                before = Evaluator.Evaluate(compressed, test).Top1 * 100;
                lat1 = 100 * Latency.Measure(compressed, batch: 1).MedianMs / latencyFull1;
                lat64 = 100 * Latency.Measure(compressed, batch: 64, runs: 10).MedianMs / latencyFull64;
                Recalibration.Run(network, compressed, finetuneData, new RecalibrateBudget(), 128, seed: 1);
                recalibrated = Evaluator.Evaluate(compressed, test).Top1 * 100;
            }
            // Equal wall time: the plain fine-tune gets as many more samples per epoch as distillation took longer.
            int samples = finetuneSamples;
            if (equalTime)
            {
                double Mean(string l) => done.Where(r => r.Target == targetLabel && r.Option == l).Average(r => r.FinetuneSeconds);
                samples = (int)Math.Min(60000, Math.Round(finetuneSamples * Mean("default+distill") / Mean("default")));
            }
            using var more = samples == finetuneSamples ? null : Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train", Limit = samples }, description.Normalize);
            var candidates = SearchStudy.Load(candidatesPath);
            for (int seed = 1; seed <= seeds; seed++)
            {
                if (done.Any(r => r.Target == targetLabel && r.Option == optionLabel && r.Seed == seed)) continue;
                // Random selection draws its subset from the seed too, so its spread includes the draw.
                var seeded = budget with { Seed = seed, Finetune = finetune };
                var seededRecipe = budget.Select == "random" ? RecipeMaker.Make(description, analysis, new BudgetFile(seeded, work, null), statsBytes, weightOf) : recipe;
                double seedBefore = before;
                if (seededRecipe != recipe)
                {
                    var (_, model) = ChannelSurgery.Apply(network, ChannelSurgery.KeptBySpace(spaces, seededRecipe), false, seed);
                    using var _m = model;
                    seedBefore = Evaluator.Evaluate(model, test).Top1 * 100;
                }
                // Seed 1 of a searched candidate was fine-tuned already by the study: the same computation.
                var twin = seed == 1 && budget.Select is null && !distill && !equalTime
                    ? candidates.FirstOrDefault(c => c.Model == "vgg6" && c.Target == targetLabel && c.Widths == widths && c.Select == SearchStudy.SelectOf(recipe)) : null;
                var (after, seconds) = twin is not null ? (twin.Finetuned, twin.FinetuneSeconds) : Finetune(seededRecipe, seed, more ?? finetuneData, distill);
                var row = new Row(targetLabel, optionLabel, seed, Math.Round(seedBefore, 2), Math.Round(after, 2), recipe.Totals.ParametersPercent, recipe.Totals.MacsPercent,
                    Math.Round(lat1, 1), Math.Round(lat64, 1), widths, Math.Round(seconds, 1), Math.Round(recalibrated, 2), searchSeconds is { } ss ? Math.Round(ss, 1) : null, samples);
                File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                done.Add(row);
                Say(string.Create(Inv, $"{targetLabel,-11} {optionLabel,-17} seed {seed}: {seedBefore,6:0.00}% → {recalibrated:0.00}% → {after:0.00}%  params {recipe.Totals.ParametersPercent:0.0}%  MACs {recipe.Totals.MacsPercent:0.0}%  latency {lat1:0}%/{lat64:0}%  widths {widths}  ({seconds:0} s)"));
            }
        }

        if (args.Contains("--report-only")) { }   // the table from rows.jsonl as it stands (a run still going)
        else if (args.Contains("--latency-only"))
        {
            // Latency again on a quiet machine, each compressed model right after the full one (same conditions),
            // without touching the accuracies.
            var labels = targetNames.Select(n => Targets[n]).SelectMany(t => optionNames.Select(n => (t.Label, Option: Options[n], Budget: Options[n].Budget(t))))
                .Append(("PFA-KL", Options["default"], new PfaBudget())).ToList();
            foreach (var (label, option, budget) in labels)
            {
                var name = label == "PFA-KL" ? "kl" : option.Label;
                if (!done.Any(r => r.Target == label && r.Option == name)) continue;
                var budgetFile = new BudgetFile(budget, work, null);
                // A searched option's recipe as the run chose it (from the study's rows), not searched again.
                var recipe = (CandidateSearch.Applies(budgetFile) ? SearchStudy.Chosen(candidatesPath, "vgg6", label, network, analysis, budgetFile, statsBytes, weightOf) : null)
                    ?? RecipeMaker.Make(description, analysis, budgetFile, statsBytes, weightOf);
                var (_, compressed) = ChannelSurgery.Apply(network, ChannelSurgery.KeptBySpace(spaces, recipe), false, 1);
                using var _c = compressed;
                double Ratio(int batch, int runs) => 100 * Latency.Measure(compressed, batch: batch, runs: runs).MedianMs / Latency.Measure(network, batch: batch, runs: runs).MedianMs;
                double l1 = Ratio(1, 40), l64 = Ratio(64, 10);
                for (int i = 0; i < done.Count; i++)
                    if (done[i].Target == label && done[i].Option == name) done[i] = done[i] with { LatencyPercent1 = Math.Round(l1, 1), LatencyPercent64 = Math.Round(l64, 1) };
                Say(string.Create(Inv, $"latency {label} {name}: {l1:0}% / {l64:0}%"));
            }
            File.WriteAllLines(rowsPath, done.Select(r => JsonSerializer.Serialize(r)));
        }
        else
        {
            foreach (var t in targetNames.Select(n => Targets[n]))
            {
                foreach (var o in optionNames.Select(n => Options[n]))
                    Measure(t.Label, o.Label, o.Budget(t));
                if (distillTargets.Contains(t.Label) && chosenByTarget.ContainsKey(t.Label))
                    foreach (var o in new[] { "default+distill", "default, distill's time" })
                        Measure(t.Label, o, Options[o].Budget(t));
            }
            Measure("PFA-KL", "kl", new PfaBudget());
        }

        WriteReport(outPath, done.Where(r => r.Seed <= seeds).ToList(), SearchStudy.Load(candidatesPath), full, total.Elapsed, finetuneEpochs, finetuneSamples, seeds, optionNames, targetNames.Select(n => Targets[n].Label).ToList(), log);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    static void WriteReport(string outPath, List<Row> rows, List<SearchStudy.CandidateRow> candidates, double full, TimeSpan elapsed, int finetuneEpochs, int finetuneSamples, int seeds,
        IReadOnlyList<string> options, IReadOnlyList<string> targets, StringBuilder log)
    {
        static (double Mean, double Spread) Stats(IEnumerable<double> v)
        {
            var a = v.ToArray();
            double mean = a.Average();
            return (mean, a.Length > 1 ? Math.Sqrt(a.Sum(x => (x - mean) * (x - mean)) / (a.Length - 1)) : 0);
        }
        var md = new StringBuilder();
        md.AppendLine("# Quality: which option keeps more accuracy at the size you need");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll quality` ({BenchMachine.Describe()}, {elapsed.TotalMinutes:0} min for this invocation). Model: the 6-conv VGG-style CNN of `samples/FashionMnistVgg` trained 10 epochs on the 60k Fashion-MNIST training images ({full:0.00}% test accuracy). One analysis of the 60k training images; every option's recipe from it; every compressed model recalibrated on 50 training batches of 128 (batch norms re-estimated, then the classifier's bias fitted where kept: the pipeline's default; the fine-tune's wall time includes it), then fine-tuned with the same budget: {finetuneEpochs} epoch(s) on the first {finetuneSamples:N0} training images, SGD Nesterov lr 0.01 cosine, weight decay 5e-4, batch 128; {seeds} fine-tune seeds; accuracy on the 10k test images, mean ± standard deviation over the seeds. Latency: median CPU forward time as % of the full model's, batch 1 / batch 64."));
        md.AppendLine();
        md.AppendLine("Options: **default** = `footprint` (or `flops`) as compress runs it since issue 21: a search over 6 candidates — 5 allocations (keep ratio ∝ γ^α, α = 1 … 0, each scaled to the target) and the uniform + l1 peer — each recalibrated, trained 60 batches of 128 (the fine-tune's optimiser, constant rate) and scored on 2,000 held-out samples of the fine-tune data, the best kept unless within the 0.5 pp margin of α = 1; `variance` selection (greedy explained variance); **no-search** = the same with `\"search\": false` — the PFA-KL shape scaled to the target, the default before issue 21; **uniform+l1** = `uniform` with `\"select\": \"l1\"` (Torch-Pruning's default, Li et al. 2017); **tau** = `footprint-tau`/`flops-tau` — the paper's τ search; **random** = the no-search widths with `\"select\": \"random\"`. Search: the search's wall time in seconds (fine-tune epochs in brackets).");
        md.AppendLine();
        md.AppendLine("| target | option | accuracy after fine-tune | after surgery | after recalibration | % params | % MACs | latency b1 / b64 | search | widths (conv1…conv6, fc1) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        double epoch = rows.Where(r => r.Option == "default").Select(r => r.FinetuneSeconds).DefaultIfEmpty(double.NaN).Average() / finetuneEpochs;
        foreach (var target in targets.Append("PFA-KL"))
            foreach (var option in target == "PFA-KL" ? ["kl"] : options)
            {
                var r = rows.Where(x => x.Target == target && x.Option == option).ToList();
                if (r.Count == 0) continue;
                var (m, s) = Stats(r.Select(x => x.After));
                var (bm, bs) = Stats(r.Select(x => x.Before));
                var first = r[0];
                var search = first.SearchSeconds is { } ss ? string.Create(Inv, $"{ss:0} s ({ss / epoch:0.0})") : "—";
                md.AppendLine(string.Create(Inv, $"| {target} | {option} | **{m:0.00}** ± {s:0.00} | {bm:0.00}{(bs > 0 ? $" ± {bs:0.00}" : "")} | {(r.All(x => x.Recalibrated is not null) ? Stats(r.Select(x => x.Recalibrated!.Value)).Mean.ToString("0.00", Inv) : "—")} | {first.ParametersPercent:0.00} | {first.MacsPercent:0.00} | {first.LatencyPercent1:0}% / {first.LatencyPercent64:0}% | {search} | {first.Widths} |"));
            }
        md.AppendLine();
        if (rows.Any(r => r.Option == "default+distill"))
        {
            md.AppendLine("## Distillation during fine-tuning");
            md.AppendLine();
            md.AppendLine(string.Create(Inv, $"The default's recipe fine-tuned three ways: plain ({finetuneEpochs} epoch(s) on {finetuneSamples:N0} samples); with `\"distill\": {{ \"temperature\": 4, \"alpha\": 0.5 }}` (the full model as teacher, Hinton et al. 2015) for the same epochs and samples; and plain again for the wall time distillation took (the same epochs over proportionally more training samples). Mean ± spread over the seeds; seconds include the recalibration."));
            md.AppendLine();
            md.AppendLine("| target | fine-tune | samples | accuracy | seconds |");
            md.AppendLine("|---|---|---:|---:|---:|");
            foreach (var target in targets)
                foreach (var (label, about) in new[] { ("default", "plain, equal epochs"), ("default+distill", "distilled, equal epochs"), ("default, distill's time", "plain, distillation's wall time") })
                {
                    var r = rows.Where(x => x.Target == target && x.Option == label).ToList();
                    if (r.Count == 0 || !rows.Any(x => x.Target == target && x.Option == "default+distill")) continue;
                    var (m, s) = Stats(r.Select(x => x.After));
                    md.AppendLine(string.Create(Inv, $"| {target} | {about} | {r[0].FinetuneSamples ?? finetuneSamples:N0} | **{m:0.00}** ± {s:0.00} | {r.Average(x => x.FinetuneSeconds):0} |"));
                }
            md.AppendLine();
        }
        SearchStudy.AppendReport(md, candidates, _ => epoch);
        md.AppendLine("Raw rows (one per fine-tune seed) are in the log below; `bench/work/rows.jsonl` holds them while a run is going.");
        md.AppendLine();
        md.AppendLine("<details><summary>log</summary>");
        md.AppendLine();
        md.AppendLine("```");
        foreach (var r in rows) md.AppendLine(JsonSerializer.Serialize(r));
        md.Append(log);
        md.AppendLine("```");
        md.AppendLine("</details>");
        File.WriteAllText(outPath, md.ToString());
    }
}

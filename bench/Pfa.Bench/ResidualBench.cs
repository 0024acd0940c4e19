using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using Pfa.Core.Training;
using TorchSharp;

namespace Pfa.Bench;

/// <summary>
/// Residual and depthwise networks on Fashion-MNIST (issue: prune through additions): a ResNet-20 with projection
/// shortcuts compressed in projection mode (PFA appendix C.3), the same with parameter-free padding shortcuts
/// compressed in padding mode (C.2), and a small MobileNetV2-style network. For each: PFA-KL, the default
/// footprint strategy at 50% and 30% of the parameters, and uniform+l1 at the same targets, each fine-tuned with
/// the same budget for several seeds; % params, % MACs, latency. Rows go to residual-rows.jsonl (resumable).
/// </summary>
public static class ResidualBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Row(string Model, string Option, int Seed, double Full, double Before, double After, double ParametersPercent, double MacsPercent,
        double LatencyPercent1, double LatencyPercent64, string Trunk, double FinetuneSeconds, double? Recalibrated = null, double? SearchSeconds = null, int? FinetuneSamples = null);

    internal sealed record Net(string Name, string Residual, Func<TorchSharp.Modules.Sequential> Build, string About);

    internal static readonly Net[] Nets =
    [
        new("resnet20-projection", "projection", () => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1 }),
            "ResNet-20 (16/32/64, 1×1-projection shortcuts where the shape changes), residual: projection"),
        new("resnet20-padding", "padding", () => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Shortcut = Shortcut.Padding }),
            "ResNet-20 (16/32/64, parameter-free padding shortcuts, option A), residual: padding"),
        new("mobilenet", "projection", () => ResidualNets.MobileNet(inChannels: 1),
            "MobileNetV2-style (stem 16, inverted residuals t/c/n/s = 1/16/1/1, 4/24/2/2, 4/32/2/2, 4/64/2/1, head 128), residual: projection"),
    ];

    /// <summary>What an option compares: the default (searched), the analytic shape it replaced, the simplest peer,
    /// PFA-KL, and distillation at equal epochs and at equal wall time.</summary>
    enum Kind { Kl, Default, NoSearch, UniformL1, Distill, EqualTime }

    sealed record Option(string Label, Kind Kind, double Target = 0)
    {
        public PfaBudget Budget(string residual) => Kind switch
        {
            Kind.Kl => new PfaBudget { Residual = residual },
            Kind.NoSearch => new PfaBudget { Strategy = "footprint", Target = Target, Residual = residual, Search = SearchBudget.Off },
            Kind.UniformL1 => new PfaBudget { Strategy = "uniform", Target = Target, Select = "l1", Residual = residual },
            _ => new PfaBudget { Strategy = "footprint", Target = Target, Residual = residual },
        };
    }

    static readonly Option[] Options =
    [
        new("PFA-KL", Kind.Kl),
        new("default 50%", Kind.Default, 0.5), new("no search 50%", Kind.NoSearch, 0.5), new("uniform+l1 50%", Kind.UniformL1, 0.5),
        new("default 30%", Kind.Default, 0.3), new("no search 30%", Kind.NoSearch, 0.3), new("uniform+l1 30%", Kind.UniformL1, 0.3),
        new("default+distill 30%", Kind.Distill, 0.3), new("default 30%, distill's time", Kind.EqualTime, 0.3),
    ];

    /// <summary>Fashion-MNIST's pixel statistics, as the networks were trained.</summary>
    internal static readonly Normalization Normalize = new() { Mean = [0.286], Std = [0.353] };

    /// <summary>The fine-tune every option gets (the study of the search uses the same).</summary>
    internal static FinetuneBudget Finetune(int epochs) => new() { Epochs = epochs, LearningRate = 0.01, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/residual.md");
        var work = Arg("--work", "bench/work/residual");
        int epochs = int.Parse(Arg("--epochs", "3"), Inv);
        int finetuneEpochs = int.Parse(Arg("--finetune-epochs", "1"), Inv);
        int finetuneSamples = int.Parse(Arg("--finetune-samples", "20000"), Inv);
        int analysisSamples = int.Parse(Arg("--analysis-samples", "20000"), Inv);
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        int? trainSamples = args.Contains("--train-samples") ? int.Parse(Arg("--train-samples", "60000"), Inv) : null;
        var only = Arg("--models", string.Join(",", Nets.Select(n => n.Name))).Split(',');
        var distilled = Arg("--distill-models", "resnet20-projection,mobilenet").Split(',');
        var candidatesPath = Path.Combine(work, "candidates.jsonl");
        Directory.CreateDirectory(work);
        var rowsPath = Path.Combine(work, "rows.jsonl");
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }
        var total = Stopwatch.StartNew();
        var normalize = Normalize;
        var finetune = Finetune(finetuneEpochs);

        foreach (var net in Nets.Where(n => only.Contains(n.Name)))
        {
            if (args.Contains("--report-only")) break;
            var dir = Path.Combine(work, net.Name);
            Directory.CreateDirectory(dir);
            var modelPath = Path.Combine(dir, "model.json");
            var weightsPath = Path.Combine(dir, "model.dat");
            if (!File.Exists(weightsPath))
            {
                if (args.Contains("--latency-only")) continue;
                torch.manual_seed(1);
                var module = net.Build();
                var description = SequentialExporter.Describe(module, [1, 28, 28], net.Name, normalize);
                using var fresh = new PfaNetwork(description);
                using var train60k = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = trainSamples }, normalize);
                var options = new TrainOptions { Epochs = epochs, LearningRate = 0.05, BatchSize = 128, WeightDecay = 5e-4, Schedule = ScheduleKind.Cosine, Seed = 1 };
                Trainer.Train(fresh, train60k, options, e => Say(string.Create(Inv, $"{net.Name} train epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")));
                PfaModel.SaveWeights(fresh, weightsPath);
                description.Save(modelPath);
            }
            var model = ModelDescription.Load(modelPath);
            using var network = PfaModel.Load(model, weightsPath);
            using var test = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "test" }, normalize);
            using var finetuneData = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = finetuneSamples }, normalize);
            double full = Evaluator.Evaluate(network, test).Top1 * 100;
            var cost = ModelCost.Of(network.Graph);
            Say(string.Create(Inv, $"{net.Name}: {full:0.00}% on {test.Count:N0} test images, {cost.Parameters:N0} parameters, {cost.Macs:N0} MACs"));

            var analysisDir = Path.Combine(dir, "analysis");
            var budgetOfMode = new BudgetFile(new PfaBudget { Residual = net.Residual }, dir, null);
            EnsureAnalysis(network, analysisDir, budgetOfMode, normalize, analysisSamples, s => Say($"{net.Name}: {s}"));
            using var analysis = AnalysisResult.Load(analysisDir);
            var statsBytes = File.ReadAllBytes(Path.Combine(analysisDir, AnalysisResult.StatsFileName));
            var weightOf = PfaModel.WeightsOf(network);
            var full1 = Latency.Measure(network, batch: 1).MedianMs;
            var full64 = Latency.Measure(network, batch: 64, runs: 10).MedianMs;

            var chosenByTarget = new Dictionary<double, Recipe>();
            (double Accuracy, double Seconds) Finetune(Recipe recipe, int seed, Dataset data, bool distill) =>
                BenchFinetune.Run(network, recipe, seed, data, test, finetune, distill);

            foreach (var option in Options)
            {
                var label = option.Label;
                if (option.Kind is Kind.Distill or Kind.EqualTime && !distilled.Contains(net.Name)) continue;
                var budgetFile = new BudgetFile(option.Budget(net.Residual), dir, null);
                double? searchSeconds = null;
                Recipe recipe;
                if (option.Kind is Kind.Distill or Kind.EqualTime) recipe = chosenByTarget[option.Target];
                else if (args.Contains("--latency-only") && CandidateSearch.Applies(budgetFile))
                    // The searched recipe as the run chose it (from the study's rows), not searched again.
                    recipe = chosenByTarget[option.Target] = SearchStudy.Chosen(candidatesPath, net.Name, $"{option.Target * 100:0}%", network, analysis, budgetFile, statsBytes, weightOf)
                        ?? RecipeMaker.Make(network.Graph, analysis, budgetFile, statsBytes, weightOf);
                else if (!CandidateSearch.Applies(budgetFile))
                    recipe = RecipeMaker.Make(network.Graph, analysis, budgetFile, statsBytes, weightOf);
                else
                {
                    (recipe, double seconds) = SearchStudy.Choose(network, analysis, budgetFile, statsBytes, weightOf, finetuneData);
                    searchSeconds = seconds;
                    chosenByTarget[option.Target] = recipe;
                    SearchStudy.Study(candidatesPath, net.Name, $"{option.Target * 100:0}%", recipe, seconds, network, analysis, budgetFile, statsBytes, weightOf, finetuneData,
                        r => Finetune(r, 1, finetuneData, false), Say);
                }
                // The trunk: the widths of the residual groups (projection) or of every layer (padding).
                var trunk = string.Join(" ", recipe.Layers.Where(l => l.Shared is not null || net.Residual == "padding").Select(l => $"{l.FiltersAfter}/{l.FiltersBefore}"));
                if (args.Contains("--latency-only"))
                {
                    // Latency again on a quiet machine, each compressed model right after the full one; accuracies untouched.
                    var (_, again) = ChannelSurgery.Apply(network, recipe);
                    using var _a = again;
                    double Ratio(int batch, int runs) => 100 * Latency.Measure(again, batch: batch, runs: runs).MedianMs / Latency.Measure(network, batch: batch, runs: runs).MedianMs;
                    double r1 = Ratio(1, 40), r64 = Ratio(64, 10);
                    for (int i = 0; i < done.Count; i++)
                        if (done[i].Model == net.Name && done[i].Option == label) done[i] = done[i] with { LatencyPercent1 = Math.Round(r1, 1), LatencyPercent64 = Math.Round(r64, 1) };
                    Say(string.Create(Inv, $"latency {net.Name} {label}: {r1:0}% / {r64:0}%"));
                    continue;
                }
                double before, recalibrated, lat1, lat64;
                {
                    var (_, compressed) = ChannelSurgery.Apply(network, recipe);
                    using var _c = compressed;
                    before = Evaluator.Evaluate(compressed, test).Top1 * 100;
                    // The pipeline's default since issue 21: batch-norm statistics re-estimated before fine-tuning.
                    Recalibration.Run(network, compressed, finetuneData, new RecalibrateBudget(), 128, seed: 1);
                    recalibrated = Evaluator.Evaluate(compressed, test).Top1 * 100;
                    lat1 = 100 * Latency.Measure(compressed, batch: 1).MedianMs / full1;
                    lat64 = 100 * Latency.Measure(compressed, batch: 64, runs: 10).MedianMs / full64;
                }
                // Equal wall time: the plain fine-tune gets as many more samples (one epoch) as distillation took longer.
                int samples = finetuneSamples;
                if (option.Kind == Kind.EqualTime)
                {
                    double Mean(string l) => done.Where(r => r.Model == net.Name && r.Option == l).Average(r => r.FinetuneSeconds);
                    samples = (int)Math.Min(60000, Math.Round(finetuneSamples * Mean("default+distill 30%") / Mean("default 30%")));
                }
                using var data = samples == finetuneSamples ? null : Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = samples }, normalize);
                var candidates = SearchStudy.Load(candidatesPath);
                for (int seed = 1; seed <= seeds; seed++)
                {
                    if (done.Any(r => r.Model == net.Name && r.Option == label && r.Seed == seed)) continue;
                    // Seed 1 of a searched candidate was fine-tuned already by the study: the same computation.
                    var widths = string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter));
                    var twin = option.Kind is Kind.Default or Kind.NoSearch && seed == 1
                        ? candidates.FirstOrDefault(c => c.Model == net.Name && c.Target == $"{option.Target * 100:0}%" && c.Widths == widths && c.Select == SearchStudy.SelectOf(recipe)) : null;
                    var (after, seconds) = twin is not null ? (twin.Finetuned, twin.FinetuneSeconds) : Finetune(recipe, seed, data ?? finetuneData, option.Kind == Kind.Distill);
                    var row = new Row(net.Name, label, seed, Math.Round(full, 2), Math.Round(before, 2), Math.Round(after, 2), recipe.Totals.ParametersPercent, recipe.Totals.MacsPercent,
                        Math.Round(lat1, 1), Math.Round(lat64, 1), trunk, Math.Round(seconds, 1), Math.Round(recalibrated, 2),
                        searchSeconds is { } ss ? Math.Round(ss, 1) : null, samples);
                    File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                    done.Add(row);
                    Say(string.Create(Inv, $"{net.Name} {label,-15} seed {seed}: {before,6:0.00}% → {recalibrated:0.00}% → {after:0.00}%  params {recipe.Totals.ParametersPercent:0.0}%  MACs {recipe.Totals.MacsPercent:0.0}%  latency {lat1:0}%/{lat64:0}%  ({seconds:0} s)"));
                }
            }
        }
        if (args.Contains("--latency-only")) File.WriteAllLines(rowsPath, done.Select(r => JsonSerializer.Serialize(r)));
        WriteReport(outPath, done.Where(r => r.Seed <= seeds).ToList(), SearchStudy.Load(candidatesPath), total.Elapsed, epochs, finetuneEpochs, finetuneSamples, analysisSamples, seeds, log);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>Seconds of one fine-tune epoch of the model's default 30% recipe (mean over seeds; recalibration included).</summary>
    static double EpochSeconds(List<Row> rows, string model, int finetuneEpochs) =>
        rows.Where(r => r.Model == model && r.Option.StartsWith("default") && !r.Option.Contains("distill")).Select(r => r.FinetuneSeconds).DefaultIfEmpty(double.NaN).Average() / finetuneEpochs;

    /// <summary>A trained bench network (bench/restore-trained.sh) with its analysis, made when missing, for the studies that re-use them.</summary>
    internal sealed class Trained(PfaNetwork network, AnalysisResult analysis, byte[] statsBytes) : IDisposable
    {
        public PfaNetwork Network { get; } = network;
        public AnalysisResult Analysis { get; } = analysis;
        public byte[] StatsBytes { get; } = statsBytes;
        public Func<string, TorchSharp.torch.Tensor?> WeightOf { get; } = PfaModel.WeightsOf(network);
        public void Dispose() { Analysis.Dispose(); Network.Dispose(); }
    }

    internal static Trained LoadTrained(string dir, string residual)
    {
        var network = PfaModel.Load(ModelDescription.Load(Path.Combine(dir, "model.json")), Path.Combine(dir, "model.dat"));
        var analysisDir = Path.Combine(dir, "analysis");
        EnsureAnalysis(network, analysisDir, new BudgetFile(new PfaBudget { Residual = residual }, dir, null), Normalize, 20000, Console.WriteLine);
        return new Trained(network, AnalysisResult.Load(analysisDir), File.ReadAllBytes(Path.Combine(analysisDir, AnalysisResult.StatsFileName)));
    }

    /// <summary>Analyses <paramref name="network"/> on the first <paramref name="samples"/> training images in the
    /// budget's residual mode into <paramref name="analysisDir"/>, unless an analysis is there already.</summary>
    public static void EnsureAnalysis(PfaNetwork network, string analysisDir, BudgetFile budgetOfMode, Normalization? normalize, int samples, Action<string> say)
    {
        if (File.Exists(Path.Combine(analysisDir, AnalysisResult.SpectraFileName)) && File.Exists(Path.Combine(analysisDir, AnalysisResult.StatsFileName))) return;
        using var analysisData = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = samples }, normalize);
        var watch = Stopwatch.StartNew();
        using var fresh = AnalysisResult.Run(network, analysisData, budgetOfMode, 256);
        fresh.Save(analysisDir);
        say(string.Create(Inv, $"analysis of {analysisData.Count:N0} images in {watch.Elapsed.TotalSeconds:0} s"));
    }

    static void WriteReport(string outPath, List<Row> rows, List<SearchStudy.CandidateRow> candidates, TimeSpan elapsed, int epochs, int finetuneEpochs, int finetuneSamples, int analysisSamples, int seeds, StringBuilder log)
    {
        static (double Mean, double Spread) Stats(IEnumerable<double> v)
        {
            var a = v.ToArray();
            double mean = a.Average();
            return (mean, a.Length > 1 ? Math.Sqrt(a.Sum(x => (x - mean) * (x - mean)) / (a.Length - 1)) : 0);
        }
        // Seeds per option can differ (a model re-run with more seeds): then each row says how many it has.
        bool mixedSeeds = rows.GroupBy(r => (r.Model, r.Option)).Select(g => g.Count()).Distinct().Count() > 1;
        var md = new StringBuilder();
        md.AppendLine("# Residual and depthwise networks: pruning through additions");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll residual` ({BenchMachine.Describe()}, {elapsed.TotalMinutes:0} min for this invocation). Each network trained {epochs} epochs on the 60k Fashion-MNIST training images (SGD Nesterov lr 0.05 cosine, weight decay 5e-4, batch 128, seed 1); one analysis of the first {analysisSamples:N0} training images in the model's residual mode; every option's recipe from it; every compressed model recalibrated on 50 training batches of 128 as compress does it — batch-norm statistics re-estimated, then the classifier's bias fitted to the original's mean logits where that agrees with the original's predictions on more of those samples (the pipeline's default: batch norms since issue 21, the classifier's bias since 2026-12-03) — then fine-tuned with the same budget: {finetuneEpochs} epoch(s) on the first {finetuneSamples:N0} training images, SGD Nesterov lr 0.01 cosine, weight decay 5e-4, batch 128; {(mixedSeeds ? "fine-tune seeds 1…n, n in brackets after the spread" : $"{seeds} fine-tune seeds")}; accuracy on the 10k test images, mean ± standard deviation over the seeds. Latency: median CPU forward time as % of the full model's, batch 1 / batch 64 (a shared 2-core machine: read as rough)."));
        md.AppendLine();
        foreach (var net in Nets) if (rows.Any(r => r.Model == net.Name)) md.AppendLine($"- **{net.Name}**: {net.About}.");
        md.AppendLine();
        md.AppendLine("Options: **PFA-KL** = `{}` (parameter-free); **default** = `footprint` at the target as compress runs it since issue 21: a search over 6 candidates — 5 allocations (keep ratio ∝ γ^α, α = 1 … 0, each scaled to the target) and the uniform + l1 peer — each recalibrated, trained 60 batches of 128 (the fine-tune's optimiser, constant rate) and scored on 2,000 held-out samples of the fine-tune data, the best kept unless within the 0.5 pp margin of α = 1; **no search** = `footprint` with `\"search\": false` — PFA-KL's shape scaled, the default before issue 21; **uniform+l1** = `uniform` with `\"select\": \"l1\"` (Torch-Pruning's default) at the same target. All with variance selection except uniform+l1, and all recalibrated before fine-tuning. Trunk: kept/original channels of the residual groups (projection mode: one per stage) or of every analysed layer (padding mode). Search: the search's wall time in seconds (fine-tune epochs of that model in brackets).");
        md.AppendLine();
        md.AppendLine("| model | full | option | accuracy after fine-tune | after surgery | after recalibration | % params | % MACs | latency b1 / b64 | search | trunk / widths |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var net in Nets)
            foreach (var option in Options.Where(o => o.Kind is not (Kind.Distill or Kind.EqualTime)))
            {
                var r = rows.Where(x => x.Model == net.Name && x.Option == option.Label).ToList();
                if (r.Count == 0) continue;
                var (m, s) = Stats(r.Select(x => x.After));
                var first = r[0];
                double epoch = EpochSeconds(rows, net.Name, finetuneEpochs);
                var search = first.SearchSeconds is { } ss ? string.Create(Inv, $"{ss:0} s ({ss / epoch:0.0})") : "—";
                md.AppendLine(string.Create(Inv, $"| {net.Name} | {first.Full:0.00} | {option.Label} | **{m:0.00}** ± {s:0.00}{(mixedSeeds ? $" ({r.Count})" : "")} | {first.Before:0.00} | {(first.Recalibrated is { } rc ? rc.ToString("0.00", Inv) : "—")} | {first.ParametersPercent:0.00} | {first.MacsPercent:0.00} | {first.LatencyPercent1:0}% / {first.LatencyPercent64:0}% | {search} | {first.Trunk} |"));
            }
        md.AppendLine();
        var distilled = rows.Where(r => r.Option.Contains("distill")).Select(r => r.Model).Distinct().ToList();
        if (distilled.Count > 0)
        {
            md.AppendLine("## Distillation during fine-tuning");
            md.AppendLine();
            md.AppendLine(string.Create(Inv, $"The default's 30% recipe fine-tuned three ways: plain ({finetuneEpochs} epoch(s) on {finetuneSamples:N0} samples); with `\"distill\": {{ \"temperature\": 4, \"alpha\": 0.5 }}` (the full model as teacher, Hinton et al. 2015) for the same epochs and samples; and plain again for the wall time distillation took (the same epochs over proportionally more training samples). Mean ± spread over the seeds; seconds include the recalibration."));
            md.AppendLine();
            md.AppendLine("| model | fine-tune | samples | accuracy | seconds |");
            md.AppendLine("|---|---|---:|---:|---:|");
            foreach (var model in distilled)
                foreach (var (label, about) in new[] { ("default 30%", "plain, equal epochs"), ("default+distill 30%", "distilled, equal epochs"), ("default 30%, distill's time", "plain, distillation's wall time") })
                {
                    var r = rows.Where(x => x.Model == model && x.Option == label).ToList();
                    if (r.Count == 0) continue;
                    var (m, s) = Stats(r.Select(x => x.After));
                    md.AppendLine(string.Create(Inv, $"| {model} | {about} | {r[0].FinetuneSamples ?? finetuneSamples:N0} | **{m:0.00}** ± {s:0.00} | {r.Average(x => x.FinetuneSeconds):0} |"));
                }
            md.AppendLine();
        }
        else md.AppendLine("Distillation (`--distill-models`) was not run in this invocation; README's `finetune` row gives its last measurement.\n");
        SearchStudy.AppendReport(md, candidates, model => EpochSeconds(rows, model, finetuneEpochs));
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

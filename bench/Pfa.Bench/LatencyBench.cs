using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// The latency strategy (issue 22) on the quality bench's VGG and the residual bench's three networks (their
/// trained models and analyses: run those benches first): targets 0.5 and 0.3 of the original's latency at batch 1
/// and at batch 64, each planned on this machine (per-layer tables cached in bench/work/latency-cache, with the
/// default candidate search), then measured end to end — original and compressed in turn, repeated, the median of
/// the ratios — and fine-tuned with the budget of the bench the network comes from. Rows in
/// bench/work/latency/rows.jsonl (resumable). Run it with nothing else on the machine. <c>--runtime onnx</c> plans
/// and measures in ONNX Runtime (the runtime .NET teams deploy with) instead of libtorch, into latency-onnx.md.
/// </summary>
public static class LatencyBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Row(string Model, string Option, int Batch, double Target, int Seed, double ParametersPercent, double MacsPercent,
        double OriginalMs, double PlannedTargetMs, double PredictedMs, double PlannedMs, double MeasuredPercent, double Accuracy, double Recalibrated, double Full,
        int TableEntries, int TableMeasured, double TableSeconds, int EndToEnd, double PlanSeconds, string Widths, string? Rounding = null, int Rechecks = 0, int Rejected = 0);

    sealed record Net(string Name, string Dir, string? Residual, int FinetuneEpochs);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var runtime = Arg("--runtime", LatencyBudget.LibTorch);
        if (runtime is not (LatencyBudget.LibTorch or LatencyBudget.Onnx)) throw new ArgumentException($"--runtime {runtime}: libtorch or onnx");
        bool onnx = runtime == LatencyBudget.Onnx;
        var outPath = Arg("--out", onnx ? "bench/results/latency-onnx.md" : "bench/results/latency.md");
        var work = Arg("--work", onnx ? "bench/work/latency-onnx" : "bench/work/latency");
        var optionsRun = Arg("--options", "latency,latency-auto,footprint").Split(',');   // latency-auto: the latency targets with round_to "auto"
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        int repetitions = int.Parse(Arg("--repetitions", "5"), Inv);
        int finetuneSamples = int.Parse(Arg("--finetune-samples", "20000"), Inv);
        var batches = Arg("--batches", "64,1").Split(',').Select(b => int.Parse(b, Inv)).ToArray();
        var targets = Arg("--targets", "0.5,0.3").Split(',').Select(t => double.Parse(t, Inv)).ToArray();
        var only = Arg("--models", "vgg6,resnet20-projection,resnet20-padding,mobilenet").Split(',');
        Net[] nets =
        [
            new("vgg6", "bench/work", null, 2),
            new("resnet20-projection", "bench/work/residual/resnet20-projection", "projection", 1),
            new("resnet20-padding", "bench/work/residual/resnet20-padding", "padding", 1),
            new("mobilenet", "bench/work/residual/mobilenet", "projection", 1),
        ];
        Directory.CreateDirectory(work);
        Environment.SetEnvironmentVariable(LatencyTable.CacheVariable, Path.GetFullPath(Path.Combine(work, "..", "latency-cache")));
        var rowsPath = Path.Combine(work, "rows.jsonl");
        var unreachablePath = Path.Combine(work, "unreachable.jsonl");
        var unreachable = File.Exists(unreachablePath) ? File.ReadAllLines(unreachablePath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<Unreachable>(l)!).ToList() : [];
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }
        var total = Stopwatch.StartNew();
        var finetuneOf = (int epochs) => new FinetuneBudget { Epochs = epochs, LearningRate = 0.01, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };

        foreach (var net in nets.Where(n => only.Contains(n.Name) && !args.Contains("--report-only")))
        {
            var weights = Path.Combine(net.Dir, "model.dat");
            var analysisDir = Path.Combine(net.Dir, "analysis");
            if (!File.Exists(weights))
            {
                Say($"{net.Name}: {weights} is missing; run the {(net.Residual is null ? "quality" : "residual")} bench first (or bash bench/restore-trained.sh)");
                continue;
            }
            var description = ModelDescription.Load(Path.Combine(net.Dir, "model.json"));
            using var network = PfaModel.Load(description, weights);
            // As the residual bench analyses: the first 20,000 training images, in the network's residual mode.
            ResidualBench.EnsureAnalysis(network, analysisDir, new BudgetFile(new PfaBudget { Residual = net.Residual }, net.Dir, null), description.Normalize, 20000, s => Say($"{net.Name}: {s}"));
            using var test = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "test" }, description.Normalize);
            using var finetuneData = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = finetuneSamples }, description.Normalize);
            using var analysis = AnalysisResult.Load(analysisDir);
            var statsBytes = File.ReadAllBytes(Path.Combine(analysisDir, AnalysisResult.StatsFileName));
            var weightOf = PfaModel.WeightsOf(network);
            double full = Evaluator.Evaluate(network, test).Top1 * 100;

            // The latency targets (as given, and with round_to "auto"), and footprint 0.3 with round_to "auto" at the
            // same serving batch (its latency/MACs).
            var configs = batches.SelectMany(batch => targets
                    .SelectMany(t => new[] { (Key: "latency", Option: "latency", Batch: batch, Target: t), (Key: "latency-auto", Option: "latency, round_to auto", Batch: batch, Target: t), (Key: "latency-depth", Option: "latency, search depth 3", Batch: batch, Target: t) })
                    .Append((Key: "footprint", Option: "footprint, round_to auto", Batch: batch, Target: 0.3)))
                .Where(c => optionsRun.Contains(c.Key));
            foreach (var (_, option, batch, target) in configs)
                {
                    if (Enumerable.Range(1, seeds).All(s => done.Any(r => r.Model == net.Name && r.Option == option && r.Batch == batch && r.Target == target && r.Seed == s))) continue;
                    if (unreachable.Any(u => u.Model == net.Name && u.Option == option && u.Batch == batch && u.Target == target)) continue;
                    var budget = new BudgetFile(option.StartsWith("latency", StringComparison.Ordinal)
                        ? new PfaBudget { Strategy = "latency", Target = target, Residual = net.Residual, Latency = new LatencyBudget { Batch = batch, Runtime = runtime }, RoundTo = option.EndsWith("auto", StringComparison.Ordinal) ? RoundTo.Measured : null,
                            Search = option.EndsWith("depth 3", StringComparison.Ordinal) ? new SearchBudget { Depth = 3 } : null }
                        : new PfaBudget { Strategy = "footprint", Target = target, Residual = net.Residual, Latency = new LatencyBudget { Batch = batch, Runtime = runtime }, RoundTo = RoundTo.Measured }, net.Dir, null);
                    var watch = Stopwatch.StartNew();
                    Recipe recipe;
                    try { recipe = CandidateSearch.Choose(network, analysis, budget, statsBytes, weightOf, finetuneData, 128, s => Say(string.Create(Inv, $"{net.Name} {option} batch {batch} target {target:0.##}: {s.Trim()}"))); }
                    catch (PfaException e) when (e.Code == ErrorCodes.InvalidBudget)
                    {
                        // A target below what the smallest widths reach on this machine: the run's answer, recorded as such.
                        var u = new Unreachable(net.Name, option, batch, target, e.Message);
                        File.AppendAllText(unreachablePath, JsonSerializer.Serialize(u) + "\n");
                        unreachable.Add(u);
                        Say($"{net.Name} {option} batch {batch} target {target:0.##}: {e.Code} {e.Message}");
                        Write(outPath, runtime, done, unreachable, repetitions, total.Elapsed, log);
                        continue;
                    }
                    double planSeconds = watch.Elapsed.TotalSeconds;
                    var plan = recipe.Strategy.Latency ?? new RecipeLatency();
                    // End to end, original and compressed in turn, repeated: the median of the ratios.
                    double ratio;
                    {
                        var (_, compressed) = ChannelSurgery.Apply(network, recipe);
                        using var _c = compressed;
                        int runs = batch == 1 ? 40 : 10;
                        using var compressedSession = onnx ? OnnxRuntimeModel.Of(compressed) : null;
                        using var originalSession = onnx ? OnnxRuntimeModel.Of(network) : null;
                        double Time(PfaNetwork n, OnnxRuntimeModel? session) => session?.Measure(batch, runs).MedianMs ?? Latency.Measure(n, batch, runs).MedianMs;
                        var ratios = Enumerable.Range(0, repetitions)
                            .Select(_ => Time(compressed, compressedSession) / Time(network, originalSession)).Order().ToList();
                        ratio = ratios[ratios.Count / 2];
                    }
                    // round_to "auto": the roundings timed end to end, the chosen one marked.
                    var rounding = recipe.Strategy.RoundToChoice is { } choice
                        ? string.Join(", ", choice.Select(o => string.Create(Inv, $"{(o.Multiple is { } m ? m.ToString(Inv) : "per layer")} {o.Milliseconds:0.###} ms{(o.Chosen ? " (chosen)" : "")}"))) : null;
                    if (rounding is not null) Say($"{net.Name} {option} batch {batch}: {rounding}");
                    Say(string.Create(Inv, $"{net.Name} {option} batch {batch} target {target:0.##}: planned {plan.MeasuredMs:0.###} ms of {plan.OriginalMs:0.###} (target {plan.TargetMs:0.###}, predicted {plan.PredictedMs:0.###}); measured again {100 * ratio:0.0}% of the original; {recipe.Totals.ParametersPercent}% params, {recipe.Totals.MacsPercent}% MACs; second checks {plan.Rechecks} ({plan.Rejected} rejected); blocks removed {recipe.RemovedBlocks?.Count ?? 0}; table {plan.TableEntries} entries ({plan.TableMeasured} measured, {plan.TableSeconds:0.0} s), plan {planSeconds:0} s"));
                    for (int seed = 1; seed <= seeds; seed++)
                    {
                        if (done.Any(r => r.Model == net.Name && r.Option == option && r.Batch == batch && r.Target == target && r.Seed == seed)) continue;
                        double recalibrated;
                        {
                            var (_, c) = ChannelSurgery.Apply(network, recipe);
                            using var _c = c;
                            Recalibration.Run(network, c, finetuneData, new RecalibrateBudget(), 128, seed: 1);
                            recalibrated = Evaluator.Evaluate(c, test).Top1 * 100;
                        }
                        var (accuracy, _) = BenchFinetune.Run(network, recipe, seed, finetuneData, test, finetuneOf(net.FinetuneEpochs), distill: false);
                        var row = new Row(net.Name, option, batch, target, seed, recipe.Totals.ParametersPercent, recipe.Totals.MacsPercent, plan.OriginalMs, plan.TargetMs, plan.PredictedMs, plan.MeasuredMs,
                            Math.Round(100 * ratio, 1), Math.Round(accuracy, 2), Math.Round(recalibrated, 2), Math.Round(full, 2),
                            plan.TableEntries, plan.TableMeasured, plan.TableSeconds, plan.EndToEndMeasurements, Math.Round(planSeconds, 1),
                            string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter)),
                            recipe.Strategy.RoundToChoice?.Single(o => o.Chosen) is { } chosen ? chosen.Multiple?.ToString(Inv) ?? "per layer" : null,
                            plan.Rechecks, plan.Rejected);
                        File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                        done.Add(row);
                        Say(string.Create(Inv, $"{net.Name} {option} batch {batch} target {target:0.##} seed {seed}: recalibrated {recalibrated:0.00}% → fine-tuned {accuracy:0.00}%"));
                        Write(outPath, runtime, done, unreachable, repetitions, total.Elapsed, log);   // the table as it stands: a long run can be stopped and still committed
                    }
                }
        }
        Write(outPath, runtime, done, unreachable, repetitions, total.Elapsed, log);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    sealed record Unreachable(string Model, string Option, int Batch, double Target, string Message);

    static void Write(string path, string runtime, List<Row> rows, List<Unreachable> unreachable, int repetitions, TimeSpan elapsed, StringBuilder log)
    {
        bool onnx = runtime == LatencyBudget.Onnx;
        var md = new StringBuilder(onnx ? "# Latency targets (issue 22), in ONNX Runtime\n\n" : "# Latency targets (issue 22)\n\n");
        var runtimeBudget = onnx ? ", \"runtime\": \"onnx\"" : "";
        var where = onnx ? string.Create(Inv, $"; planned and measured in ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}'s CPU provider on each model's export ({Environment.ProcessorCount} intra-op threads)") : "";
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll latency{(onnx ? " --runtime onnx" : "")}` ({BenchMachine.Describe()}, {elapsed.TotalMinutes:0} min for this invocation, nothing else running{where}). `{{ \"strategy\": \"latency\", \"target\": t, \"latency\": {{ \"batch\": b{runtimeBudget} }} }}` with the default candidate search, on the quality bench's VGG and the residual bench's networks (their trained models and analyses). Planned: the search's own end-to-end measurement against the target (the original measured at plan time). Measured: afterwards, the compressed model and the original in turn, {repetitions} repetitions (40 runs each at batch 1, 10 at batch 64), the median of the ratios; met within 5% = measured ≤ 1.05·t. Second checks: the plan's widths measured again before they were kept (3 more pairs, pooled), and how many widths that check put over the target (dropped; 0 in rows from before the check existed, 2026-12-03). \"latency, round_to auto (m)\": the same target with `\"round_to\": \"auto\"` — one plan per rounding (each layer's measured multiple; 4, 8, 16 for every layer), each planned to the target with its own end-to-end checks, the one keeping the most parameters chosen (m). \"footprint, round_to auto (m)\": the default footprint 0.3 with `round_to: \"auto\"` measured at that batch (the issue asks latency/MACs ≤ 1.25); m: the rounding it chose end to end (one multiple for every layer, or each layer's measured one). Widths: in the rows at the end. Accuracy: batch-norm recalibration, then the fine-tune of the bench the network comes from (VGG: 2 epochs, residual: 1 epoch on 20k images), mean ± sd over the seeds. Table: per-layer entries (measured by this plan, seconds) — the first plan of a network and batch builds the table, later ones read the cache."));
        md.AppendLine();
        md.AppendLine("| model | option | batch | target | % params | % MACs | planned ms (target) | measured % of original | met within 5% | latency/MACs | recalibrated | fine-tuned | full | second checks (rejected) | table entries (new, s) | plan s |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var g in rows.GroupBy(r => (r.Model, r.Option, r.Batch, r.Target)))
        {
            var f = g.First();
            var acc = g.Select(r => r.Accuracy).ToList();
            double mean = acc.Average(), sd = acc.Count > 1 ? Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Count - 1)) : 0;
            string met = !f.Option.StartsWith("latency", StringComparison.Ordinal) ? "—" : f.MeasuredPercent <= 100 * f.Target * 1.05 ? "yes" : "**no**";
            md.AppendLine(string.Create(Inv, $"| {f.Model} | {f.Option}{(f.Rounding is { } rd ? $" ({rd})" : "")} | {f.Batch} | {f.Target:0.##} | {f.ParametersPercent:0.0} | {f.MacsPercent:0.0} | {f.PlannedMs:0.###} ({f.PlannedTargetMs:0.###}) | {f.MeasuredPercent:0.0} | {met} | {f.MeasuredPercent / f.MacsPercent:0.00} | {g.Average(r => r.Recalibrated):0.00} | {mean:0.00} ± {sd:0.00} | {f.Full:0.00} | {f.Rechecks} ({f.Rejected}) | {f.TableEntries} ({f.TableMeasured}, {f.TableSeconds:0.0}) | {f.PlanSeconds:0} |"));
        }
        if (unreachable.Count > 0)
        {
            md.AppendLine().AppendLine("Targets the plan reports as out of reach on this machine (PFA0007, the smallest widths measured above the target):").AppendLine();
            foreach (var u in unreachable) md.AppendLine(string.Create(Inv, $"- {u.Model}, batch {u.Batch}, target {u.Target:0.##}: {u.Message}"));
        }
        md.AppendLine().AppendLine("## Log").AppendLine().AppendLine("```").Append(log).AppendLine("```");
        md.AppendLine().AppendLine("## Rows").AppendLine().AppendLine("```");
        foreach (var r in rows) md.AppendLine(JsonSerializer.Serialize(r));
        md.AppendLine("```");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, md.ToString());
    }
}

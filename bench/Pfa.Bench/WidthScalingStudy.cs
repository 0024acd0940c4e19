using System.Globalization;
using System.Diagnostics;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Native;
using Pfa.Core.Onnx;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;

namespace Pfa.Bench;

/// <summary>
/// Issue 22 asks `footprint` 0.3 for latency/MACs ≤ 1.25 at batch 1 and 64. This study asks whether any width choice
/// can give that on the bench's networks: the kindest widths there are — every layer cut by the same fraction
/// (`uniform`, ℓ1), unrounded and in multiples of 8 and 16, the blocks oneDNN and ONNX Runtime run best — timed against
/// the original in libtorch (on the path the self-check chose) and in ONNX Runtime, at batch 1 and 64. If time followed
/// MACs (∝ width²) these would sit near 1; if it follows width (memory traffic, per-layer work that scales with
/// channels), latency/MACs ≈ 1/√(MACs ratio) ≈ 1.8 at 30%. Latency only: no training, a few minutes.
/// </summary>
public static class WidthScalingStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    sealed record Row(string Model, string Runtime, int Batch, string Option, double ParametersPercent, double MacsPercent, double WidthPercent,
        double OriginalMs, double TimePercent, string Widths);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/width-scaling.md");
        int repetitions = int.Parse(Arg("--repetitions", "5"), Inv);
        double target = double.Parse(Arg("--target", "0.3"), Inv);
        var only = Arg("--models", "vgg6,resnet20-projection,resnet20-padding,mobilenet").Split(',');
        (string Name, string Dir, string? Residual)[] nets =
        [
            ("vgg6", "bench/work", null),
            .. ResidualBench.Nets.Select(n => (n.Name, Path.Combine("bench/work/residual", n.Name), (string?)n.Residual)),
        ];
        ConvolutionCheck.Ensure();   // the path (and inference routing) the tool would use here, before any timing
        var total = Stopwatch.StartNew();
        var rows = new List<Row>();
        foreach (var net in nets.Where(n => only.Contains(n.Name)))
        {
            var weights = Path.Combine(net.Dir, "model.dat");
            if (!File.Exists(weights)) { Console.WriteLine($"{net.Name}: {weights} is missing (bash bench/restore-trained.sh)"); continue; }
            using var network = PfaModel.Load(ModelDescription.Load(Path.Combine(net.Dir, "model.json")), weights);
            using var analysis = AnalysisResult.Load(Path.Combine(net.Dir, "analysis"));
            var statsBytes = File.ReadAllBytes(Path.Combine(net.Dir, "analysis", AnalysisResult.StatsFileName));
            foreach (var (option, roundTo) in new[] { ("uniform", (RoundTo?)null), ("uniform, round_to 8", RoundTo.Every(8)), ("uniform, round_to 16", RoundTo.Every(16)) })
            {
                var budget = new BudgetFile(new PfaBudget { Strategy = "uniform", Target = target, Select = "l1", Residual = net.Residual, RoundTo = roundTo }, net.Dir, null);
                var recipe = RecipeMaker.Make(network.Graph, analysis, budget, statsBytes, PfaModel.WeightsOf(network));
                var (_, compressed) = ChannelSurgery.Apply(network, recipe);
                using var _c = compressed;
                double widthPercent = 100.0 * recipe.Layers.Sum(l => l.FiltersAfter) / recipe.Layers.Sum(l => l.FiltersBefore);
                foreach (var runtime in new[] { LatencyBudget.LibTorch, LatencyBudget.Onnx })
                {
                    using var originalSession = runtime == LatencyBudget.Onnx ? OnnxRuntimeModel.Of(network) : null;
                    using var compressedSession = runtime == LatencyBudget.Onnx ? OnnxRuntimeModel.Of(compressed) : null;
                    foreach (int batch in new[] { 1, 64 })
                    {
                        int runs = batch == 1 ? 40 : 10;
                        double Time(PfaNetwork n, OnnxRuntimeModel? s) => s?.Measure(batch, runs).MedianMs ?? Latency.Measure(n, batch, runs).MedianMs;
                        // Compressed and original in turn, repeated: the median of the ratios (as the latency bench measures).
                        var pairs = Enumerable.Range(0, repetitions).Select(_ => { double c = Time(compressed, compressedSession), o = Time(network, originalSession); return (Ratio: c / o, Original: o); }).ToList();
                        var ratio = Latency.Median(pairs.Select(p => p.Ratio));
                        var row = new Row(net.Name, runtime, batch, option, recipe.Totals.ParametersPercent, recipe.Totals.MacsPercent, Math.Round(widthPercent, 1),
                            Math.Round(Latency.Median(pairs.Select(p => p.Original)), 3), Math.Round(100 * ratio, 1), string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter)));
                        rows.Add(row);
                        Console.WriteLine(string.Create(Inv, $"{row.Model} {row.Runtime} batch {row.Batch} {row.Option}: {row.ParametersPercent}% params, {row.MacsPercent}% MACs, {row.WidthPercent}% filters; {row.TimePercent}% of {row.OriginalMs} ms"));
                    }
                }
            }
        }
        Write(outPath, rows, target, repetitions, total.Elapsed);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    static void Write(string path, List<Row> rows, double target, int repetitions, TimeSpan elapsed)
    {
        var md = new StringBuilder();
        md.AppendLine("# Width and time (issue 22)");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll scaling` ({BenchMachine.Describe()}, {elapsed.TotalMinutes:0} min, nothing else running). Each network's filters cut uniformly to {target * 100:0}% of the parameters (`uniform`, ℓ1; unrounded, and in multiples of 8 and 16), timed against the original in libtorch and in ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}'s CPU provider ({Environment.ProcessorCount} threads): compressed and original in turn, {repetitions} repetitions (40 runs each at batch 1, 10 at batch 64), the median of the ratios. Issue 22 asks `footprint` {target:0.#} for latency/MACs ≤ 1.25; time/filters is the time's share over the kept filters' share (1 = time follows width, not MACs)."));
        md.AppendLine();
        md.AppendLine("| model | runtime | batch | option | % params | % MACs | % filters | original ms | time % | latency/MACs | time/filters | widths |");
        md.AppendLine("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            md.AppendLine(string.Create(Inv, $"| {r.Model} | {r.Runtime} | {r.Batch} | {r.Option} | {r.ParametersPercent:0.0} | {r.MacsPercent:0.0} | {r.WidthPercent:0.0} | {r.OriginalMs:0.###} | {r.TimePercent:0.0} | {r.TimePercent / r.MacsPercent:0.00} | {r.TimePercent / r.WidthPercent:0.00} | {r.Widths} |"));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, md.ToString());
    }
}

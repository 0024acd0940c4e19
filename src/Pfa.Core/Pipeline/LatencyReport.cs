using System.Globalization;
using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using TorchSharp;

namespace Pfa.Core.Pipeline;

/// <summary>
/// "Smaller is not faster" made visible (issue 22): the original and the compressed model measured in turn at batch
/// 1 and at the budget's serving batch, in libtorch and (with model.onnx) in ONNX Runtime, each row with its ratio
/// to the MACs ratio; and a coded warning when, in the runtime the budget serves with, the compressed model is
/// slower than the original (PFA2004) or more than <see cref="MacsSlack"/>× slower than its MACs promise (PFA2005).
/// </summary>
public static class LatencyReport
{
    /// <summary>A latency ratio above this multiple of the MACs ratio is a warning (PFA2005).</summary>
    public const double MacsSlack = 1.5;
    /// <summary>Pairs measured again when the first pair would warn (the median one is reported).</summary>
    public const int ConfirmPairs = 3;

    /// <summary>The two warnings' conditions: slower than the original (PFA2004), beyond the MACs' promise (PFA2005).</summary>
    static bool SlowerThanOriginal(Latencies row) => row.AfterMs > row.BeforeMs;
    static bool SlowerThanMacs(Latencies row) => row.MacsRatio > MacsSlack;

    public sealed record Result(Latencies Latency, Latencies? Serving, Latencies? Onnx, Latencies? OnnxServing, IReadOnlyList<string> Warnings);

    public static Result Measure(PfaNetwork original, PfaNetwork compressed, string? onnxPath, PfaBudget pfaBudget, double macsPercent,
        Func<PfaNetwork, LatencyResult>? measureBatch1 = null)
    {
        var budget = pfaBudget.EffectiveLatency;
        int serving = budget.Batch;
        bool onnx = budget.Runtime == LatencyBudget.Onnx;   // the runtime whose rows can warn
        Latencies Row(LatencyResult before, LatencyResult after) => new()
        {
            BeforeMs = before.MedianMs, AfterMs = after.MedianMs, Percent = Math.Round(100 * after.MedianMs / before.MedianMs, 2),
            MacsRatio = macsPercent > 0 ? Math.Round(100 * after.MedianMs / before.MedianMs / macsPercent, 2) : null,
            Batch = before.Batch, Runs = before.Runs, Threads = before.Threads,
        };
        // A pair that would warn is measured again before it does: a tiny model's batch-1 time moves by several
        // percent between two measurements (0.128 vs 0.133 ms gave PFA2004 on a model with 70% of the MACs in the
        // end-to-end test). Three more pairs in turn, and the pair with the median ratio is the row. Only rows of the
        // runtime that warns: the other runtime's rows are reported, never warned about.
        Latencies Confirmed(Func<Latencies> pair, bool warns)
        {
            var first = pair();
            if (!warns || !(SlowerThanOriginal(first) || SlowerThanMacs(first))) return first;
            return Enumerable.Range(0, ConfirmPairs).Select(_ => pair()).OrderBy(r => r.AfterMs / r.BeforeMs).ElementAt(ConfirmPairs / 2);
        }
        // libtorch: batch 1 (20 runs) and the serving batch (10 runs: a large batch takes longer), under the budget's threads.
        int threadsBefore = torch.get_num_threads();
        if (budget.Threads is { } t) torch.set_num_threads(t);
        Latencies libtorch1;
        Latencies? libtorchServing = null;
        try
        {
            var measure = measureBatch1 ?? (n => Latency.Measure(n, batch: 1));
            libtorch1 = Confirmed(() => Row(measure(original), measure(compressed)), !onnx);
            if (serving > 1) libtorchServing = Confirmed(() => Row(Latency.Measure(original, serving, runs: 10), Latency.Measure(compressed, serving, runs: 10)), !onnx);
        }
        finally { torch.set_num_threads(threadsBefore); }

        Latencies? onnx1 = null, onnxServing = null;
        if (onnxPath is not null)
        {
            using var before = OnnxRuntimeModel.Of(original, budget.Threads ?? 0);
            using var after = new OnnxRuntimeModel(File.ReadAllBytes(onnxPath), compressed.Graph.InputShape, budget.Threads ?? 0);
            onnx1 = Confirmed(() => Row(before.Measure(1), after.Measure(1)), onnx);
            if (serving > 1) onnxServing = Confirmed(() => Row(before.Measure(serving, runs: 10), after.Measure(serving, runs: 10)), onnx);
        }

        var warnings = new List<string>();
        string advice = Advice(pfaBudget);
        foreach (var row in onnx ? new[] { onnx1, onnxServing } : [libtorch1, libtorchServing])
        {
            if (row is null) continue;
            string where = string.Create(CultureInfo.InvariantCulture, $"at batch {row.Batch} in {(onnx ? "ONNX Runtime" : "libtorch")}");
            if (SlowerThanOriginal(row))
                warnings.Add(WarningCodes.Format(WarningCodes.SlowerThanOriginal, string.Create(CultureInfo.InvariantCulture,
                    $"the compressed model is slower than the original {where} ({row.AfterMs:0.###} ms vs {row.BeforeMs:0.###} ms, {row.Percent:0}%) although it has {macsPercent:0.#}% of the MACs. {advice}")));
            else if (SlowerThanMacs(row))
                warnings.Add(WarningCodes.Format(WarningCodes.SlowerThanMacs, string.Create(CultureInfo.InvariantCulture,
                    $"the compressed model runs at {row.Percent:0}% of the original's time {where} but has {macsPercent:0.#}% of its MACs ({row.MacsRatio:0.##}× what its MACs promise). {advice}")));
        }
        return new Result(libtorch1, libtorchServing, onnx1, onnxServing, warnings);
    }

    /// <summary>What to set, for this budget: widths the kernels run well when no rounding is set; where to measure
    /// when the budget times libtorch; and, for a size budget, a speed budget instead — on small networks time follows
    /// the filters kept more than the MACs whatever the widths (bench/results/width-scaling.md), and a latency target
    /// measures the widths' time and can remove residual blocks.</summary>
    internal static string Advice(PfaBudget budget)
    {
        var parts = new List<string>();
        if (budget.RoundTo is null)
            parts.Add("Widths the CPU kernels run well help: set \"round_to\": \"auto\" (it times roundings end to end where you serve) or 8 or 16 (README, \"Footprint and FLOPs\").");
        if (budget.EffectiveLatency.Runtime != LatencyBudget.Onnx && budget.Onnx != false)   // no model.onnx with "onnx": false
            parts.Add("Measure where you serve: \"latency\": { \"batch\": N, \"runtime\": \"onnx\" } with ONNX Runtime.");
        if (budget.Strategy != "latency")
            parts.Add("For speed rather than size, ask for it: { \"strategy\": \"latency\", \"target\": 0.5 } plans widths on their measured time and, on a residual network, removes blocks; on small networks time follows the filters kept more than the MACs, whatever the widths (README, \"Benchmarks\").");
        if (parts.Count == 0)
            parts.Add("This budget already asks for speed where it is measured; a lower target is what is left to set.");
        return string.Join(" ", parts);
    }
}

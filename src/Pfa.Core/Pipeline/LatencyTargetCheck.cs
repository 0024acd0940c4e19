using System.Globalization;
using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Recipes;

namespace Pfa.Core.Pipeline;

/// <summary>How the compressed model did against a latency target (issue 22), from the run's own end-to-end
/// measurement at the serving batch in the serving runtime (<see cref="LatencyReport"/>).</summary>
public sealed record LatencyTargetResult
{
    /// <summary>The target in milliseconds, against the original as measured now (a fraction target) or as given.</summary>
    public double TargetMs { get; init; }
    public double? TargetFraction { get; init; }
    public double MeasuredMs { get; init; }
    public double OriginalMs { get; init; }
    public int Batch { get; init; }
    public string Runtime { get; init; } = "";
    public bool Met { get; init; }
    /// <summary>(measured − target) / target in percent: negative = under the target.</summary>
    public double OffPercent { get; init; }
}

public static class LatencyTargetCheck
{
    /// <summary>The verdict, and a PFA2006 warning when missed; null when the strategy has no latency target.</summary>
    public static (LatencyTargetResult Result, string? Warning)? Check(Recipe recipe, PfaBudget budget, LatencyReport.Result report)
    {
        if (recipe.Strategy.Latency is null) return null;
        var serving = budget.EffectiveLatency;
        bool onnx = serving.Runtime == LatencyBudget.Onnx;
        var row = serving.Batch > 1 ? (onnx ? report.OnnxServing : report.Serving) : (onnx ? report.Onnx : report.Latency);
        if (row is null) return null;
        double target = budget.Milliseconds ?? budget.Target!.Value * row.BeforeMs;
        double off = 100 * (row.AfterMs - target) / target;
        var result = new LatencyTargetResult
        {
            TargetMs = Math.Round(target, 4), TargetFraction = budget.Milliseconds is null ? budget.Target : null,
            MeasuredMs = row.AfterMs, OriginalMs = row.BeforeMs, Batch = row.Batch, Runtime = serving.Runtime,
            Met = row.AfterMs <= target, OffPercent = Math.Round(off, 2),
        };
        string? warning = result.Met ? null : WarningCodes.Format(WarningCodes.MissedLatencyTarget, string.Create(CultureInfo.InvariantCulture,
            $"the latency target was missed by {off:0.#}%: {row.AfterMs:0.###} ms at batch {row.Batch} in {serving.Runtime}, target {target:0.###} ms{(result.TargetFraction is { } f ? $" ({f:0.##} of the original's {row.BeforeMs:0.###} ms)" : "")}. The machine may have been busy (the search measured {recipe.Strategy.Latency.MeasuredMs:0.###} ms against {recipe.Strategy.Latency.TargetMs:0.###} ms): run again on a quiet machine, or lower the target."));
        return (result, warning);
    }

    public static string Line(LatencyTargetResult r) => string.Create(CultureInfo.InvariantCulture,
        $"latency target: {r.TargetMs:0.###} ms at batch {r.Batch} ({r.Runtime}); measured {r.MeasuredMs:0.###} ms: {(r.Met ? $"met, {-r.OffPercent:0.#}% under" : $"missed by {r.OffPercent:0.#}%")}");
}

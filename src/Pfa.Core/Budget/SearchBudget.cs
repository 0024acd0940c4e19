using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>search</c> (footprint/flops/latency): <c>{ "candidates": 5, "samples": 2000, "train_batches": 60 }</c>, <c>true</c> (the default)
/// or <c>false</c> (the analytic PFA-KL shape, no measurement). See <see cref="Pipeline.CandidateSearch"/>.
/// </summary>
[JsonConverter(typeof(SearchBudgetConverter))]
public sealed record SearchBudget
{
    public const int DefaultCandidates = 5, DefaultSamples = 2000, DefaultTrainBatches = 60;

    /// <summary>Shapes measured, α evenly from 1 (PFA-KL) to 0 (uniform); below 2: off.</summary>
    public int Candidates { get; init; } = DefaultCandidates;
    /// <summary>Held-out training samples each candidate is scored on.</summary>
    public int Samples { get; init; } = DefaultSamples;
    /// <summary>Training batches each candidate gets after recalibration and before it is scored (0: recalibration
    /// only). Accuracy right after recalibration ranked the selection criteria the wrong way round on the
    /// MobileNet-style net (l1 19.6% vs 26.1% held out, 86.9% vs 84.4% fine-tuned); 60 batches ranked them as the
    /// fine-tune does (85.3% vs 79.4%).</summary>
    public int TrainBatches { get; init; } = DefaultTrainBatches;
    /// <summary>Latency targets on residual networks: depth candidates — the chosen shape with 1/N … N/N of the
    /// removable residual blocks removed, least harmful first (<see cref="Pipeline.BlockOrder"/>), widths then planned
    /// to the target (0: off; unset: <see cref="DefaultDepth"/> for strategy latency). On by default since
    /// bench/results/latency-depth.md: on both ResNet-20s, at batch 1 and 64, targets 0.5 and 0.3, the search with
    /// depth candidates kept at least the width-only plans' accuracy and reached a target widths could not.</summary>
    public int? Depth { get; init; }

    public const int DefaultDepth = 3;

    /// <summary>The depth candidates in effect for a strategy: the budget's, or <see cref="DefaultDepth"/> for latency.</summary>
    public int DepthFor(string strategy) => Depth ?? (strategy == "latency" ? DefaultDepth : 0);

    public static readonly SearchBudget Off = new() { Candidates = 0 };
}

/// <summary>Reads <c>true</c>, <c>false</c> or <c>{ "candidates": n, "samples": m }</c>.</summary>
public sealed class SearchBudgetConverter : OnOffConverter<SearchBudget>
{
    protected override SearchBudget On => new();
    protected override SearchBudget Off => SearchBudget.Off;
    protected override IReadOnlyList<string> Names => ["candidates", "samples", "train_batches", "depth"];
    protected override SearchBudget With(SearchBudget value, string name, int number) => name switch
    {
        "candidates" => value with { Candidates = number },
        "samples" => value with { Samples = number },
        "depth" => value with { Depth = number },
        _ => value with { TrainBatches = number },
    };
    protected override void WriteObject(Utf8JsonWriter writer, SearchBudget value)
    {
        writer.WriteNumber("candidates", value.Candidates);
        writer.WriteNumber("samples", value.Samples);
        writer.WriteNumber("train_batches", value.TrainBatches);
        if (value.Depth is { } depth) writer.WriteNumber("depth", depth);
    }
    protected override bool IsOff(SearchBudget value) => value.Candidates == 0;
}

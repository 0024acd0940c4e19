using System.Globalization;
using Pfa.Core.Json;

namespace Pfa.Core.Pipeline;

public sealed record Timings
{
    public double AnalyzeSeconds { get; init; }
    public double RecipeSeconds { get; init; }
    public double ApplySeconds { get; init; }
    public double FinetuneSeconds { get; init; }
    public double EvaluateSeconds { get; init; }
    public double TotalSeconds { get; init; }
}

/// <summary>Latency before and after compression, measured in one process on the same input batch.</summary>
public sealed record Latencies
{
    public double BeforeMs { get; init; }
    public double AfterMs { get; init; }
    /// <summary>After as a percentage of before.</summary>
    public double Percent { get; init; }
    /// <summary>The latency ratio over the MACs ratio (1: as fast as the MACs say; above 1: the kernels run the new widths worse).</summary>
    public double? MacsRatio { get; init; }
    public int Batch { get; init; }
    public int Runs { get; init; }
    public int Threads { get; init; }
}

/// <summary>summary.json (<c>"schema": "pfa.summary/1"</c>): the outcome of a compression, read by the MSBuild
/// task and CI. Accuracies are top-1 in percent; the drop is in percentage points (positive = worse).</summary>
public sealed record Summary
{
    public const string SchemaId = "pfa.summary/1";
    public string Schema { get; init; } = SchemaId;
    public string Strategy { get; init; } = "";
    public double? Tau { get; init; }
    public string Recipe { get; init; } = "";
    public string CompressedModel { get; init; } = "";
    public string CompressedWeights { get; init; } = "";
    /// <summary>model.onnx, checked by ONNX Runtime; null when the budget says <c>"onnx": false</c>.</summary>
    public string? OnnxModel { get; init; }
    /// <summary>A target domain's model: the classes its classifier keeps (accuracies are among them); null: all.</summary>
    public List<int>? Classes { get; init; }
    public double AccuracyBefore { get; init; }
    public double AccuracyAfter { get; init; }
    /// <summary>Top-1 of the compressed model right after surgery (before recalibration and fine-tuning).</summary>
    public double? AccuracySurgery { get; init; }
    /// <summary>Top-1 after the batch-norm statistics were re-estimated, before fine-tuning; null when off.</summary>
    public double? AccuracyRecalibrated { get; init; }
    /// <summary>How many training batches re-estimated the batch-norm statistics; null when off or none.</summary>
    public int? RecalibrationBatches { get; init; }
    /// <summary>What recalibration fitted of the classifier to the original's logits: "bias" or "refit"; null: nothing.</summary>
    public string? RecalibratedClassifier { get; init; }
    /// <summary>"after recalibration (50 batches: batch norms, classifier bias)", for the reports.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string RecalibrationLabel => $"after recalibration ({RecalibrationBatches} batches: {Recalibration.Describe(RecalibratedClassifier)})";
    public double Top5Before { get; init; }
    public double Top5After { get; init; }
    public double Drop { get; init; }
    public double? Tolerance { get; init; }
    public bool Passed { get; init; }
    public long ParametersBefore { get; init; }
    public long ParametersAfter { get; init; }
    public long MacsBefore { get; init; }
    public long MacsAfter { get; init; }
    public double ParametersPercent { get; init; }
    public double MacsPercent { get; init; }
    public long AnalysisSamples { get; init; }
    public long EvalSamples { get; init; }
    public int FinetuneEpochs { get; init; }
    /// <summary>Measured CPU inference latency of one forward pass (median of warm runs), before and after.</summary>
    public Latencies? Latency { get; init; }
    /// <summary>The latency strategy: the target and whether the compressed model met it (measured at the serving batch).</summary>
    public LatencyTargetResult? LatencyTarget { get; init; }
    /// <summary>libtorch at the budget's serving batch ('latency.batch'); null when that is 1.</summary>
    public Latencies? ServingLatency { get; init; }
    /// <summary>The same in ONNX Runtime (CPU provider), from model.onnx; null without it.</summary>
    public Latencies? OnnxLatency { get; init; }
    public Latencies? OnnxServingLatency { get; init; }
    public Timings Timings { get; init; } = new();

    public const string FileName = "summary.json";
    public const string MarkdownFileName = "summary.md";

    public void Save(string folder)
    {
        AtomicFile.WriteText(Path.Combine(folder, FileName), JsonFiles.Serialize(this));
        AtomicFile.WriteText(Path.Combine(folder, MarkdownFileName), ToMarkdown());
    }

    public static Summary Load(string path) => JsonFiles.Read<Summary>(path, "summary").Value;

    /// <summary>One line for logs: parameters and MACs kept, accuracy change.</summary>
    public string OneLine() => string.Create(CultureInfo.InvariantCulture,
        $"{Strategy}{(Tau is { } t ? $" (τ = {t:0.####})" : "")}: parameters {ParametersPercent:0.##}%, MACs {MacsPercent:0.##}%, accuracy {AccuracyBefore:0.00}% → {AccuracyAfter:0.00}% ({-Drop:+0.00;-0.00} pp){Stages()}");

    /// <summary>" (after surgery 10.00%, recalibrated 59.00%)", or "".</summary>
    string Stages() => AccuracySurgery is not { } s ? ""
        : string.Create(CultureInfo.InvariantCulture, $" (after surgery {s:0.00}%{(AccuracyRecalibrated is { } r ? $", recalibrated {r:0.00}%" : "")})");

    /// <summary>"| CPU latency, libtorch (batch 1, 2 threads, median of 20) | … | 42.50% (1.42× MACs) |", or "".</summary>
    static string LatencyRow(string runtime, Latencies? l) => l is null ? "" : string.Create(CultureInfo.InvariantCulture,
        $"| CPU latency, {runtime} (batch {l.Batch}, {l.Threads} threads, median of {l.Runs}) | {l.BeforeMs:0.000} ms | {l.AfterMs:0.000} ms | {l.Percent:0.00}%{(l.MacsRatio is { } m ? $" ({m:0.##}× MACs)" : "")} |\n");

    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        string gate = Tolerance is { } tol ? (Passed ? $"passed (drop {Drop.ToString("0.00", inv)} pp ≤ tolerance {tol.ToString("0.##", inv)} pp)" : $"**failed** (drop {Drop.ToString("0.00", inv)} pp > tolerance {tol.ToString("0.##", inv)} pp)") : "no tolerance set";
        return string.Create(inv, $"""
        ### PFA compression — {Strategy}{(Tau is { } t ? $" (τ = {t:0.####})" : "")}

        | | before | after | |
        |---|---:|---:|---:|
        | parameters | {ParametersBefore:N0} | {ParametersAfter:N0} | {ParametersPercent:0.##}% |
        | MACs | {MacsBefore:N0} | {MacsAfter:N0} | {MacsPercent:0.##}% |
        | top-1 accuracy | {AccuracyBefore:0.00}% | {AccuracyAfter:0.00}% | {-Drop:+0.00;-0.00} pp |{(AccuracySurgery is { } s ? $"\n| top-1 right after surgery{(AccuracyRecalibrated is not null ? $" / {RecalibrationLabel}" : "")} | | {s:0.00}%{(AccuracyRecalibrated is { } rc ? $" / {rc:0.00}%" : "")} | |" : "")}
        {LatencyRow("libtorch", Latency)}{LatencyRow("libtorch", ServingLatency)}{LatencyRow("ONNX Runtime", OnnxLatency)}{LatencyRow("ONNX Runtime", OnnxServingLatency)}
        {(LatencyTarget is { } lt ? LatencyTargetCheck.Line(lt) + "\n\n" : "")}Accuracy gate: {gate}. Evaluated on {EvalSamples:N0} samples; analysed {AnalysisSamples:N0}; fine-tuned {FinetuneEpochs} epoch(s); {Timings.TotalSeconds:0} s in all.

        """);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>recalibrate</c>: <c>{ "batches": 50, "classifier": true }</c>, <c>true</c> (the default) or <c>false</c>
/// (off). How many training batches re-estimate the batch-norm statistics after surgery
/// (<see cref="Pipeline.BatchNormRecalibration"/>) and re-fit the classifier to the original's logits
/// (<see cref="Pipeline.ClassifierRefit"/>; <c>"classifier": false</c> leaves it as surgery left it).
/// </summary>
[JsonConverter(typeof(RecalibrateBudgetConverter))]
public sealed record RecalibrateBudget
{
    public const int DefaultBatches = 50;

    /// <summary>0 = off.</summary>
    public int Batches { get; init; } = DefaultBatches;

    /// <summary>What is fitted of the output layer after the batch norms: <see cref="Bias"/> (the default),
    /// <see cref="Refit"/> (weights and bias) or <see cref="None"/> (<c>"classifier": false</c>).</summary>
    public string Classifier { get; init; } = Bias;

    public const string Bias = "bias";
    public const string Refit = "refit";
    public const string None = "none";
    public static readonly IReadOnlyList<string> Classifiers = [Bias, Refit];

    public static readonly RecalibrateBudget Off = new() { Batches = 0 };
}

/// <summary>Reads <c>true</c>, <c>false</c> or <c>{ "batches": n }</c>.</summary>
public sealed class RecalibrateBudgetConverter : OnOffConverter<RecalibrateBudget>
{
    protected override RecalibrateBudget On => new();
    protected override RecalibrateBudget Off => RecalibrateBudget.Off;
    protected override IReadOnlyList<string> Names => ["batches"];
    protected override IReadOnlyList<string> Words => ["classifier"];
    protected override RecalibrateBudget With(RecalibrateBudget value, string name, int number) => value with { Batches = number };
    protected override RecalibrateBudget With(RecalibrateBudget value, string name, string? word) => value with { Classifier = word ?? RecalibrateBudget.None };
    protected override void WriteObject(Utf8JsonWriter writer, RecalibrateBudget value)
    {
        writer.WriteNumber("batches", value.Batches);
        if (value.Classifier == RecalibrateBudget.None) writer.WriteBoolean("classifier", false);
        else writer.WriteString("classifier", value.Classifier);
    }
    protected override bool IsOff(RecalibrateBudget value) => value.Batches == 0;
}

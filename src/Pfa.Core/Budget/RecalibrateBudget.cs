using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>recalibrate</c>: <c>{ "batches": 50 }</c>, <c>true</c> (the default) or <c>false</c> (off). How many
/// training batches re-estimate the batch-norm statistics after surgery (<see cref="Pipeline.BatchNormRecalibration"/>).
/// </summary>
[JsonConverter(typeof(RecalibrateBudgetConverter))]
public sealed record RecalibrateBudget
{
    public const int DefaultBatches = 50;

    /// <summary>0 = off.</summary>
    public int Batches { get; init; } = DefaultBatches;

    public static readonly RecalibrateBudget Off = new() { Batches = 0 };
}

/// <summary>Reads <c>true</c>, <c>false</c> or <c>{ "batches": n }</c>.</summary>
public sealed class RecalibrateBudgetConverter : OnOffConverter<RecalibrateBudget>
{
    protected override RecalibrateBudget On => new();
    protected override RecalibrateBudget Off => RecalibrateBudget.Off;
    protected override IReadOnlyList<string> Names => ["batches"];
    protected override RecalibrateBudget With(RecalibrateBudget value, string name, int number) => value with { Batches = number };
    protected override void WriteObject(Utf8JsonWriter writer, RecalibrateBudget value) => writer.WriteNumber("batches", value.Batches);
    protected override bool IsOff(RecalibrateBudget value) => value.Batches == 0;
}

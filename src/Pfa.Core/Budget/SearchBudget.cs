using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>search</c> (footprint/flops): <c>{ "candidates": 5, "samples": 2000 }</c>, <c>true</c> (the default)
/// or <c>false</c> (the analytic PFA-KL shape, no measurement). See <see cref="Pipeline.CandidateSearch"/>.
/// </summary>
[JsonConverter(typeof(SearchBudgetConverter))]
public sealed record SearchBudget
{
    public const int DefaultCandidates = 5, DefaultSamples = 2000;

    /// <summary>Shapes measured, α evenly from 1 (PFA-KL) to 0 (uniform); below 2: off.</summary>
    public int Candidates { get; init; } = DefaultCandidates;
    /// <summary>Held-out training samples each candidate is scored on.</summary>
    public int Samples { get; init; } = DefaultSamples;

    public static readonly SearchBudget Off = new() { Candidates = 0 };
}

/// <summary>Reads <c>true</c>, <c>false</c> or <c>{ "candidates": n, "samples": m }</c>.</summary>
public sealed class SearchBudgetConverter : OnOffConverter<SearchBudget>
{
    protected override SearchBudget On => new();
    protected override SearchBudget Off => SearchBudget.Off;
    protected override IReadOnlyList<string> Names => ["candidates", "samples"];
    protected override SearchBudget With(SearchBudget value, string name, int number) =>
        name == "candidates" ? value with { Candidates = number } : value with { Samples = number };
    protected override void WriteObject(Utf8JsonWriter writer, SearchBudget value)
    {
        writer.WriteNumber("candidates", value.Candidates);
        writer.WriteNumber("samples", value.Samples);
    }
    protected override bool IsOff(SearchBudget value) => value.Candidates == 0;
}

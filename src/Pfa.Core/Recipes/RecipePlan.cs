namespace Pfa.Core.Recipes;

/// <summary>How many filters one analysed layer keeps, and why.</summary>
public sealed record LayerPlan(string Layer, int Before, int After, double EnergyKept, double? Kl, string Rule)
{
    /// <summary>round_to "auto": the multiple this layer's count was rounded to.</summary>
    public int? RoundTo { get; init; }
}

/// <summary>
/// The counts part of a recipe: per analysed layer the number of filters to keep, the energy threshold τ
/// found by a footprint/FLOPs search, and the model's cost before and after.
/// </summary>
public sealed record RecipePlan(
    string Strategy, IReadOnlyList<LayerPlan> Layers, double? Tau,
    long ParametersBefore, long ParametersAfter, long MacsBefore, long MacsAfter)
{
    /// <summary>A latency target: what was measured and predicted on the way.</summary>
    public RecipeLatency? Latency { get; init; }
    /// <summary>round_to "auto" with a size target: the roundings measured end to end and the one chosen.</summary>
    public IReadOnlyList<RecipeRoundToOption>? RoundToChoice { get; init; }
}

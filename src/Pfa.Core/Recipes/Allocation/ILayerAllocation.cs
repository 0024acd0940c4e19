using Pfa.Core.Spectra;

namespace Pfa.Core.Recipes.Allocation;

/// <summary>
/// How one layer's filter count follows from its spectrum and one knob t in (0, 1] shared by every layer (τ for
/// PFA-En, the keep ratio for uniform). The count must not decrease as t grows, and change only at the
/// <see cref="Knots"/>: that is what makes a footprint/FLOPs target search exact (a binary search over the knots).
/// </summary>
public interface ILayerAllocation
{
    /// <summary>The rule recorded per layer in the recipe ("energy", "kl", "uniform").</summary>
    string Rule { get; }
    /// <summary>What the knob means, for the recipe: "tau" (an energy threshold) or "keep_ratio"; null when unused.</summary>
    string? Knob { get; }
    /// <summary>The knob's value as the recipe records it (τ and the ratio are t itself).</summary>
    double KnobValue(double t) => t;
    /// <summary>Filters to keep at knob <paramref name="t"/>, before overrides and minimums; in [1, C].</summary>
    int Count(LayerSpectrum spectrum, double t);
    /// <summary>The knob values at which <see cref="Count"/> can change.</summary>
    IEnumerable<double> Knots(LayerSpectrum spectrum);
}

/// <summary>PFA-En, eq. (1): the smallest k with Σ_{i≤k} λ_i ≥ τ; t = τ.</summary>
public sealed class EnergyAllocation : ILayerAllocation
{
    public string Rule => "energy";
    public string? Knob => "tau";
    public int Count(LayerSpectrum spectrum, double t) => RecipePlanner.EnergyCount(spectrum.CumulativeEnergy(), t);
    public IEnumerable<double> Knots(LayerSpectrum spectrum) => spectrum.CumulativeEnergy();
}

/// <summary>PFA-KL, eq. (2) with the linear ψ: ⌈γ·C⌉, γ = 1 − KL(λ‖u)/ln C. Parameter-free: t is ignored.</summary>
public sealed class KlAllocation : ILayerAllocation
{
    public string Rule => "kl";
    public string? Knob => null;
    public int Count(LayerSpectrum spectrum, double t) => RecipePlanner.KlCount(spectrum.Eigenvalues);
    public IEnumerable<double> Knots(LayerSpectrum spectrum) => [1.0];
}

/// <summary>One keep ratio for every layer (the baseline of Li et al. 2017 and Torch-Pruning): ⌈t·C⌉.</summary>
public sealed class UniformAllocation : ILayerAllocation
{
    public string Rule => "uniform";
    public string? Knob => "keep_ratio";
    public int Count(LayerSpectrum spectrum, double t) => Math.Clamp((int)Math.Ceiling(t * spectrum.Filters - 1e-9), 1, spectrum.Filters);
    public IEnumerable<double> Knots(LayerSpectrum spectrum) => Enumerable.Range(1, spectrum.Filters).Select(k => (double)k / spectrum.Filters);
}

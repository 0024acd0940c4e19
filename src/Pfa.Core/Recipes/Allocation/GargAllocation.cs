using Pfa.Core.Spectra;

namespace Pfa.Core.Recipes.Allocation;

/// <summary>
/// Garg et al. §III-C: a layer's width is its significant dimensions S_L, the smallest number of principal
/// components whose cumulative explained variance reaches the threshold t (default 0.999) — "reaches", so
/// Σ_{i≤S_L} λ_i / Σλ ≥ t (Algorithm 1 line 19's "var_cumul &lt; threshold" counts one component too few).
/// On per-position statistics this is PFA-En's rule (eq. 1) with τ = t.
/// </summary>
public sealed class GargAllocation : ILayerAllocation
{
    public string Rule => "significant_dimensions";
    public string? Knob => null;
    public int Count(LayerSpectrum spectrum, double t) => RecipePlanner.EnergyCount(spectrum.CumulativeEnergy(), t);
    public IEnumerable<double> Knots(LayerSpectrum spectrum) => spectrum.CumulativeEnergy();
}

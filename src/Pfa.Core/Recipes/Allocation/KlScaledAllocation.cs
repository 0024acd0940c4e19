using Pfa.Core.Spectra;

namespace Pfa.Core.Recipes.Allocation;

/// <summary>
/// The default of <c>footprint</c> and <c>flops</c>: the per-layer shape of PFA-KL, scaled to the target. Each
/// layer keeps ⌈min(1, s·γ)·C⌉ filters, γ = 1 − KL(λ‖u)/ln C its PFA-KL keep ratio (§3.2, eq. 2), and one scale s
/// shared by every layer is searched so the model fits. s = 1 is exactly the PFA-KL recipe.
/// <para>Why not the paper's τ search: energy thresholds are not comparable across layers (a classifier-feeding
/// layer's responses live in about as many dimensions as there are classes), so a shared τ starves such a layer
/// while the convolutions keep most of their filters. KL measures how far each spectrum is from flat relative
/// to its own width, which keeps the layers' proportions sane at any size (measured: bench/results/quality.md).</para>
/// The knob t in (0, 1] maps to s = t / (1 − t) (t = ½ is PFA-KL, t = 1 keeps everything).
/// <para>With an <paramref name="exponent"/> α the shape is γ^α: α = 1 is the KL shape, α = 0 one keep ratio for
/// every layer (uniform), values between them the shapes between — the candidate family that
/// <see cref="Pipeline.CandidateSearch"/> measures.</para>
/// </summary>
public sealed class KlScaledAllocation(double exponent = 1) : ILayerAllocation
{
    public double Exponent => exponent;
    public string Rule => exponent == 1 ? "kl-scaled" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"kl-scaled^{exponent:0.##}");
    public string? Knob => "kl_scale";

    /// <summary>The layer's PFA-KL keep ratio (at least one filter's worth) to the power α.</summary>
    double Gamma(LayerSpectrum s) => Math.Pow(Math.Max(RecipePlanner.KlRatio(s.Eigenvalues), 1.0 / s.Filters), exponent);

    public static double Scale(double t) => t >= 1 ? double.PositiveInfinity : t / (1 - t);

    public double KnobValue(double t) => Scale(t);

    public int Count(LayerSpectrum spectrum, double t)
    {
        int c = spectrum.Filters;
        if (t >= 1) return c;
        double x = Math.Min(1, Scale(t) * Gamma(spectrum)) * c;
        return Math.Clamp((int)Math.Ceiling(x - 1e-9), 1, c);
    }

    /// <summary>Count k is reached at s = k / (γ·C), i.e. t = s / (1 + s).</summary>
    public IEnumerable<double> Knots(LayerSpectrum spectrum)
    {
        double g = Gamma(spectrum) * spectrum.Filters;
        return Enumerable.Range(1, spectrum.Filters).Select(k => k / g).Select(s => s / (1 + s));
    }
}

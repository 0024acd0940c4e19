using Pfa.Core.Native;
using Pfa.Core.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Spectra;

/// <summary>
/// The eigenvalues λ of one layer's response covariance, sorted descending and normalised to sum 1
/// (PFA §3.1), with what the recipes and the report need besides.
/// </summary>
public sealed record LayerSpectrum
{
    public string Layer { get; init; } = "";
    public int Filters { get; init; }
    public long Samples { get; init; }
    /// <summary>Trace of the covariance: the layer's total response variance.</summary>
    public double TotalVariance { get; init; }
    /// <summary>λ, descending, Σλ = 1; never NaN (see <see cref="Compute"/>).</summary>
    public double[] Eigenvalues { get; init; } = [];
    /// <summary>Per-filter response variances (the covariance diagonal).</summary>
    public double[] Variances { get; init; } = [];
    /// <summary>Things the user should act on, each "PFA2xxx: message" (<see cref="Errors.WarningCodes"/>).</summary>
    public List<string> Warnings { get; init; } = [];
    /// <summary>What the recipes handle by design (inactive filters, a single filter): worth knowing, not a warning.</summary>
    public List<string> Notes { get; init; } = [];

    /// <summary>A filter is inactive when its variance is below this fraction of the layer's largest one
    /// (as in Apple's DNIKit PFA): it carries no signal and has no defined Pearson correlation.</summary>
    public const double InactiveFraction = 1e-8;

    public int Inactive => Variances.Count(v => IsInactive(v));
    public bool IsInactive(double variance) => !(variance > InactiveFraction * Variances.DefaultIfEmpty(0).Max());

    /// <summary>
    /// Eigen-decomposition of a covariance with libtorch's float64 <c>eigvalsh</c>. Rounding can make the
    /// smallest eigenvalues slightly negative; they are clamped to 0. Degenerate layers are defined rather
    /// than NaN: zero total variance (every filter dead) gives λ = (1, 0, …, 0), so every recipe keeps the
    /// layer's minimum; fewer samples than filters, a single filter and inactive filters add a warning.
    /// </summary>
    public static LayerSpectrum Compute(string layer, Tensor covariance, long samples)
    {
        int c = (int)covariance.shape[0];
        using var scope = NewDisposeScope();
        var variances = covariance.diagonal().clamp_min(KeptScalars.Zero).data<double>().ToArray();
        var eig = linalg.eigvalsh(covariance).flip(0).clamp_min(KeptScalars.Zero).data<double>().ToArray();
        double total = eig.Sum();
        var warnings = new List<string>();
        var notes = new List<string>();
        double[] lambda;
        if (!(total > 0) || !double.IsFinite(total))
        {
            lambda = new double[c];
            lambda[0] = 1;
            warnings.Add(WarningCodes.Format(WarningCodes.NoVariance, $"the responses of {layer} have no variance over {samples} samples (every filter is inactive); the layer keeps its minimum number of filters"));
        }
        else lambda = eig.Select(v => v / total).ToArray();
        if (samples < c)
            warnings.Add(WarningCodes.Format(WarningCodes.TooFewSamples, $"{layer} has {c} filters but only {samples} samples: at most {Math.Max(0, samples - 1)} eigenvalues can be non-zero; analyse more samples for a reliable spectrum"));
        if (c == 1)
            notes.Add($"{layer} has a single filter; it is kept");
        var result = new LayerSpectrum { Layer = layer, Filters = c, Samples = samples, TotalVariance = double.IsFinite(total) ? total : 0, Eigenvalues = lambda, Variances = variances, Warnings = warnings, Notes = notes };
        int inactive = result.Inactive;
        if (inactive > 0 && total > 0)
            notes.Add($"{layer} has {inactive} inactive filter(s) (variance below {InactiveFraction:g} of the largest); they are removed first");
        return result;
    }

    /// <summary>Cumulative energy of the first k components, k = 1..C.</summary>
    public double[] CumulativeEnergy()
    {
        var c = new double[Eigenvalues.Length];
        double s = 0;
        for (int i = 0; i < c.Length; i++) c[i] = s += Eigenvalues[i];
        return c;
    }
}

using TorchSharp;
using Pfa.Core.Native;
using static TorchSharp.torch;

namespace Pfa.Core.Selection;

/// <summary>
/// Which filters to keep (PFA §3.2.1): repeatedly remove the filter whose responses are most correlated with
/// the remaining ones — the largest ℓ1-norm of its Pearson coefficients |r_ij| to the other remaining filters
/// — breaking ties by the highest single |r_ij|, then by the lower index. Inactive filters (variance below
/// 1e-8 of the layer's largest; their r is undefined) are removed first, lowest variance first, so no NaN ever
/// reaches the correlation step.
/// <para>Cost: the row sums are computed once and, when a filter is removed, its column is subtracted from
/// them: O(n²) for the whole layer instead of O(r·n²) for recomputing the norms after each removal.</para>
/// </summary>
public static class FilterSelector
{
    /// <summary>Relative slack under which two ℓ1-norms count as tied (incremental sums differ in the last bits).</summary>
    const double TieSlack = 1e-9;

    /// <summary>Indices (ascending) of the <paramref name="keep"/> filters to keep, from a float64 covariance.</summary>
    public static int[] Select(Tensor covariance, int keep)
    {
        int n = (int)covariance.shape[0];
        if (keep >= n) return Enumerable.Range(0, n).ToArray();
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep));

        double[] r;
        double[] variance;
        using (NewDisposeScope())
        {
            var cov = covariance.to_type(ScalarType.Float64);
            var v = cov.diagonal().clamp_min(KeptScalars.Zero);
            variance = v.data<double>().ToArray();
            double max = variance.Max();
            using var threshold = (Spectra.LayerSpectrum.InactiveFraction * max).ToScalar();
            var active = v.gt(threshold);
            // |r_ij| = |cov_ij| / sqrt(v_i v_j) for active filters; 0 on the diagonal and for inactive ones.
            var inv = where(active, v.rsqrt(), zeros_like(v));
            var corr = (cov * inv.unsqueeze(1) * inv.unsqueeze(0)).abs_().clamp_max_(KeptScalars.One);
            corr.diagonal().zero_();
            r = corr.contiguous().data<double>().ToArray();
        }
        return SelectFromCorrelation(r, variance, n, keep);
    }

    /// <summary>The selection on a dense |r| matrix (row-major, zero diagonal, zero rows for inactive filters).</summary>
    internal static int[] SelectFromCorrelation(double[] absR, double[] variance, int n, int keep)
    {
        var removed = new bool[n];
        int toRemove = n - keep;
        double maxVar = variance.Max();

        // Inactive filters first, lowest variance first (ties: lower index).
        foreach (var i in Enumerable.Range(0, n).Where(i => !(variance[i] > Spectra.LayerSpectrum.InactiveFraction * maxVar))
                     .OrderBy(i => variance[i]).ThenBy(i => i))
        {
            if (toRemove == 0) break;
            removed[i] = true;
            toRemove--;
        }

        var sums = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (removed[i]) continue;
            double s = 0;
            int row = i * n;
            for (int j = 0; j < n; j++) if (!removed[j]) s += absR[row + j];
            sums[i] = s;
        }

        for (; toRemove > 0; toRemove--)
        {
            int best = -1;
            double bestSum = double.NegativeInfinity, bestPeak = double.NegativeInfinity;
            for (int i = 0; i < n; i++)
            {
                if (removed[i]) continue;
                double s = sums[i];
                if (best >= 0 && s < bestSum - TieSlack * Math.Max(1, Math.Abs(bestSum))) continue;
                if (best >= 0 && s <= bestSum + TieSlack * Math.Max(1, Math.Abs(bestSum)))
                {
                    // Tie on the ℓ1-norm: the higher single coefficient wins; equal again → lower index (kept).
                    double peak = Peak(absR, removed, n, i);
                    if (double.IsNegativeInfinity(bestPeak)) bestPeak = Peak(absR, removed, n, best);
                    if (peak > bestPeak) { best = i; bestSum = Math.Max(bestSum, s); bestPeak = peak; }
                    continue;
                }
                best = i;
                bestSum = s;
                bestPeak = double.NegativeInfinity;
            }
            removed[best] = true;
            int row = best * n;   // |r| is symmetric: the removed filter's row is its column, read contiguously
            for (int j = 0; j < n; j++) if (!removed[j]) sums[j] -= absR[row + j];
        }
        return Enumerable.Range(0, n).Where(i => !removed[i]).ToArray();
    }

    static double Peak(double[] absR, bool[] removed, int n, int i)
    {
        double p = 0;
        int row = i * n;
        for (int j = 0; j < n; j++) if (!removed[j] && absR[row + j] > p) p = absR[row + j];
        return p;
    }
}

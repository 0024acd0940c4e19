using static TorchSharp.torch;

namespace Pfa.Core.Selection;

/// <summary>
/// Greedy forward selection by explained variance (scale-aware, unlike Pearson): keep the filter whose responses
/// best explain the layer's remaining response variance — score_j = Σ_i R_ij² / R_jj over the residual
/// covariance R — then remove what it explains, R ← R − r_j r_jᵀ / R_jj, and repeat. Ties → the lower index;
/// once the residual is exhausted (rank reached), the largest original variance, then the lower index.
/// A filter dropped by this rule is, in the least-squares sense, the one its kept peers reconstruct best.
/// <para>Plain float64 loops in a fixed order (no BLAS, no threads): the same covariance gives the same choice
/// on every machine and thread count, which the recipe's byte-for-byte determinism relies on. Cost O(keep·C²).</para>
/// </summary>
public sealed class VarianceCriterion : ISelectionCriterion
{
    public string Name => "variance";
    public bool NeedsWeights => false;

    /// <summary>Residual variance below this fraction of the largest original variance counts as explained.</summary>
    const double Exhausted = 1e-10;

    public int[] Select(LayerEvidence e, int keep)
    {
        int n = (int)e.Covariance.shape[0];
        if (keep >= n) return Enumerable.Range(0, n).ToArray();
        double[] r;
        using (var cov = e.Covariance.to_type(ScalarType.Float64).contiguous())
            r = cov.data<double>().ToArray();
        return SelectFromCovariance(r, n, keep);
    }

    internal static int[] SelectFromCovariance(double[] r, int n, int keep)
    {
        var variance = Enumerable.Range(0, n).Select(i => Math.Max(0, r[i * n + i])).ToArray();
        double floor = Exhausted * Math.Max(variance.Max(), double.Epsilon);
        var taken = new bool[n];
        var chosen = new List<int>(keep);
        while (chosen.Count < keep)
        {
            int best = -1;
            double bestScore = 0;
            for (int j = 0; j < n; j++)
            {
                double d = r[j * n + j];
                if (taken[j] || !(d > floor)) continue;
                double score = SumOfSquares(r, j * n, n) / d;   // R is symmetric: column j = row j
                if (best < 0 || score > bestScore * (1 + 1e-12)) { best = j; bestScore = score; }
            }
            if (best < 0) break;
            taken[best] = true;
            chosen.Add(best);
            double pivot = r[best * n + best];
            var row = r.AsSpan(best * n, n).ToArray();
            for (int i = 0; i < n; i++)
            {
                double f = r[i * n + best] / pivot;
                if (f == 0) continue;
                var target = r.AsSpan(i * n, n);
                for (int k = 0; k < n; k++) target[k] -= f * row[k];
            }
        }
        foreach (var j in Enumerable.Range(0, n).Where(j => !taken[j]).OrderByDescending(j => variance[j]).ThenBy(j => j))
        {
            if (chosen.Count >= keep) break;
            chosen.Add(j);
        }
        return chosen.Order().ToArray();
    }

    /// <summary>Σ x² over a row, four fixed lanes then their fixed sum: fast and the same on every CPU.</summary>
    static double SumOfSquares(double[] a, int start, int length)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = 0;
        for (; k + 3 < length; k += 4)
        {
            double x0 = a[start + k], x1 = a[start + k + 1], x2 = a[start + k + 2], x3 = a[start + k + 3];
            s0 += x0 * x0; s1 += x1 * x1; s2 += x2 * x2; s3 += x3 * x3;
        }
        for (; k < length; k++) s0 += a[start + k] * a[start + k];
        return (s0 + s1) + (s2 + s3);
    }
}

using static TorchSharp.torch;

namespace Pfa.Core.Selection;

/// <summary>
/// Greedy forward selection by explained variance (scale-aware, unlike Pearson): keep the filter whose responses
/// best explain the layer's remaining response variance — score_j = Σ_i R_ij² / R_jj over the residual
/// covariance R — then remove what it explains, R ← R − r_j r_jᵀ / R_jj, and repeat. Ties → the lower index;
/// once the residual is exhausted (rank reached), the largest original variance, then the lower index.
/// A filter dropped by this rule is, in the least-squares sense, the one its kept peers reconstruct best.
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
        using var scope = NewDisposeScope();
        var r = e.Covariance.to_type(ScalarType.Float64).clone();
        var variance = r.diagonal().clamp_min(0).data<double>().ToArray();
        double floor = Exhausted * Math.Max(variance.Max(), double.Epsilon);
        var chosen = new List<int>(keep);
        var taken = new bool[n];
        while (chosen.Count < keep)
        {
            var diag = r.diagonal().data<double>().ToArray();
            var explained = r.square().sum(0L).data<double>().ToArray();   // 0L: a literal 0 would bind to the dtype overload
            int best = -1;
            double bestScore = 0;
            for (int j = 0; j < n; j++)
            {
                if (taken[j] || !(diag[j] > floor)) continue;
                double score = explained[j] / diag[j];
                if (best < 0 || score > bestScore * (1 + 1e-12)) { best = j; bestScore = score; }
            }
            if (best < 0) break;
            taken[best] = true;
            chosen.Add(best);
            var col = r[.., best].clone();
            r.sub_(outer(col, col).div_(diag[best]));
        }
        foreach (var j in Enumerable.Range(0, n).Where(j => !taken[j]).OrderByDescending(j => variance[j]).ThenBy(j => j))
        {
            if (chosen.Count >= keep) break;
            chosen.Add(j);
        }
        return chosen.Order().ToArray();
    }
}

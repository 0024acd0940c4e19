using MathNet.Numerics.LinearAlgebra;
using Pfa.Core.Selection;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// <c>"select": "variance"</c> against an independent float64 implementation: at each step, for every candidate j,
/// the variance the kept set S ∪ {j} explains by least squares, tr(Σ_{·S'} Σ_{S'S'}⁻¹ Σ_{S'·}), computed with
/// MathNet's inverse (not the product's rank-one deflation); the best candidate joins S.
/// </summary>
public class VarianceSelectionTests
{
    static Matrix<double> Covariance(int n, int rank, int seed)
    {
        var rng = new Random(seed);
        var a = Matrix<double>.Build.Dense(n, rank, (i, j) => (rng.NextDouble() - 0.5) * (1 + 3 * rng.NextDouble()) / (1 + j));
        return a * a.Transpose() + Matrix<double>.Build.DenseIdentity(n) * 1e-3;
    }

    static int[] Independent(Matrix<double> cov, int keep)
    {
        var chosen = new List<int>();
        for (int step = 0; step < keep; step++)
        {
            int best = -1;
            double bestExplained = double.NegativeInfinity;
            for (int j = 0; j < cov.RowCount; j++)
            {
                if (chosen.Contains(j)) continue;
                var s = chosen.Append(j).ToArray();
                var cross = Matrix<double>.Build.Dense(cov.RowCount, s.Length, (i, k) => cov[i, s[k]]);
                var inner = Matrix<double>.Build.Dense(s.Length, s.Length, (i, k) => cov[s[i], s[k]]);
                double explained = (cross * inner.Inverse() * cross.Transpose()).Trace();
                if (best < 0 || explained > bestExplained + 1e-9 * Math.Abs(bestExplained)) { best = j; bestExplained = explained; }
            }
            chosen.Add(best);
        }
        return chosen.Order().ToArray();
    }

    [Theory]
    [InlineData(12, 12, 4, 1)]
    [InlineData(16, 5, 3, 2)]
    [InlineData(10, 10, 7, 3)]
    public void Greedy_variance_selection_matches_least_squares_forward_selection(int n, int rank, int keep, int seed)
    {
        var cov = Covariance(n, rank, seed);
        using var t = tensor(cov.ToRowMajorArray(), [n, n]);
        var actual = Criteria.Get("variance").Select(new LayerEvidence("c", 0, t, null, 1), keep);
        Assert.Equal(Independent(cov, keep), actual);
    }

    [Fact]
    public void Loud_filters_first_duplicates_never_and_the_rest_by_variance()
    {
        // Filters 0 and 2 are one loud signal (variance 100, duplicates); 1 (variance 1) and 3 (0.5) are independent.
        double[,] c = { { 100, 0, 100, 0 }, { 0, 1, 0, 0 }, { 100, 0, 100, 0 }, { 0, 0, 0, 0.5 } };
        using var t = tensor(Enumerable.Range(0, 16).Select(i => c[i / 4, i % 4]).ToArray(), [4, 4]);
        int[] Keep(int k) => Criteria.Get("variance").Select(new LayerEvidence("c", 0, t, null, 1), k);
        Assert.Equal([0], Keep(1));          // 0 and 2 explain 200 each: the lower index
        Assert.Equal([0, 1], Keep(2));       // 2 is fully explained by 0; 1 explains more than 3
        Assert.Equal([0, 1, 3], Keep(3));
        Assert.Equal([0, 1, 2, 3], Keep(4));
    }
}

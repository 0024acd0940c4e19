using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Selection;
using static TorchSharp.torch;

namespace Pfa.Tests;

public class SelectionTests
{
    /// <summary>The paper's procedure written the slow, obvious way: recompute every ℓ1-norm after each removal.</summary>
    static int[] Naive(double[,] absR, double[] variance, int keep)
    {
        int n = variance.Length;
        var alive = Enumerable.Range(0, n).ToList();
        double maxVar = variance.Max();
        foreach (var i in alive.Where(i => !(variance[i] > 1e-8 * maxVar)).OrderBy(i => variance[i]).ThenBy(i => i).ToList())
            if (alive.Count > keep) alive.Remove(i);
        while (alive.Count > keep)
        {
            var scored = alive.Select(i => (i, sum: alive.Where(j => j != i).Sum(j => absR[i, j]), peak: alive.Where(j => j != i).Select(j => absR[i, j]).DefaultIfEmpty(0).Max())).ToList();
            double top = scored.Max(s => s.sum);
            var tied = scored.Where(s => s.sum >= top - 1e-9 * Math.Max(1, top)).ToList();
            double peak = tied.Max(s => s.peak);
            alive.Remove(tied.Where(s => s.peak == peak).Min(s => s.i));
        }
        return alive.ToArray();
    }

    static (Tensor Cov, double[,] AbsR, double[] Var) RandomCovariance(int n, int m, int seed, int dead = 0)
    {
        var rng = new Random(seed);
        var x = new double[m, n];
        var mix = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) mix[i, j] = rng.NextDouble() < 0.3 ? rng.NextDouble() - 0.5 : 0;
        for (int s = 0; s < m; s++)
        {
            var z = Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
            for (int j = 0; j < n; j++) { double v = z[j]; for (int k = 0; k < n; k++) v += z[k] * mix[k, j]; x[s, j] = j < dead ? 1.0 : v; }
        }
        var cov = new double[n * n];
        var mean = Enumerable.Range(0, n).Select(j => Enumerable.Range(0, m).Average(s => x[s, j])).ToArray();
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++)
            cov[i * n + j] = Enumerable.Range(0, m).Sum(s => (x[s, i] - mean[i]) * (x[s, j] - mean[j])) / (m - 1);
        var variance = Enumerable.Range(0, n).Select(i => cov[i * n + i]).ToArray();
        double maxVar = variance.Max();
        var absR = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++)
            absR[i, j] = i == j || !(variance[i] > 1e-8 * maxVar) || !(variance[j] > 1e-8 * maxVar) ? 0 : Math.Min(1, Math.Abs(cov[i * n + j]) / Math.Sqrt(variance[i] * variance[j]));
        return (tensor(cov, [n, n]), absR, variance);
    }

    [Theory]
    [InlineData(30, 10, 1, 0)]
    [InlineData(40, 1, 2, 0)]
    [InlineData(25, 20, 3, 3)]
    [InlineData(16, 2, 4, 5)]
    public void Incremental_selection_equals_the_naive_recomputation(int n, int keep, int seed, int dead)
    {
        var (cov, absR, variance) = RandomCovariance(n, 200, seed, dead);
        using var _ = cov;
        Assert.Equal(Naive(absR, variance, keep), FilterSelector.Select(cov, keep));
    }

    static double[] Symmetric(int n, params (int I, int J, double R)[] entries)
    {
        var m = new double[n * n];
        foreach (var (i, j, r) in entries) { m[i * n + j] = r; m[j * n + i] = r; }
        return m;
    }

    [Fact]
    public void Ties_on_the_norm_go_to_the_highest_single_coefficient_then_the_lower_index()
    {
        // ℓ1-norms: f0 = 0.1+0.4+0.4 = 0.9 (peak 0.4), f1 = 0.1+0.8 = 0.9 (peak 0.8), f2 = 0.85, f3 = 0.45, f4 = 0.4.
        // f0 and f1 tie; f1 has the higher single coefficient, so it goes although its index is higher.
        var r = Symmetric(5, (0, 1, 0.1), (1, 2, 0.8), (0, 3, 0.4), (0, 4, 0.4), (2, 3, 0.05));
        Assert.Equal([0, 2, 3, 4], FilterSelector.SelectFromCorrelation(r, [1, 1, 1, 1, 1], 5, 4));
        // Everything equal: the lower index goes first.
        var flat = Symmetric(3, (0, 1, 0.3), (0, 2, 0.3), (1, 2, 0.3));
        Assert.Equal([1, 2], FilterSelector.SelectFromCorrelation(flat, [1, 1, 1], 3, 2));
        Assert.Equal([2], FilterSelector.SelectFromCorrelation(flat, [1, 1, 1], 3, 1));
    }

    [Fact]
    public void Planted_redundancy_is_found_exactly_and_one_filter_of_each_copy_group_is_kept()
    {
        // A 1×1 conv whose 12 filters are 4 orthogonal filters, each copied 3 times with scales 0.5, 1 and 2,
        // in shuffled order. Inputs are i.i.d. Gaussian, so distinct filters respond independently while the
        // copies of one filter respond in perfect correlation (the spatial max commutes with positive scales).
        const int k = 4, copies = 3, n = k * copies;
        var rng = new Random(11);
        var order = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();   // position → (group, copy)
        var d = ModelDescription.Parse($$"""
        { "schema": "pfa.model/1", "input": [8, 4, 4], "layers": [
          { "name": "planted", "type": "conv2d", "out": {{n}}, "kernel": 1, "bias": false },
          { "type": "relu" }, { "type": "adaptive_avgpool2d", "output_size": 1 }, { "type": "flatten" },
          { "name": "out", "type": "linear", "out": 2 } ] }
        """);
        using var net = new PfaNetwork(d);
        using (no_grad())
        {
            var w = zeros(n, 8, 1, 1);
            double[] scales = [0.5, 1, 2];
            for (int p = 0; p < n; p++) w[p, order[p] / copies, 0, 0] = tensor((float)scales[order[p] % copies]);
            net.state_dict()["planted.weight"].copy_(w);
        }
        using var dir = new TempDir();
        const int samples = 3000;
        var x = new float[samples * 8 * 16];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        DataFiles.Npy(dir["x.npy"], "<f4", [samples, 8, 4, 4], x.SelectMany(BitConverter.GetBytes).ToArray());
        DataFiles.Npy(dir["y.npy"], "<i8", [samples], new byte[samples * 8]);
        using var data = Dataset.Open(new DataSpec { Path = dir["x.npy"], Labels = dir["y.npy"] }, null);

        var budget = PfaBudget.Parse("""{ "strategy": "energy", "energy": 0.999 }""");
        using var analysis = AnalysisResult.Run(net, data, budget, 256);
        var recipe = RecipeMaker.Make(d, analysis, budget, []);
        var layer = Assert.Single(recipe.Layers);
        Assert.True(analysis.Spectra.Layers[0].Eigenvalues[k - 1] > 0.05, "the 4 distinct filters carry real energy");
        Assert.Equal(k, layer.FiltersAfter);
        Assert.Equal(Enumerable.Range(0, k), layer.Kept.Select(p => order[p] / copies).Order());
    }
}

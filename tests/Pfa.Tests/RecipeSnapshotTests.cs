using Newtonsoft.Json.Linq;
using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Snapshooter.Xunit;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Recipes are canonical and deterministic, so they can be snapshot-tested. These statistics are built in
/// float64 from a fixed formula (no BLAS in the way), so the snapshots hold on any machine; a change in any
/// recipe rule shows up as a readable diff of __snapshots__/*.snap.
/// </summary>
public class RecipeSnapshotTests
{
    static readonly ModelDescription Model = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "name": "snap", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "f1", "type": "linear", "out": 5 }, { "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    /// <summary>Covariance A·Aᵀ of a fixed "random-looking" matrix with decaying columns; one dead filter in c2.</summary>
    static ResponseStatistics Synthetic(string layer, int c, int seed)
    {
        var a = new double[c * c];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
                a[i * c + j] = Math.Sin(seed * 7.0 + (i + 1) * (j + 1) * 0.9 + i * i * 0.3) / (1 + j);
        if (layer == "c2") for (int j = 0; j < c; j++) a[3 * c + j] = 0;
        var moment = new double[c * c];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
                moment[i * c + j] = Enumerable.Range(0, c).Sum(k => a[i * c + k] * a[j * c + k]) * 99;
        using var m = tensor(moment, [c, c]);
        using var z = zeros(c, dtype: ScalarType.Float64);
        return ResponseStatistics.FromParts(layer, 100, z, z, m);
    }

    static string RecipeFor(string budgetJson)
    {
        var stats = new Dictionary<string, ResponseStatistics> { ["c1"] = Synthetic("c1", 6, 1), ["c2"] = Synthetic("c2", 8, 2), ["f1"] = Synthetic("f1", 5, 3) };
        using var analysis = AnalysisResult.FromStatistics(stats, ["c1", "c2", "f1"]);
        var path = Path.GetTempFileName();
        StatisticsFile.Write(path, stats.Values);
        var recipe = RecipeMaker.Make(Model, analysis, PfaBudget.Parse(budgetJson), File.ReadAllBytes(path));
        File.Delete(path);
        return recipe.ToJson();
    }

    /// <summary>The same synthetic layer's normalised spectrum, computed independently: MathNet's symmetric
    /// eigen-decomposition of A·Aᵀ in float64 (the covariance is the moment over M − 1 = 99 with zero sums).</summary>
    static double[] IndependentSpectrum(string layer, int c, int seed)
    {
        var a = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(c, c, (i, j) => layer == "c2" && i == 3 ? 0 : Math.Sin(seed * 7.0 + (i + 1) * (j + 1) * 0.9 + i * i * 0.3) / (1 + j));
        var values = (a * a.Transpose()).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Select(v => Math.Max(0, v.Real)).OrderDescending().ToArray();
        return values.Select(v => v / values.Sum()).ToArray();
    }

    static readonly (string Layer, int C, int Seed)[] Layers = [("c1", 6, 1), ("c2", 8, 2), ("f1", 5, 3)];

    static int EnergyCount(double[] lambda, double tau, double slack = 1e-9)
    {
        double sum = 0;
        for (int k = 0; k < lambda.Length; k++) if ((sum += lambda[k]) >= tau - slack) return k + 1;
        return lambda.Length;
    }

    static Dictionary<string, int> After(JToken recipe) => recipe["layers"]!.ToDictionary(l => (string)l["name"]!, l => (int)l["filters_after"]!);

    // The tool version changes with every release and says nothing about the recipe: it is not pinned. Each
    // snapshot is first checked against counts computed independently (hand formulas on MathNet's spectra).
    [Fact]
    public void Kl_recipe()
    {
        var recipe = JToken.Parse(RecipeFor("{}"));
        foreach (var (layer, c, seed) in Layers)
        {
            var lambda = IndependentSpectrum(layer, c, seed);
            double kl = lambda.Where(v => v > 1e-12).Sum(v => v * Math.Log(v * c));
            int expected = Math.Max(1, (int)Math.Ceiling((1 - kl / Math.Log(c)) * c - 1e-6));
            Assert.Equal(expected, After(recipe)[layer]);
        }
        Snapshot.Match(recipe, o => o.IgnoreField("tool"));
    }

    [Fact]
    public void Energy_recipe()
    {
        var recipe = JToken.Parse(RecipeFor("""{ "strategy": "energy", "energy": 0.95 }"""));
        foreach (var (layer, c, seed) in Layers)
            Assert.Equal(EnergyCount(IndependentSpectrum(layer, c, seed), 0.95), After(recipe)[layer]);
        Snapshot.Match(recipe, o => o.IgnoreField("tool"));
    }

    [Fact]
    public void Footprint_tau_recipe()
    {
        var recipe = JToken.Parse(RecipeFor("""{ "strategy": "footprint-tau", "target": 0.6, "min_filters": 2 }"""));
        double tau = (double)recipe["strategy"]!["tau"]!;
        var after = After(recipe);
        foreach (var (layer, c, seed) in Layers)
            Assert.Equal(Math.Max(2, EnergyCount(IndependentSpectrum(layer, c, seed), tau, slack: 1e-6)), after[layer]); // τ is recorded to 1e-6
        // Parameters by hand: conv 3→c1 (3·3·3+1 each), c1→c2 (c1·9+1 each), flatten c2·4·4 → f1, f1 → 3.
        int c1 = after["c1"], c2 = after["c2"], f1 = after["f1"];
        long parameters = c1 * 28 + c2 * (c1 * 9 + 1) + f1 * (c2 * 16 + 1) + 3 * (f1 + 1);
        long full = 6 * 28 + 8 * (6 * 9 + 1) + 5 * (8 * 16 + 1) + 3 * (5 + 1);
        Assert.Equal(parameters, (long)recipe["totals"]!["parameters_after"]!);
        Assert.Equal(full, (long)recipe["totals"]!["parameters_before"]!);
        Assert.True(parameters <= 0.6 * full);
        Snapshot.Match(recipe, o => o.IgnoreField("tool"));
    }

    /// <summary>The default footprint: PFA-KL's ratios γ (by hand from MathNet's spectra) times the largest scale
    /// whose hand-counted parameters fit, selection by explained variance (recorded).</summary>
    [Fact]
    public void Footprint_recipe()
    {
        var recipe = JToken.Parse(RecipeFor("""{ "strategy": "footprint", "target": 0.5 }"""));
        var gamma = Layers.ToDictionary(l => l.Layer, l =>
        {
            var lambda = IndependentSpectrum(l.Layer, l.C, l.Seed);
            double kl = lambda.Where(v => v > 1e-12).Sum(v => v * Math.Log(v * l.C));
            return Math.Clamp(1 - kl / Math.Log(l.C), 1.0 / l.C, 1);
        });
        int Count(string layer, int c, double scale) => Math.Max(1, (int)Math.Ceiling(Math.Min(1, scale * gamma[layer]) * c - 1e-6));
        long Parameters(int c1, int c2, int f1) => c1 * 28 + c2 * (c1 * 9 + 1) + f1 * (c2 * 16 + 1) + 3 * (f1 + 1);
        long full = Parameters(6, 8, 5);
        double best = Layers.SelectMany(l => Enumerable.Range(1, l.C).Select(k => k / (gamma[l.Layer] * l.C)))
            .Where(scale => Parameters(Count("c1", 6, scale), Count("c2", 8, scale), Count("f1", 5, scale)) <= 0.5 * full).Max();
        var after = After(recipe);
        foreach (var (layer, c, _) in Layers) Assert.Equal(Count(layer, c, best), after[layer]);
        Assert.Equal("variance", (string)recipe["strategy"]!["select"]!);
        Assert.Equal(best, (double)recipe["strategy"]!["kl_scale"]!, 5);
        Snapshot.Match(recipe, o => o.IgnoreField("tool"));
    }

    [Fact]
    public void Same_inputs_same_bytes() => Assert.Equal(RecipeFor("{}"), RecipeFor("{}"));
}

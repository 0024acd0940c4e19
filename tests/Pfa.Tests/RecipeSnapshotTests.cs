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

    // The tool version changes with every release and says nothing about the recipe: it is not pinned.
    [Fact]
    public void Kl_recipe() => Snapshot.Match(JToken.Parse(RecipeFor("{}")), o => o.IgnoreField("tool"));

    [Fact]
    public void Energy_recipe() => Snapshot.Match(JToken.Parse(RecipeFor("""{ "strategy": "energy", "energy": 0.95 }""")), o => o.IgnoreField("tool"));

    [Fact]
    public void Footprint_recipe() => Snapshot.Match(JToken.Parse(RecipeFor("""{ "strategy": "footprint", "target": 0.6, "min_filters": 2 }""")), o => o.IgnoreField("tool"));

    [Fact]
    public void Same_inputs_same_bytes() => Assert.Equal(RecipeFor("{}"), RecipeFor("{}"));
}

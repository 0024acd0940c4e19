using Pfa.Core.Recipes;
using Pfa.Tool.Cli;

namespace Pfa.Tests;

public class RecipeDiffTests
{
    static Recipe Make(params (string Name, int Before, int[] Kept)[] layers) => new()
    {
        Strategy = new RecipeStrategy { Name = "energy" },
        Totals = new RecipeTotals { ParametersPercent = 50, MacsPercent = 60 },
        Layers = layers.Select(l => new RecipeLayer { Name = l.Name, FiltersBefore = l.Before, FiltersAfter = l.Kept.Length, Kept = l.Kept }).ToList(),
    };

    [Fact]
    public void Identical_layers_are_no_drift_even_when_spectra_and_hash_differ()
    {
        var a = Make(("c1", 4, [0, 2]));
        var b = a with { InputHash = "sha256:other", Layers = [a.Layers[0] with { Spectrum = [0.9, 0.1, 0, 0] }] };
        Assert.Empty(RecipeDiff.Compare(a, b));
    }

    [Fact]
    public void Changed_counts_and_kept_filters_are_listed_per_layer()
    {
        var baseline = Make(("c1", 4, [0, 2]), ("c2", 8, [1, 2, 3]), ("f1", 6, [0]));
        var current = Make(("c1", 4, [0, 1, 2]), ("c2", 8, [1, 2, 5]), ("f2", 6, [0]));
        var changes = RecipeDiff.Compare(baseline, current);
        Assert.Contains("c1: 4 → 3 filters (baseline 4 → 2)", changes);
        Assert.Contains("c2: same count (3) but different filters kept: now also [5], no longer [3]", changes);
        Assert.Contains("f1: no longer compressed", changes);
        Assert.Contains(changes, c => c.StartsWith("f2: newly compressed"));
    }

    [Fact]
    public void Accept_writes_the_baseline()
    {
        using var dir = new TempDir();
        Make(("c1", 4, [0, 2])).Save(dir["recipe.json"]);
        var o = new StringWriter();
        Assert.Equal(0, PfaCli.Run(["accept", "--recipe", dir["recipe.json"], "--baseline", dir["pfa.recipe.json"]], o, new StringWriter()));
        Assert.Equal(File.ReadAllText(dir["recipe.json"]), File.ReadAllText(dir["pfa.recipe.json"]));
        Assert.Equal(2, PfaCli.Run(["accept", "--recipe", dir["missing.json"], "--baseline", dir["x.json"]], o, new StringWriter()));
    }
}

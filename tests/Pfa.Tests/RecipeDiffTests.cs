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

    /// <summary>How a recipe was reached, not what it makes: a change here alone is no drift.</summary>
    static readonly HashSet<string> Informational =
    [
        "Strategy.Energy", "Strategy.Target", "Strategy.Parameters", "Strategy.Flops", "Strategy.Measure", "Strategy.Threshold", "Strategy.Depth",
        "Strategy.Responses", "Strategy.Tau", "Strategy.KeepRatio", "Strategy.KlScale", "Strategy.Select", "Strategy.MinFilters", "Strategy.RoundTo", "Strategy.Search",
        "Strategy.Milliseconds", "Strategy.Latency", "Strategy.RoundToAuto", "Strategy.RoundToChoice", "Layer.RoundTo",
        "Layer.Kind", "Layer.Rule", "Layer.Select", "Layer.EnergyKept", "Layer.Kl", "Layer.Samples", "Layer.Inactive", "Layer.Spectrum", "Layer.Warnings", "Layer.Notes",
    ];

    static object Other(Type t, object? current) => (Nullable.GetUnderlyingType(t) ?? t) switch
    {
        var x when x == typeof(string) => (current as string) == "random" ? "selected" : current is null ? "padding" : "random",
        var x when x == typeof(int) => (current as int? ?? 0) + 7,
        var x when x == typeof(long) => (current as long? ?? 0) + 7,
        var x when x == typeof(double) => (current as double? ?? 0) + 0.25,
        var x when x == typeof(bool) => !(current as bool? ?? false),
        var x when x == typeof(int[]) => new[] { 1, 3 },
        var x when x == typeof(double[]) => new[] { 0.5, 0.5 },
        var x when x == typeof(List<string>) => new List<string> { "changed" },
        var x when x == typeof(RecipeLatency) => new RecipeLatency { Batch = 64, TargetMs = 1, MeasuredMs = 0.9 },
        var x when x == typeof(List<RecipeCandidate>) => new List<RecipeCandidate> { new() { Exponent = 0.5, Correct = 3, Samples = 4 } },
        var x when x == typeof(IReadOnlyList<RecipeRoundToOption>) => new List<RecipeRoundToOption> { new() { Multiple = 16, Widths = [16], Milliseconds = 1, Chosen = true } },
        var x => throw new InvalidOperationException($"no other value for {x}"),
    };

    [Fact]
    public void Every_field_that_shapes_the_model_is_drift_and_the_rest_is_listed_as_informational()
    {
        // A field added to the recipe must be compared or named here: drift detection cannot silently ignore it.
        var baseline = Make(("c1", 4, [0, 2])) with { Strategy = new RecipeStrategy { Name = "energy", Init = "selected", Seed = 1 } };
        foreach (var (prefix, type) in new[] { ("Strategy", typeof(RecipeStrategy)), ("Layer", typeof(RecipeLayer)) })
            foreach (var property in type.GetProperties().Where(p => p.SetMethod is not null && p.Name != nameof(RecipeLayer.Name)))
            {
                Recipe changed;
                if (prefix == "Strategy")
                {
                    var strategy = baseline.Strategy with { };
                    property.SetValue(strategy, Other(property.PropertyType, property.GetValue(strategy)));
                    changed = baseline with { Strategy = strategy };
                }
                else
                {
                    var layer = baseline.Layers[0] with { };
                    property.SetValue(layer, Other(property.PropertyType, property.GetValue(layer)));
                    changed = baseline with { Layers = [layer] };
                }
                var key = $"{prefix}.{property.Name}";
                Assert.True(Informational.Contains(key) == (RecipeDiff.Compare(baseline, changed).Count == 0),
                    Informational.Contains(key) ? $"{key} is listed as informational but is reported as drift" : $"a change of {key} is not reported as drift");
            }
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

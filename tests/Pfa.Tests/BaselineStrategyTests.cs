using System.Globalization;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Recipes.Allocation;
using Pfa.Core.Selection;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// The baselines as first-class options: <c>"strategy": "uniform"</c> (one keep ratio, the largest that fits) and
/// <c>"select": "l1" | "random"</c>, checked against brute force and hand values; and the registries against the
/// budget schema.
/// </summary>
public class BaselineStrategyTests
{
    static readonly ModelDescription Cnn = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "f1", "type": "linear", "out": 10 }, { "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    static Dictionary<string, LayerSpectrum> Flat(ChannelSpaces spaces) =>
        spaces.Prunable.ToDictionary(s => spaces.Graph.Nodes[s.Producer].Name, s => new LayerSpectrum
        {
            Layer = spaces.Graph.Nodes[s.Producer].Name, Filters = s.Channels, Samples = 100,
            Eigenvalues = Enumerable.Repeat(1.0 / s.Channels, s.Channels).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray(),
        });

    [Theory]
    [InlineData(0.5, "parameters")]
    [InlineData(0.3, "parameters")]
    [InlineData(0.18, "parameters")]
    [InlineData(0.25, "flops")]
    [InlineData(0.5, "flops")]
    public void Uniform_keeps_one_ratio_the_largest_that_fits_like_a_brute_force_scan(double target, string measure)
    {
        var graph = ModelGraph.Build(Cnn);
        var spaces = graph.Spaces;
        var budget = PfaBudget.Parse(string.Create(CultureInfo.InvariantCulture, $$"""{ "strategy": "uniform", "target": {{target}}, "measure": "{{measure}}" }"""));
        var plan = new RecipePlanner(spaces, budget, Flat(spaces)).Plan();

        // Independent: every ratio k/C of every layer, widths ⌈r·C⌉, keep the largest r that fits.
        var before = ModelCost.Of(graph);
        long Measure(ModelCost c) => measure == "parameters" ? c.Parameters : c.Macs;
        double limit = target * Measure(before);
        double best = 0;
        foreach (var s in spaces.Prunable)
            for (int k = 1; k <= s.Channels; k++)
            {
                double r = (double)k / s.Channels;
                var widths = spaces.Prunable.ToDictionary(p => p.Id, p => Math.Max(1, (int)Math.Ceiling(r * p.Channels - 1e-9)));
                if (Measure(ModelCost.Of(Widths.Apply(spaces, widths))) <= limit) best = Math.Max(best, r);
            }
        Assert.Equal(best, plan.Tau!.Value, 12);
        foreach (var l in plan.Layers)
        {
            Assert.Equal("uniform", l.Rule);
            Assert.Equal(Math.Max(1, (int)Math.Ceiling(best * l.Before - 1e-9)), l.After);
        }
        Assert.True((measure == "parameters" ? plan.ParametersAfter : plan.MacsAfter) <= limit);
    }

    [Fact]
    public void Uniform_at_half_of_a_hand_sized_model_keeps_half_of_every_layer()
    {
        // Two linear layers 4 → 8 → 8 → 2 (classifier): at ratio 1/2 the widths are 4 and 4.
        var d = ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [4], "layers": [ { "name": "a", "type": "linear", "out": 8 }, { "name": "b", "type": "linear", "out": 8 }, { "name": "out", "type": "linear", "out": 2 } ] }""");
        var spaces = ModelGraph.Build(d).Spaces;
        // Parameters: full 4·8+8 + 8·8+8 + 8·2+2 = 130; at widths (4, 4): 4·4+4 + 4·4+4 + 4·2+2 = 50; at (5, 5): 25+30+12 = 67.
        var plan = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "uniform", "parameters": 50 }"""), Flat(spaces)).Plan();
        Assert.Equal([4, 4], plan.Layers.Select(l => l.After));
        Assert.Equal(50, plan.ParametersAfter);
        Assert.Equal(0.5, plan.Tau!.Value, 12);
    }

    static LayerEvidence Evidence(Tensor weight, int seed = 1) => new("c", 0, eye(weight.shape[0], dtype: ScalarType.Float64), weight, seed);

    [Fact]
    public void L1_keeps_the_largest_weight_norms_with_ties_to_the_lower_index()
    {
        // Filter norms |W|₁: 3, 10, 1, 10, 6 (filters 1 and 3 tie).
        using var w = tensor(new float[] { 1, -2, 0, 0, 5, -5, 0.5f, 0.5f, 0, 10, 0, 0, 3, 3, 0 }, [5, 3]);
        Assert.Equal([1, 3, 4], Criteria.Get("l1").Select(Evidence(w), 3));
        Assert.Equal([1], Criteria.Get("l1").Select(Evidence(w), 1));   // the tie goes to index 1
        Assert.Equal([0, 1, 2, 3, 4], Criteria.Get("l1").Select(Evidence(w), 5));
        var noWeights = new LayerEvidence("c", 0, eye(5, dtype: ScalarType.Float64), null, 1);
        Assert.Contains("pass --weights", Assert.Throws<PfaException>(() => Criteria.Get("l1").Select(noWeights, 2)).Message);
    }

    [Fact]
    public void Random_selection_depends_on_the_seed_only()
    {
        using var w = zeros(64, 3);
        var random = Criteria.Get("random");
        var a = random.Select(Evidence(w, seed: 1), 16);
        Assert.Equal(a, random.Select(Evidence(w, seed: 1), 16));
        Assert.NotEqual(a, random.Select(Evidence(w, seed: 2), 16));
        Assert.Equal(16, a.Distinct().Count());
        Assert.Equal(a.Order(), a);
    }

    [Theory]
    [InlineData("""{ "strategy": "uniform" }""", "needs exactly one of 'target'")]
    [InlineData("""{ "strategy": "uniform", "target": 0.3, "parameters": 100 }""", "needs exactly one of 'target'")]
    [InlineData("""{ "strategy": "uniform", "parameters": 100, "measure": "flops" }""", "'measure' goes with 'target'")]
    [InlineData("""{ "strategy": "footprint", "target": 0.3, "measure": "flops" }""", "'measure' applies to strategy 'uniform', not 'footprint'")]
    [InlineData("""{ "strategy": "kl", "target": 0.3 }""", "'target' applies to strategies 'footprint', 'flops', 'latency', 'footprint-tau', 'flops-tau', 'uniform', not 'kl'")]
    [InlineData("""{ "strategy": "uniform", "target": 0.3, "measure": "bytes" }""", "'measure' must be \"parameters\" or \"flops\"")]
    [InlineData("""{ "select": "l2" }""", "unknown selection 'l2'; expected one of pearson, l1, random, variance")]
    public void Baseline_options_are_validated_with_their_location(string json, string expected)
    {
        var e = Assert.Throws<PfaException>(() => PfaBudget.Parse(json));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Editors complete pfa.json from the schema: it must offer exactly what the registries accept.</summary>
    [Fact]
    public void The_budget_schema_lists_exactly_the_registered_strategies_and_criteria()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Pfa.Testing.Repository.Root, "build", "pfa.schema.json")));
        var properties = schema.RootElement.GetProperty("properties");
        Assert.Equal(Strategies.Names, properties.GetProperty("strategy").GetProperty("enum").EnumerateArray().Select(v => v.GetString()!));
        Assert.Equal(Criteria.Names, properties.GetProperty("select").GetProperty("enum").EnumerateArray().Select(v => v.GetString()!));
        foreach (var property in Strategies.All.SelectMany(s => s.Properties).Distinct())
            Assert.True(properties.TryGetProperty(property, out _), $"the schema lacks '{property}'");
    }
}

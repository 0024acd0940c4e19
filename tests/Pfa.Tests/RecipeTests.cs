using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Tests;

public class RecipeTests
{
    [Fact]
    public void Energy_count_is_the_smallest_k_reaching_tau()
    {
        double[] cumulative = [0.5, 0.8, 0.95, 1.0];
        Assert.Equal(1, RecipePlanner.EnergyCount(cumulative, 0.5));
        Assert.Equal(2, RecipePlanner.EnergyCount(cumulative, 0.51));
        Assert.Equal(3, RecipePlanner.EnergyCount(cumulative, 0.95));
        Assert.Equal(4, RecipePlanner.EnergyCount(cumulative, 0.99));
        Assert.Equal(4, RecipePlanner.EnergyCount(cumulative, 1.0));
    }

    [Fact]
    public void Kl_recipe_matches_hand_computed_values()
    {
        // Uniform: KL = 0 → keep all. Dirac: KL = ln C → γ = 0 → keep 1.
        Assert.Equal(4, RecipePlanner.KlCount([0.25, 0.25, 0.25, 0.25]));
        Assert.Equal(1, RecipePlanner.KlCount([1, 0, 0, 0]));
        // λ = (0.5, 0.5, 0, 0): KL = ln 2, ln C = ln 4 → γ = 0.5 → ⌈0.5·4⌉ = 2.
        Assert.Equal(Math.Log(2), RecipePlanner.KlDivergence([0.5, 0.5, 0, 0]), 12);
        Assert.Equal(2, RecipePlanner.KlCount([0.5, 0.5, 0, 0]));
        // λ = (0.7, 0.2, 0.1) on C = 3: KL = 0.7 ln 2.1 + 0.2 ln 0.6 + 0.1 ln 0.3 = 0.29679…; γ = 1 − 0.29679/ln 3 = 0.7298 → ⌈2.19⌉ = 3.
        double kl = 0.7 * Math.Log(2.1) + 0.2 * Math.Log(0.6) + 0.1 * Math.Log(0.3);
        Assert.Equal(kl, RecipePlanner.KlDivergence([0.7, 0.2, 0.1]), 12);
        Assert.Equal(0.29679, RecipePlanner.KlDivergence([0.7, 0.2, 0.1]), 5);
        Assert.Equal(3, RecipePlanner.KlCount([0.7, 0.2, 0.1]));
        Assert.Equal(1, RecipePlanner.KlCount([1]));
    }

    static ModelDescription Cnn() => ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 },
      { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1 },
      { "type": "relu" }, { "type": "maxpool2d", "kernel": 2 },
      { "type": "flatten" },
      { "name": "f1", "type": "linear", "out": 10 }, { "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    static Dictionary<string, LayerSpectrum> RandomSpectra(ChannelSpaces spaces, int seed)
    {
        var rng = new Random(seed);
        return spaces.Prunable.ToDictionary(s => spaces.Graph.Nodes[s.Producer].Name, s =>
        {
            var raw = Enumerable.Range(0, s.Channels).Select(i => Math.Pow(rng.NextDouble(), 3) + 1e-3).OrderDescending().ToArray();
            double sum = raw.Sum();
            return new LayerSpectrum { Layer = spaces.Graph.Nodes[s.Producer].Name, Filters = s.Channels, Samples = 100, Eigenvalues = raw.Select(v => v / sum).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray() };
        });
    }

    [Fact]
    public void Analysed_layers_are_every_prunable_producer_but_the_classifier()
    {
        var spaces = ModelGraph.Build(Cnn()).Spaces;
        Assert.Equal(["c1", "c2", "f1"], RecipePlanner.AnalysedLayers(spaces, BudgetFile.Default));
        Assert.Equal(["c1", "f1"], RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("""{ "exclude": ["c2"] }""")));
        Assert.Equal(["c2", "f1"], RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("""{ "include": ["f1", "c2"] }""")));
        // A layer both included and excluded is a contradiction, not a silent exclusion.
        Assert.Contains("both in 'include' and in 'exclude'", Assert.Throws<PfaException>(() => RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("""{ "include": ["c2", "f1"], "exclude": ["f1"] }"""))).Message);
        Assert.Contains("in 'include' and has \"exclude\": true", Assert.Throws<PfaException>(() => RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("""{ "include": ["c2", "f1"], "layers": { "f1": { "exclude": true } } }"""))).Message);
        var e = Assert.Throws<PfaException>(() => RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("{\n \"exclude\": [\"out\"]\n}")));
        Assert.Contains("model output", e.Message);
        Assert.Equal(2, e.Line);
        Assert.Contains("no layer 'nope'", Assert.Throws<PfaException>(() => RecipePlanner.AnalysedLayers(spaces, PfaBudget.Parse("""{ "layers": { "nope": { "keep": 2 } } }"""))).Message);
    }

    [Theory]
    [InlineData("footprint-tau", 0.5, 1)]
    [InlineData("footprint-tau", 0.3, 2)]
    [InlineData("flops-tau", 0.4, 3)]
    [InlineData("flops-tau", 0.75, 4)]
    public void The_papers_tau_search_finds_the_largest_fitting_tau_like_a_brute_force_scan(string strategy, double target, int seed)
    {
        var graph = ModelGraph.Build(Cnn());
        var spaces = graph.Spaces;
        var spectra = RandomSpectra(spaces, seed);
        var budget = PfaBudget.Parse($$"""{ "strategy": "{{strategy}}", "target": {{target.ToString(System.Globalization.CultureInfo.InvariantCulture)}} }""");
        var plan = new RecipePlanner(spaces, budget, spectra).Plan();

        // Independent: evaluate every candidate τ (all cumulative energies) with plain PFA-En and keep the best.
        var before = ModelCost.Of(graph);
        long Measure(ModelCost c) => strategy == "footprint-tau" ? c.Parameters : c.Macs;
        double limit = target * Measure(before);
        double best = double.NaN;
        foreach (var tau in spectra.Values.SelectMany(s => s.CumulativeEnergy()).Append(1.0).Distinct().Order())
        {
            var widths = spaces.Prunable.ToDictionary(s => s.Id, s =>
            {
                var c = spectra[graph.Nodes[s.Producer].Name].CumulativeEnergy();
                return Enumerable.Range(0, c.Length).First(k => c[k] >= tau - 1e-12) + 1;
            });
            if (Measure(ModelCost.Of(Widths.Apply(spaces, widths))) <= limit) best = tau;
        }
        Assert.Equal(best, plan.Tau!.Value, 15);
        Assert.True((strategy == "footprint-tau" ? plan.ParametersAfter : plan.MacsAfter) <= limit);
    }

    [Theory]
    [InlineData("footprint", 0.5, 1)]
    [InlineData("footprint", 0.3, 2)]
    [InlineData("footprint", 0.18, 5)]
    [InlineData("flops", 0.4, 3)]
    [InlineData("flops", 0.25, 4)]
    public void Default_footprint_and_flops_scale_the_kl_shape_to_the_largest_fitting_scale_like_a_brute_force_scan(string strategy, double target, int seed)
    {
        var graph = ModelGraph.Build(Cnn());
        var spaces = graph.Spaces;
        var spectra = RandomSpectra(spaces, seed);
        var budget = PfaBudget.Parse($$"""{ "strategy": "{{strategy}}", "target": {{target.ToString(System.Globalization.CultureInfo.InvariantCulture)}} }""");
        var plan = new RecipePlanner(spaces, budget, spectra).Plan();

        // Independent: γ = 1 − KL(λ‖u)/ln C by hand; every scale s = k/(γC) where a count changes; widths
        // ⌈min(1, s·γ)·C⌉; keep the largest s that fits.
        double Gamma(double[] l) => Math.Clamp(1 - l.Where(v => v > 0).Sum(v => v * Math.Log(v * l.Length)) / Math.Log(l.Length), 1.0 / l.Length, 1);
        var gamma = spaces.Prunable.ToDictionary(s => s.Id, s => Gamma(spectra[graph.Nodes[s.Producer].Name].Eigenvalues));
        long Measure(ModelCost c) => strategy == "footprint" ? c.Parameters : c.Macs;
        double limit = target * Measure(ModelCost.Of(graph));
        Dictionary<int, int> At(double scale) => spaces.Prunable.ToDictionary(s => s.Id, s => Math.Max(1, (int)Math.Ceiling(Math.Min(1, scale * gamma[s.Id]) * s.Channels - 1e-9)));
        var fitting = spaces.Prunable.SelectMany(s => Enumerable.Range(1, s.Channels).Select(k => k / (gamma[s.Id] * s.Channels)))
            .Where(scale => Measure(ModelCost.Of(Widths.Apply(spaces, At(scale)))) <= limit).ToList();
        var expected = At(fitting.Max());
        foreach (var l in plan.Layers)
        {
            var space = spaces.Prunable.Single(s => graph.Nodes[s.Producer].Name == l.Layer);
            Assert.Equal(expected[space.Id], l.After);
            Assert.Equal("kl-scaled", l.Rule);
        }
        Assert.True((strategy == "footprint" ? plan.ParametersAfter : plan.MacsAfter) <= limit);
    }

    [Theory]
    [InlineData("""{ "strategy": "footprint", "target": 0.3 }""", "footprint-tau,uniform,kl", false)]
    [InlineData("""{ "strategy": "flops", "target": 0.4 }""", "flops-tau,uniform,kl", true)]
    [InlineData("""{ }""", "footprint,footprint-tau,uniform", false)]
    public void The_report_compares_other_strategies_at_the_size_the_recipe_reached(string json, string expected, bool macs)
    {
        var spaces = ModelGraph.Build(Cnn()).Spaces;
        var spectra = RandomSpectra(spaces, 3);
        var budget = PfaBudget.Parse(json);
        var plan = new RecipePlanner(spaces, budget, spectra).Plan();
        var totals = new RecipeTotals { ParametersBefore = plan.ParametersBefore, ParametersAfter = plan.ParametersAfter, MacsBefore = plan.MacsBefore, MacsAfter = plan.MacsAfter };
        var alternatives = Alternatives.AtSameSize(spaces, budget, spectra, totals);
        Assert.Equal(expected.Split(','), alternatives.Select(a => a.Strategy));
        foreach (var a in alternatives.Where(a => a.Strategy != "kl"))
        {
            Assert.Null(a.Unreachable);
            Assert.True(macs ? a.Macs <= plan.MacsAfter : a.Parameters <= plan.ParametersAfter, $"{a.Strategy} exceeds the recipe's size");
            // Each alternative is exactly that strategy's own plan at that size.
            var own = PfaBudget.Parse(macs ? $$"""{ "strategy": "{{a.Strategy}}", "flops": {{2 * plan.MacsAfter}} }""" : $$"""{ "strategy": "{{a.Strategy}}", "parameters": {{plan.ParametersAfter}} }""");
            Assert.Equal(new RecipePlanner(spaces, own, spectra).Plan().Layers.Select(l => l.After), plan.Layers.Select(l => a.Widths[l.Layer]));
        }
    }

    [Fact]
    public void Footprint_at_the_kl_recipes_own_size_is_the_kl_recipe()
    {
        var spaces = ModelGraph.Build(Cnn()).Spaces;
        var spectra = RandomSpectra(spaces, 7);
        var kl = new RecipePlanner(spaces, BudgetFile.Default, spectra).Plan();
        var footprint = new RecipePlanner(spaces, PfaBudget.Parse($$"""{ "strategy": "footprint", "parameters": {{kl.ParametersAfter}} }"""), spectra).Plan();
        Assert.Equal(kl.Layers.Select(l => l.After), footprint.Layers.Select(l => l.After));
    }

    [Fact]
    public void Unreachable_target_names_the_smallest_possible_model()
    {
        var spaces = ModelGraph.Build(Cnn()).Spaces;
        var budget = PfaBudget.Parse("""{ "strategy": "footprint-tau", "parameters": 10 }""");
        var e = Assert.Throws<PfaException>(() => new RecipePlanner(spaces, budget, RandomSpectra(spaces, 1)).Plan());
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains("cannot be met", e.Message);
    }

    [Fact]
    public void Overrides_and_minimums_apply_per_layer()
    {
        var spaces = ModelGraph.Build(Cnn()).Spaces;
        var spectra = RandomSpectra(spaces, 5);
        var budget = PfaBudget.Parse("""{ "strategy": "energy", "energy": 0.2, "min_filters": 3, "layers": { "c2": { "keep": 5 }, "f1": { "min_filters": 7 } } }""");
        var plan = new RecipePlanner(spaces, budget, spectra).Plan().Layers.ToDictionary(l => l.Layer);
        Assert.Equal(5, plan["c2"].After);
        Assert.Equal("keep", plan["c2"].Rule);
        // Expected counts by hand from the spectra: PFA-En at τ = 0.2, then raised to the minimum.
        int At(string layer, double tau) { double sum = 0; var l = spectra[layer].Eigenvalues; for (int k = 0; k < l.Length; k++) if ((sum += l[k]) >= tau - 1e-12) return k + 1; return l.Length; }
        Assert.Equal(Math.Max(3, At("c1", 0.2)), plan["c1"].After);
        Assert.Equal(Math.Max(7, At("f1", 0.2)), plan["f1"].After);
        Assert.Equal(7, plan["f1"].After);               // the spectra make 0.2 cheap: the minimum decides
        Assert.Equal("min_filters", plan["f1"].Rule);

        // A per-layer energy overrides the strategy's τ for that layer only.
        var own = PfaBudget.Parse("""{ "strategy": "energy", "energy": 0.2, "layers": { "c2": { "energy": 0.9 } } }""");
        var ownPlan = new RecipePlanner(spaces, own, spectra).Plan().Layers.ToDictionary(l => l.Layer);
        Assert.Equal(At("c2", 0.9), ownPlan["c2"].After);
        Assert.Equal("energy 0.9", ownPlan["c2"].Rule);
        Assert.Equal(At("c1", 0.2), ownPlan["c1"].After);
        Assert.True(ownPlan["c2"].After > At("c2", 0.2));
    }

    [Theory]
    [InlineData("""{ "strategy": "magic" }""", "unknown strategy", 1)]
    [InlineData("{\n  \"strategy\": \"energy\",\n  \"energy\": 1.5\n}", "must be in (0, 1]", 3)]
    [InlineData("{\n  \"strategy\": \"footprint\",\n  \"target\": 0\n}", "must be in (0, 1]", 3)]
    [InlineData("""{ "strategy": "footprint" }""", "exactly one of", 1)]
    [InlineData("{\n \"tolerance\": -1\n}", "must be ≥ 0", 2)]
    [InlineData("""{ "init": "zeros" }""", "'init'", 1)]
    public void Invalid_budgets_name_line_and_reason(string json, string reason, int line)
    {
        var e = Assert.Throws<PfaException>(() => PfaBudget.Parse(json));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains(reason, e.Message);
        Assert.Equal(line, e.Line);
    }

    [Fact]
    public void Empty_budget_is_parameter_free_kl()
    {
        var b = PfaBudget.Parse("{}").Budget;
        Assert.Equal("kl", b.Strategy);
        Assert.Equal(1, b.MinFilters);
    }
}

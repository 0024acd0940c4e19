using System.Globalization;
using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Tests;

/// <summary><c>round_to</c>: hardware-friendly widths inside the exact search, so targets still hold.</summary>
public class RoundToTests
{
    static readonly ModelDescription Cnn = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 20, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 30, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "f1", "type": "linear", "out": 6 }, { "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    static Dictionary<string, LayerSpectrum> Spectra(ChannelSpaces spaces, int seed)
    {
        var rng = new Random(seed);
        return spaces.Prunable.ToDictionary(s => spaces.Graph.Nodes[s.Producer].Name, s =>
        {
            var raw = Enumerable.Range(0, s.Channels).Select(_ => Math.Pow(rng.NextDouble(), 4) + 1e-4).OrderDescending().ToArray();
            return new LayerSpectrum { Layer = spaces.Graph.Nodes[s.Producer].Name, Filters = s.Channels, Samples = 100, Eigenvalues = raw.Select(v => v / raw.Sum()).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray() };
        });
    }

    [Theory]
    [InlineData(0.5, 8, 1)]
    [InlineData(0.6, 16, 2)]
    [InlineData(0.7, 4, 3)]
    public void Footprint_with_round_to_keeps_multiples_and_the_largest_fitting_tau(double target, int m, int seed)
    {
        var graph = ModelGraph.Build(Cnn);
        var spaces = graph.Spaces;
        var spectra = Spectra(spaces, seed);
        var budget = PfaBudget.Parse(string.Create(CultureInfo.InvariantCulture, $$"""{ "strategy": "footprint-tau", "target": {{target}}, "round_to": {{m}} }"""));
        var plan = new RecipePlanner(spaces, budget, spectra).Plan();
        foreach (var l in plan.Layers) Assert.True(l.After % m == 0 || l.After == l.Before, $"{l.Layer}: {l.After} is neither a multiple of {m} nor the width {l.Before}");

        // Independent: every τ among the cumulative energies, PFA-En counts rounded up to m (capped), keep the largest that fits.
        double limit = target * ModelCost.Of(graph).Parameters;
        double best = double.NaN;
        foreach (var tau in spectra.Values.SelectMany(s => s.CumulativeEnergy()).Append(1.0).Distinct().Order())
        {
            var widths = spaces.Prunable.ToDictionary(s => s.Id, s =>
            {
                var c = spectra[graph.Nodes[s.Producer].Name].CumulativeEnergy();
                int k = Enumerable.Range(0, c.Length).First(i => c[i] >= tau - 1e-12) + 1;
                return Math.Min(s.Channels, (k + m - 1) / m * m);
            });
            if (ModelCost.Of(Widths.Apply(spaces, widths)).Parameters <= limit) best = tau;
        }
        Assert.Equal(best, plan.Tau!.Value, 15);
        Assert.True(plan.ParametersAfter <= limit);
    }

    [Fact]
    public void Round_to_is_recorded_and_validated()
    {
        var spaces = ModelGraph.Build(Cnn).Spaces;
        var plan = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "uniform", "target": 0.4, "round_to": 8 }"""), Spectra(spaces, 1)).Plan();
        Assert.All(plan.Layers, l => Assert.True(l.After % 8 == 0 || l.After == l.Before));
        var tooTight = Assert.Throws<PfaException>(() => new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.3, "round_to": 16 }"""), Spectra(spaces, 2)).Plan());
        Assert.Contains("lower min_filters or round_to", tooTight.Message);
        var e = Assert.Throws<PfaException>(() => PfaBudget.Parse("{\n  \"round_to\": 0\n}"));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Equal(2, e.Line);
    }
}

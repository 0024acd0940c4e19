using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Selection;
using static TorchSharp.torch;

namespace Pfa.Bench;

/// <summary>
/// Selection study (issue 21): the variance criterion reads the covariance of a conv's output before its batch norm,
/// but the next layer sees that output scaled per channel by the batch norm's |γ|/√(running var + ε) — a channel with
/// a large pre-norm variance and a small γ matters little. This re-selects a recipe's kept filters by greedy explained
/// variance of D·C·D (D the batch norm's gains) for every single-producer space followed by a batch norm; residual
/// groups (observed after their sums) and grouped spaces keep their selection. Widths are unchanged.
/// </summary>
public static class BnScaledVariance
{
    public static Recipe Reselect(PfaNetwork network, AnalysisResult analysis, BudgetFile budget, Recipe recipe)
    {
        var graph = network.Graph;
        var spaces = graph.SpacesFor(budget.Budget.ResidualMode).Prunable.ToDictionary(s => s.Name);
        var parameters = network.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var buffers = network.named_buffers().ToDictionary(p => p.name, p => p.buffer);
        var observe = new CollectOptions { PreActivation = true };
        var criterion = new VarianceCriterion();
        var layers = recipe.Layers.Select((l, position) =>
        {
            var space = spaces[l.Name];
            if (space.Shared || space.Granule > 1 || l.FiltersAfter >= l.FiltersBefore) return l;
            var producer = graph.Nodes[space.Producer];
            int bn = observe.ObservedNode(graph, producer);
            if (bn == producer.Index) return l;
            var name = graph.Nodes[bn].Name;
            using var scope = NewDisposeScope();
            var gain = parameters[name + ".weight"].detach().to_type(ScalarType.Float64).abs() / (buffers[name + ".running_var"].to_type(ScalarType.Float64) + (graph.Nodes[bn].Spec.Eps ?? 1e-5)).sqrt();
            var cov = analysis.Statistics[l.Name].Covariance().to_type(ScalarType.Float64);
            var scaled = gain.unsqueeze(1) * cov * gain.unsqueeze(0);
            return l with { Kept = criterion.Select(new LayerEvidence(l.Name, position, scaled, null, budget.Budget.Seed), l.FiltersAfter) };
        }).ToList();
        return recipe with { Layers = layers };
    }
}

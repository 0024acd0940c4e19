using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Core.Recipes;

/// <summary>What another strategy would keep per layer at the size a recipe reached.</summary>
public sealed record Alternative(string Strategy, IReadOnlyDictionary<string, int> Widths, long Parameters, long Macs, string? Unreachable);

/// <summary>
/// The per-layer widths other strategies give at the same size as the chosen recipe — in the report, so a user
/// sees why one wins (a shared τ starving one layer shows up as a single tiny width). Recipes need no data
/// pass, so this costs a few plans. Sizes are matched on the measure the budget targets (MACs for flops
/// targets, parameters otherwise); PFA-KL, which has no target, is shown at its own size. Per-layer settings
/// (keep, min_filters, round_to, include/exclude) apply to every alternative.
/// </summary>
public static class Alternatives
{
    public static IReadOnlyList<Alternative> AtSameSize(ChannelSpaces spaces, BudgetFile budget, IReadOnlyDictionary<string, LayerSpectrum> spectra, RecipeTotals plan)
    {
        var b = budget.Budget;
        var target = Allocation.Strategies.Get(b.Strategy).Target?.Invoke(b, plan.ParametersBefore, plan.MacsBefore);
        bool macs = target?.Measure == Allocation.TargetMeasure.Macs;
        var generic = b with { Energy = null, Target = null, Parameters = null, Flops = null, Measure = null };
        var options = macs
            ? new[] { generic with { Strategy = "flops", Flops = 2 * plan.MacsAfter }, generic with { Strategy = "flops-tau", Flops = 2 * plan.MacsAfter }, generic with { Strategy = "uniform", Flops = 2 * plan.MacsAfter }, generic with { Strategy = "kl" } }
            : [generic with { Strategy = "footprint", Parameters = plan.ParametersAfter }, generic with { Strategy = "footprint-tau", Parameters = plan.ParametersAfter }, generic with { Strategy = "uniform", Parameters = plan.ParametersAfter }, generic with { Strategy = "kl" }];
        return options.Where(o => o.Strategy != b.Strategy).Select(o =>
        {
            try
            {
                var p = new RecipePlanner(spaces, budget with { Budget = o }, spectra).Plan();
                return new Alternative(o.Strategy, p.Layers.ToDictionary(l => l.Layer, l => l.After), p.ParametersAfter, p.MacsAfter, null);
            }
            catch (PfaException e)
            {
                return new Alternative(o.Strategy, new Dictionary<string, int>(), 0, 0, e.Message);
            }
        }).ToList();
    }
}

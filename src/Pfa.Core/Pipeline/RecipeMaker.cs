using System.Security.Cryptography;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Json;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Selection;
using Pfa.Core.Surgery;

namespace Pfa.Core.Pipeline;

/// <summary>Plan (how many filters) + selection (which filters) = recipe.json.</summary>
public static class RecipeMaker
{
    /// <param name="weightOf">A layer's trained weight, for criteria that read weights (l1); null when unavailable.</param>
    public static Recipe Make(ModelDescription model, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes, Func<string, TorchSharp.torch.Tensor?>? weightOf = null) =>
        Make(ModelGraph.Build(model), analysis, budget, statsBytes, weightOf);

    /// <param name="graph">The model's graph (its spaces are built once and shared with surgery).</param>
    /// <param name="allocation">Another per-layer shape for the strategy (a candidate of <see cref="CandidateSearch"/>), or null.</param>
    /// <param name="select">Another selection criterion than the budget's (a candidate of <see cref="CandidateSearch"/>), or null.</param>
    /// <param name="removedBlocks">Identity residual blocks removed whole (a depth candidate of <see cref="CandidateSearch"/>), or null.</param>
    /// <param name="latency">The latency model a latency target is planned with (default: measured on this machine).</param>
    public static Recipe Make(ModelGraph graph, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes, Func<string, TorchSharp.torch.Tensor?>? weightOf = null,
        Recipes.Allocation.ILayerAllocation? allocation = null, string? select = null, IReadOnlyList<string>? removedBlocks = null, Metrics.ILatencyModel? latency = null)
    {
        var model = graph.Description;
        var spaces = graph.SpacesFor(budget.Budget.ResidualMode);
        var analysed = spaces.Prunable.ToDictionary(s => s.Name);
        var spectra = analysis.Spectra.ByLayer();
        var b = budget.Budget;
        var registered = Recipes.Allocation.Strategies.Get(b.Strategy);
        var strategy = allocation is null ? registered : registered with { Allocation = allocation };
        strategy.Applies?.Invoke(graph, budget);
        if (analysis.Sampling != strategy.Sampling)
            throw budget.Error("$.strategy", strategy.Sampling == Analysis.Sampling.Positions
                ? $"strategy '{b.Strategy}' needs per-position statistics (Garg et al. §III-B), but these were collected for PFA (one pooled response per sample). Run 'dotnet pfa analyze' with this budget."
                : $"strategy '{b.Strategy}' needs PFA's pooled statistics, but these were collected per position for 'garg'. Run 'dotnet pfa analyze' with this budget.");
        var plan = new RecipePlanner(spaces, budget, spectra, allocation, latency, removedBlocks: removedBlocks).Plan();
        var criterion = Criteria.Get(select ?? b.Select ?? strategy.DefaultSelect);
        if (criterion.NeedsWeights && weightOf is null)
            throw budget.Error("$.select", $"selection '{criterion.Name}' reads the trained weights: pass --weights (the 'recipe' verb), or use 'compress'.");
        // The searched knob, recorded under its own name (τ, keep ratio or KL scale).
        double? Knob(string name) => plan.Tau is { } t && strategy.Searches && strategy.Allocation.Knob == name && double.IsFinite(strategy.Allocation.KnobValue(t)) ? Math.Round(strategy.Allocation.KnobValue(t), 6) : null;   // t = 1 keeps everything: no finite scale
        // Garg et al. §III-D: the conv layers whose significant dimensions do not grow are dropped.
        var dropped = strategy.DesignsModel ? Recipes.Design.GargDesign.Dropped(graph, plan.Layers, b).ToDictionary(d => d.Layer) : [];
        // Variance selection hands the layer before the last of each residual branch to ℓ1 when the weights are at hand
        // (ResidualBranches: it fine-tuned better there); without them (the recipe verb without --weights) variance stays.
        var beforeLast = criterion is VarianceCriterion && weightOf is not null ? ResidualBranches.BeforeLast(graph) : [];
        var layers = plan.Layers.Select((l, position) =>
        {
            var spectrum = spectra[l.Layer];
            var space = analysed[l.Layer];
            var layerCriterion = !space.Shared && beforeLast.Contains(space.Producer) ? Criteria.Get(Criteria.BeforeLastOfBranch) : criterion;
            int[] kept;
            using (var cov = analysis.Statistics[l.Layer].Covariance())
            using (var weight = weightOf is null ? null : WeightOf(space, graph, weightOf))
            {
                kept = layerCriterion.Select(new LayerEvidence(l.Layer, position, cov, weight, b.Seed), l.After);
                if (space.Granule > 1) kept = WholeGroups(kept, space.Granule, l.After, cov);
            }
            return new RecipeLayer
            {
                Name = l.Layer,
                Kind = graph.Nodes.First(n => n.Name == l.Layer).Type,
                Shared = space.Shared ? space.Producers.Select(p => graph.Nodes[p].Name).ToList() : null,
                FiltersBefore = l.Before,
                FiltersAfter = l.After,
                Rule = l.Rule,
                Select = layerCriterion != criterion ? layerCriterion.Name : null,
                Kept = kept,
                EnergyKept = Math.Round(l.EnergyKept, 6),
                Kl = l.Kl is { } kl ? Math.Round(kl, 6) : null,
                Samples = spectrum.Samples,
                Inactive = spectrum.Inactive,
                Spectrum = spectrum.Eigenvalues.Select(v => Math.Round(v, 6)).ToArray(),
                Warnings = spectrum.Warnings.Count > 0 ? spectrum.Warnings : null,
                Notes = spectrum.Notes.Count > 0 ? spectrum.Notes : null,
                Dropped = dropped.GetValueOrDefault(l.Layer)?.Reason,
                RoundTo = l.RoundTo,
            };
        }).ToList();
        // With layers dropped, the totals are those of the designed model.
        long parametersAfter = plan.ParametersAfter, macsAfter = plan.MacsAfter;
        if (dropped.Count > 0)
        {
            var designed = Metrics.ModelCost.Of(Recipes.Design.GargDesign.Designed(graph, new Recipe { Layers = layers }));
            (parametersAfter, macsAfter) = (designed.Parameters, designed.Macs);
        }
        return new Recipe
        {
            Tool = Recipe.ToolVersion,
            InputHash = Hash(model, statsBytes, b),
            Model = model.Name ?? "",
            Classes = model.Classes,
            Strategy = new RecipeStrategy
            {
                Name = b.Strategy, Energy = b.Energy, Target = b.Target, Parameters = b.Parameters, Flops = b.Flops, Milliseconds = b.Milliseconds, Measure = b.Measure,
                Latency = plan.Latency,
                RoundToChoice = plan.RoundToChoice,
                Threshold = strategy.DesignsModel ? b.Threshold ?? Recipes.Design.GargDesign.DefaultThreshold : null,
                Depth = strategy.DesignsModel ? b.Depth ?? true : null,
                Responses = strategy.DesignsModel ? b.Responses ?? "pre_activation" : null,
                Tau = Knob("tau"),
                KeepRatio = Knob("keep_ratio"),
                KlScale = Knob("kl_scale"),
                Select = criterion.Name != Criteria.Default ? criterion.Name : null,
                MinFilters = b.MinFilters, RoundTo = b.RoundTo?.Fixed, RoundToAuto = b.RoundTo?.Auto == true ? true : null, Init = b.EffectiveInit, Seed = b.Seed,
                Residual = graph.HasResidual ? ResidualModes.Name(b.ResidualMode) : null,
            },
            Totals = new RecipeTotals
            {
                ParametersBefore = plan.ParametersBefore, ParametersAfter = parametersAfter,
                MacsBefore = plan.MacsBefore, MacsAfter = macsAfter,
                ParametersPercent = Math.Round(100.0 * parametersAfter / plan.ParametersBefore, 2),
                MacsPercent = plan.MacsBefore == 0 ? 100 : Math.Round(100.0 * macsAfter / plan.MacsBefore, 2),
            },
            Layers = layers,
            RemovedBlocks = removedBlocks is { Count: > 0 } ? [.. removedBlocks] : null,
        };
    }

    /// <summary>A grouped conv reads the space, so whole groups of <paramref name="granule"/> channels are kept: the
    /// groups holding most of the criterion's choice, ties → more response variance, then the lower group.</summary>
    static int[] WholeGroups(int[] selected, int granule, int keep, TorchSharp.torch.Tensor covariance)
    {
        var variance = covariance.diagonal().to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
        int groups = variance.Length / granule;
        var chosen = selected.ToHashSet();
        return Enumerable.Range(0, groups)
            .OrderByDescending(j => Enumerable.Range(j * granule, granule).Count(chosen.Contains))
            .ThenByDescending(j => Enumerable.Range(j * granule, granule).Sum(c => variance[c]))
            .ThenBy(j => j)
            .Take(keep / granule).Order().SelectMany(j => Enumerable.Range(j * granule, granule)).ToArray();
    }

    /// <summary>The weights a space's kept channels are rows of: its producer's, or for a residual group every
    /// producer's rows side by side ([C, Σ fan-in]; an ℓ1 norm then sums over the group, as Torch-Pruning's group
    /// importance does). A copy the caller disposes.</summary>
    static TorchSharp.torch.Tensor? WeightOf(ChannelSpace space, ModelGraph graph, Func<string, TorchSharp.torch.Tensor?> weightOf)
    {
        var rows = space.Producers.Select(p => weightOf(graph.Nodes[p].Name)).ToList();
        if (rows.Any(w => w is null)) return null;
        return TorchSharp.torch.cat(rows.Select(w => w!.reshape(space.Channels, -1)).ToList(), 1);
    }

    /// <summary>SHA-256 over the canonical description, the statistics bytes and the canonical budget.</summary>
    static string Hash(ModelDescription model, byte[] statsBytes, PfaBudget budget)
    {
        using var sha = SHA256.Create();
        // Defaults written out (init) so that a budget means the same bytes whether or not it spells them.
        var canonicalBudget = JsonFiles.Serialize(budget with { SchemaUrl = null, Init = budget.EffectiveInit });
        var bytes = Encoding.UTF8.GetBytes(model.ToJson()).Concat(statsBytes).Concat(Encoding.UTF8.GetBytes(canonicalBudget)).ToArray();
        return "sha256:" + Convert.ToHexStringLower(sha.ComputeHash(bytes));
    }
}

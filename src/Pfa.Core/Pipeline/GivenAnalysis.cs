using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Recipes;

namespace Pfa.Core.Pipeline;

/// <summary>
/// <c>compress --analysis DIR</c>: an analysis made beforehand — typically the merge of a CI matrix's shards — used
/// instead of a second pass over the data. It must be of this model under this budget (the same analysed layers,
/// widths and sampling) and of all the data, not one part.
/// </summary>
public static class GivenAnalysis
{
    public static AnalysisResult Load(string folder, PfaNetwork network, BudgetFile budget, Dataset train, Action<string> log)
    {
        var analysis = AnalysisResult.Load(folder);
        try
        {
            if (analysis.Data?.Shard is { } shard)
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{folder}' holds the analysis of part {shard} only; merge all {shard.Count} parts first ('dotnet pfa merge') and pass the merged folder.", folder);
            var spaces = network.Graph.SpacesFor(budget.Budget.ResidualMode);
            var expected = RecipePlanner.AnalysedSpaces(spaces, budget).ToDictionary(s => s.Name, s => s.Channels);
            var found = analysis.Statistics.ToDictionary(kv => kv.Key, kv => (int)kv.Value.Channels);
            if (!expected.Keys.ToHashSet().SetEquals(found.Keys))
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{folder}' analysed layers {string.Join(", ", found.Keys)}, but this model under this budget analyses {string.Join(", ", expected.Keys)}; analyse with the same model, budget and residual mode.", folder);
            foreach (var (layer, width) in expected)
                if (found[layer] != width)
                    throw new PfaException(ErrorCodes.InvalidArgument, $"layer '{layer}' has {found[layer]} filters in '{folder}' but {width} in the model; the analysis is of another model.", folder);
            var sampling = Recipes.Allocation.Strategies.Get(budget.Budget.Strategy).Sampling;
            if (analysis.Sampling != sampling)
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{folder}' holds {analysis.Sampling} statistics but '{budget.Budget.Strategy}' needs {sampling} ones; analyse with this budget.", folder);
            long samples = analysis.Statistics.Values.First().Count;
            log(analysis.Data is { } d
                ? $"analysis: {folder} ({d}{(train.Selection is { } t && t.Fingerprint != d.Fingerprint ? $"; note: not the {t.Samples:N0} samples compress fine-tunes on" : "")})"
                : $"analysis: {folder} ({samples:N0} samples)");
            return analysis;
        }
        catch
        {
            analysis.Dispose();
            throw;
        }
    }
}

using System.Globalization;

namespace Pfa.Core.Recipes;

/// <summary>
/// What changed between a committed baseline recipe and a new one — everything that changes the model the recipe
/// makes: the strategy, the initialisation (selected filters or random, and the seed, which also seeds fine-tuning),
/// the residual mode, the analysed layers, and per layer the filter counts, the kept indices, the members of a
/// shared channel group and whether a layer is dropped. How a recipe was reached (knobs, spectra, energies, the
/// input hash, the tool version) is not compared: retraining changes it without changing the architecture.
/// <c>RecipeDiffTests</c> checks each field is either compared or listed as informational.
/// </summary>
public static class RecipeDiff
{
    public static IReadOnlyList<string> Compare(Recipe baseline, Recipe current)
    {
        var changes = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (baseline.Strategy.Name != current.Strategy.Name)
            changes.Add($"strategy: {baseline.Strategy.Name} → {current.Strategy.Name}");
        if (baseline.Strategy.Init != current.Strategy.Init)
            changes.Add($"init: {baseline.Strategy.Init} → {current.Strategy.Init}");
        if (baseline.Strategy.Seed != current.Strategy.Seed)
            changes.Add(string.Create(inv, $"seed: {baseline.Strategy.Seed} → {current.Strategy.Seed}"));
        if (baseline.Strategy.Residual != current.Strategy.Residual)
            changes.Add($"residual: {baseline.Strategy.Residual ?? "none"} → {current.Strategy.Residual ?? "none"}");
        if (!(baseline.Classes ?? []).SequenceEqual(current.Classes ?? []))
            changes.Add($"classifier outputs: {(current.Classes is { } c ? $"classes [{string.Join(", ", c)}]" : "all")} (baseline {(baseline.Classes is { } bc ? $"classes [{string.Join(", ", bc)}]" : "all")})");
        var before = baseline.Layers.ToDictionary(l => l.Name);
        var after = current.Layers.ToDictionary(l => l.Name);
        foreach (var name in before.Keys.Except(after.Keys)) changes.Add($"{name}: no longer compressed");
        foreach (var name in after.Keys.Except(before.Keys)) changes.Add($"{name}: newly compressed ({after[name].FiltersBefore} → {after[name].FiltersAfter})");
        foreach (var l in current.Layers.Where(l => before.ContainsKey(l.Name)))
        {
            var b = before[l.Name];
            if (b.FiltersBefore != l.FiltersBefore || b.FiltersAfter != l.FiltersAfter)
                changes.Add(string.Create(inv, $"{l.Name}: {l.FiltersBefore} → {l.FiltersAfter} filters (baseline {b.FiltersBefore} → {b.FiltersAfter})"));
            else if (!b.Kept.SequenceEqual(l.Kept))
            {
                var lost = b.Kept.Except(l.Kept).ToList();
                var gained = l.Kept.Except(b.Kept).ToList();
                changes.Add($"{l.Name}: same count ({l.FiltersAfter}) but different filters kept: now also [{string.Join(", ", gained)}], no longer [{string.Join(", ", lost)}]");
            }
            if (b.Dropped != l.Dropped)
                changes.Add(l.Dropped is null ? $"{l.Name}: no longer dropped" : $"{l.Name}: now dropped ({l.Dropped})");
            if (!(b.Shared ?? []).SequenceEqual(l.Shared ?? []))
                changes.Add($"{l.Name}: shared by [{string.Join(", ", l.Shared ?? [])}] (baseline [{string.Join(", ", b.Shared ?? [])}])");
        }
        if (changes.Count > 0)
            changes.Add(string.Create(inv, $"totals: parameters {current.Totals.ParametersPercent}% (baseline {baseline.Totals.ParametersPercent}%), MACs {current.Totals.MacsPercent}% (baseline {baseline.Totals.MacsPercent}%)"));
        return changes;
    }
}

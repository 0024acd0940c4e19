using System.Globalization;

namespace Pfa.Core.Recipes;

/// <summary>
/// What changed between a committed baseline recipe and a new one: the strategy, the analysed layers, and per
/// layer the filter counts and the kept indices. Spectra, the input hash and the tool version are not compared
/// (retraining changes them without changing the architecture).
/// </summary>
public static class RecipeDiff
{
    public static IReadOnlyList<string> Compare(Recipe baseline, Recipe current)
    {
        var changes = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (baseline.Strategy.Name != current.Strategy.Name)
            changes.Add($"strategy: {baseline.Strategy.Name} → {current.Strategy.Name}");
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
        }
        if (changes.Count > 0)
            changes.Add(string.Create(inv, $"totals: parameters {current.Totals.ParametersPercent}% (baseline {baseline.Totals.ParametersPercent}%), MACs {current.Totals.MacsPercent}% (baseline {baseline.Totals.MacsPercent}%)"));
        return changes;
    }
}

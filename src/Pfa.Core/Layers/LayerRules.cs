namespace Pfa.Core.Layers;

/// <summary>
/// The table of layer rules, keyed by model.json type: every non-abstract <see cref="LayerRule"/> in this
/// assembly with a parameterless constructor, plus any added with <see cref="Register"/> (a type defined
/// outside Pfa.Core).
/// </summary>
public static class LayerRules
{
    static readonly Dictionary<string, LayerRule> Table = Discover();

    static Dictionary<string, LayerRule> Discover() => typeof(LayerRule).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(LayerRule)) && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null)
        .Select(t => (LayerRule)Activator.CreateInstance(t)!)
        .ToDictionary(r => r.Type, StringComparer.Ordinal);

    /// <summary>Every rule, in a stable order (by type name).</summary>
    public static IReadOnlyList<LayerRule> All { get { lock (Table) return Table.Values.OrderBy(r => r.Type, StringComparer.Ordinal).ToList(); } }

    public static IReadOnlyList<string> Types => All.Select(r => r.Type).ToList();

    public static LayerRule? Find(string type) { lock (Table) return Table.GetValueOrDefault(type); }

    public static LayerRule Get(string type) => Find(type) ?? throw new InvalidOperationException($"layer type '{type}' passed validation but has no rule");

    /// <summary>Adds the rule of a layer type defined outside Pfa.Core; a type may be registered once.</summary>
    public static void Register(LayerRule rule)
    {
        lock (Table)
            if (!Table.TryAdd(rule.Type, rule)) throw new InvalidOperationException($"layer type '{rule.Type}' already has a rule");
    }
}

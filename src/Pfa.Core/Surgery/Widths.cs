using Pfa.Core.Model;

namespace Pfa.Core.Surgery;

/// <summary>The description of a model whose prunable spaces keep fewer channels: each layer whose output space
/// changes gets its rule's <see cref="Layers.LayerRule.Resize"/> (producers' <c>out</c>, <c>out</c>/<c>groups</c> of
/// depthwise convs), then its rule's <see cref="Layers.LayerRule.Rewrite"/> given what its inputs keep (a residual
/// sum in padding mode scatters shrunk inputs back); every other size follows by shape inference.</summary>
public static class Widths
{
    /// <param name="spaces">The model's channel spaces.</param>
    /// <param name="widths">New channel count per space id; spaces not listed keep theirs. Which channels are kept
    /// does not change any size, so the first ones stand in.</param>
    public static ModelDescription Apply(ChannelSpaces spaces, IReadOnlyDictionary<int, int> widths) =>
        ApplyKept(spaces, widths.ToDictionary(kv => kv.Key, kv => Enumerable.Range(0, kv.Value).ToArray()));

    /// <param name="kept">Kept channel indices per prunable space id (ascending).</param>
    public static ModelDescription ApplyKept(ChannelSpaces spaces, IReadOnlyDictionary<int, int[]> kept)
    {
        var d = spaces.Graph.Description;
        var layers = new List<LayerSpec>();
        // Each space's kept indices once: a layer's input is an earlier layer's output, and the planner calls this per search step.
        var known = new Dictionary<int, int[]?>();
        int[]? Kept(ChannelSpace s) => known.TryGetValue(s.Id, out var k) ? k : known[s.Id] = spaces.KeptOf(s, kept);
        foreach (var n in spaces.Graph.Nodes)
        {
            var rule = Layers.LayerRules.Get(n.Type);
            var spec = Kept(spaces.OutputOf(n.Index)) is { } outKept ? rule.Resize(n, outKept.Length) : n.Spec;
            var keptInputs = n.Inputs.Select((_, k) => Kept(spaces.InputOf(n.Index, k))).ToList();
            layers.AddRange(rule.Rewrite(n, spec, keptInputs, spaces));
        }
        return d with { Layers = layers };
    }
}

using Pfa.Core.Model;

namespace Pfa.Core.Surgery;

/// <summary>The description of a model whose prunable spaces have new widths: each layer writing into a resized
/// space gets its rule's <see cref="Layers.LayerRule.Resize"/> (producers' <c>out</c>, <c>out</c>/<c>groups</c> of
/// depthwise convs); every other size follows by shape inference.</summary>
public static class Widths
{
    /// <param name="spaces">The model's channel spaces.</param>
    /// <param name="widths">New channel count per space id; spaces not listed keep theirs.</param>
    public static ModelDescription Apply(ChannelSpaces spaces, IReadOnlyDictionary<int, int> widths)
    {
        var d = spaces.Graph.Description;
        var layers = d.Layers.ToList();
        foreach (var n in spaces.Graph.Nodes)
        {
            if (!widths.TryGetValue(spaces.OutputOf(n.Index).Id, out var w)) continue;
            layers[n.Index] = Layers.LayerRules.Get(n.Type).Resize(n, w);
        }
        return d with { Layers = layers };
    }
}

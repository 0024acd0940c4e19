using Pfa.Core.Model;

namespace Pfa.Core.Surgery;

/// <summary>The description of a model whose prunable spaces have new widths (the only thing that changes:
/// producers' <c>out</c>, and <c>out</c>/<c>groups</c> of depthwise convs in the space).</summary>
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
            if (!LayerType.HasFilters(n.Type)) continue;
            var space = spaces.OutputOf(n.Index);
            if (!widths.TryGetValue(space.Id, out var w)) continue;
            layers[n.Index] = ChannelSpaces.IsDepthwise(n)
                ? layers[n.Index] with { Out = w, Groups = w }
                : layers[n.Index] with { Out = w };
        }
        return d with { Layers = layers };
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Surgery;

/// <summary>
/// Builds the compressed network of a recipe. Per channel space, the kept channels shrink every producer's
/// output rows, every per-channel layer (batch norm, depthwise conv), and every consumer's input columns —
/// through a flatten, all H·W positions of each kept channel. The classifier's output is never touched.
/// Before any fine-tune the compressed network computes exactly what the original computes when the removed
/// channels are zeroed at the consumers' inputs.
/// </summary>
public static class ChannelSurgery
{
    /// <summary>The kept indices per space id, from a recipe's layers (by producer name).</summary>
    public static Dictionary<int, int[]> KeptBySpace(ChannelSpaces spaces, Recipe recipe)
    {
        var result = new Dictionary<int, int[]>();
        var prunable = spaces.Prunable.ToDictionary(s => s.Name);
        foreach (var layer in recipe.Layers)
        {
            if (!prunable.TryGetValue(layer.Name, out var space))
                throw new PfaException(ErrorCodes.InvalidRecipe, $"the recipe names layer '{layer.Name}', which the model has not or cannot shrink; was the recipe made for another model?");
            if (layer.FiltersBefore != space.Channels)
                throw new PfaException(ErrorCodes.InvalidRecipe, $"the recipe says layer '{layer.Name}' has {layer.FiltersBefore} filters but the model's has {space.Channels}; was the recipe made for another model?");
            if (layer.Kept.Length != layer.FiltersAfter || layer.Kept.Length == 0 || layer.Kept.Any(i => i < 0 || i >= space.Channels) || layer.Kept.Distinct().Count() != layer.Kept.Length)
                throw new PfaException(ErrorCodes.InvalidBudget, $"the recipe's kept indices for '{layer.Name}' are not {layer.FiltersAfter} distinct indices below {space.Channels}.");
            result[space.Id] = layer.Kept.Order().ToArray();
        }
        return result;
    }

    /// <summary>The compressed description and network of a recipe, in its residual mode; then without the
    /// recipe's removed blocks (<see cref="BlockRemoval"/>), when it lists any.</summary>
    public static (ModelDescription Description, PfaNetwork Network) Apply(PfaNetwork source, Recipe recipe)
    {
        var spaces = source.Graph.SpacesFor(ResidualModes.Parse(recipe.Strategy.Residual));
        var narrowed = Apply(source, spaces, KeptBySpace(spaces, recipe), recipe.Strategy.Init == "random", recipe.Strategy.Seed);
        if (recipe.RemovedBlocks is not { Count: > 0 } removed) return narrowed;
        using (narrowed.Network) return BlockRemoval.Apply(narrowed.Network, removed);
    }

    /// <summary>The compressed description and network. <paramref name="randomInit"/>: fresh weights (the
    /// paper's ablation) instead of the selected filters' trained weights.</summary>
    public static (ModelDescription Description, PfaNetwork Network) Apply(PfaNetwork source, IReadOnlyDictionary<int, int[]> kept, bool randomInit, int seed) =>
        Apply(source, source.Graph.Spaces, kept, randomInit, seed);

    /// <param name="spaces">The source's spaces in the recipe's residual mode (their ids key <paramref name="kept"/>).</param>
    public static (ModelDescription Description, PfaNetwork Network) Apply(PfaNetwork source, ChannelSpaces spaces, IReadOnlyDictionary<int, int[]> kept, bool randomInit, int seed)
    {
        var description = Widths.ApplyKept(spaces, kept);
        torch.manual_seed(seed);
        var network = new PfaNetwork(description);
        if (!randomInit) CopyWeights(source, network, spaces, kept);
        network.eval();
        return (description, network);
    }

    static Tensor? Index(ChannelSpace space, IReadOnlyDictionary<int, int[]> kept, ChannelSpaces spaces) =>
        spaces.KeptOf(space, kept) is { } k ? tensor(k.Select(v => (long)v).ToArray()) : null;   // null: unchanged

    static void CopyWeights(PfaNetwork source, PfaNetwork target, ChannelSpaces spaces, IReadOnlyDictionary<int, int[]> kept)
    {
        var src = source.state_dict();
        var dst = target.state_dict();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var n in source.Graph.Nodes)
        {
            var slices = Layers.LayerRules.Get(n.Type).Parameters(n);
            var outIdx = Index(spaces.OutputOf(n.Index), kept, spaces);
            var inIdx = Index(spaces.InputOf(n.Index), kept, spaces);
            Tensor Rows(Tensor t) => outIdx is null ? t : t.index_select(0, outIdx);
            foreach (var key in dst.Keys.Where(k => k.StartsWith(n.Name + ".", StringComparison.Ordinal)))
            {
                var part = key[(n.Name.Length + 1)..];
                if (!slices.TryGetValue(part, out var slice))
                    throw new InvalidOperationException($"layer type '{n.Type}' has no slicing rule for its parameter '{part}' (layer '{n.Name}'); add it to the type's LayerRule.Parameters");
                var value = src[key];
                var shaped = slice switch
                {
                    Layers.Slice.Whole => value,
                    Layers.Slice.Out => Rows(value),
                    _ => inIdx is null ? Rows(value) : Rows(value).index_select(1, inIdx),
                };
                dst[key].copy_(shaped);
            }
        }
    }
}

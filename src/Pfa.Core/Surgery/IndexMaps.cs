namespace Pfa.Core.Surgery;

/// <summary>
/// How the channel indices of one space follow from the kept indices of the spaces it is made of — kept apart
/// from the layers (Torch-Pruning's <c>dependency/index_mapping.py</c>): a layer rule only says which map its
/// output has; surgery and widths apply the map.
/// </summary>
public abstract record IndexMap
{
    /// <summary>The source space ids, in order.</summary>
    public abstract IReadOnlyList<int> Sources { get; }

    /// <summary>The kept indices of the mapped space, given each source's kept indices (all of a source's
    /// indices when it is unchanged), ascending.</summary>
    public abstract int[] Map(IReadOnlyList<int[]> keptPerSource);
}

/// <summary>A space's own channels: kept = kept.</summary>
public sealed record IdentityMap(int Source) : IndexMap
{
    public override IReadOnlyList<int> Sources => [Source];
    public override int[] Map(IReadOnlyList<int[]> kept) => kept[0];
}

/// <summary>flatten of [C, H, W]: channel c becomes features c·P … c·P + P − 1 (P = H·W positions, the stride).</summary>
public sealed record FlattenMap(int Source, int Positions) : IndexMap
{
    public override IReadOnlyList<int> Sources => [Source];
    public override int[] Map(IReadOnlyList<int[]> kept) =>
        kept[0].SelectMany(c => Enumerable.Range(c * Positions, Positions)).ToArray();
}

/// <summary>Concatenation along channels: source i's channel c becomes c + (channels of sources 0 … i−1), its offset.</summary>
public sealed record ConcatMap(IReadOnlyList<int> SourceIds, IReadOnlyList<int> SourceChannels) : IndexMap
{
    public override IReadOnlyList<int> Sources => SourceIds;
    public override int[] Map(IReadOnlyList<int[]> kept)
    {
        var result = new List<int>();
        int offset = 0;
        for (int i = 0; i < kept.Count; i++)
        {
            result.AddRange(kept[i].Select(c => c + offset));
            offset += SourceChannels[i];
        }
        return [.. result];
    }
}

/// <summary>A grouped conv's output (groups g, inPer input and outPer output channels per group): output group j
/// is kept when input group j is, whole (its source space keeps whole groups, <see cref="ChannelSpace.Granule"/>).</summary>
public sealed record GroupMap(int Source, int InPerGroup, int OutPerGroup) : IndexMap
{
    public override IReadOnlyList<int> Sources => [Source];
    public override int[] Map(IReadOnlyList<int[]> kept) =>
        kept[0].Select(c => c / InPerGroup).Distinct().Order().SelectMany(j => Enumerable.Range(j * OutPerGroup, OutPerGroup)).ToArray();
}

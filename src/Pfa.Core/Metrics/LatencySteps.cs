using Pfa.Core.Model;
using Pfa.Core.Surgery;

namespace Pfa.Core.Metrics;

/// <summary>
/// round_to "auto" (issue 22): the multiple at which a layer's measured latency steps. CPU kernels work in blocks
/// of channels (oneDNN's 8 or 16 on AVX2/AVX-512), so a width one past a multiple of the block costs a whole block
/// more: the time rises in steps. For a channel space, the widths W, W−1, …, W−<see cref="Window"/> are timed with
/// the layers that read and write the space at those widths (the <see cref="LatencyTable"/> entries, cached);
/// a step is a width c whose time exceeds c−1's by more than <see cref="Rise"/>; the multiple is the largest power
/// of two up to <see cref="Largest"/> that divides every c−1 at a step (1 when nothing steps). Noise can only add
/// steps at other places, which lowers the multiple: the rule errs towards rounding less.
/// </summary>
public static class LatencySteps
{
    /// <summary>Widths below the full one that are timed.</summary>
    public const int Window = 33;
    /// <summary>A rise above this fraction from one width to the next is a step.</summary>
    public const double Rise = 0.04;
    public const int Largest = 32;

    /// <summary>The multiple for <paramref name="space"/> (1 for spaces narrower than two windows' worth of channels).</summary>
    /// <param name="timeOf">A covered layer's time (<see cref="LatencyTable.Of"/>).</param>
    public static int Of(ChannelSpaces spaces, ChannelSpace space, Func<LayerNode, double> timeOf)
    {
        int width = space.Channels;
        if (width <= Window + 1 || space.Granule > 1) return 1;   // grouped spaces already shrink in whole groups
        // The layers that write the space and those that read it (by name: a rewrite may insert layers).
        var nodes = spaces.Graph.Nodes;
        var touched = space.Producers.Select(p => nodes[p].Name)
            .Concat(nodes.Where(n => n.Inputs.Any(i => i >= 0 && spaces.OutputOf(i).Id == space.Id)).Select(n => n.Name)).ToHashSet();
        double Time(int c)
        {
            var graph = ModelGraph.Build(Widths.Apply(spaces, new Dictionary<int, int> { [space.Id] = c }));
            return graph.Nodes.Where(n => touched.Contains(n.Name) && LatencyTable.Covers(n)).Sum(timeOf);
        }
        var times = Enumerable.Range(width - Window, Window + 1).ToDictionary(c => c, Time);
        var steps = times.Keys.Where(c => times.ContainsKey(c - 1) && times[c] > times[c - 1] * (1 + Rise)).Select(c => c - 1).ToList();
        return Multiple(steps);
    }

    /// <summary>The largest power of two up to <see cref="Largest"/> dividing every position (1 when there are none).</summary>
    public static int Multiple(IReadOnlyList<int> positions)
    {
        if (positions.Count == 0) return 1;
        for (int m = Largest; m > 1; m /= 2)
            if (positions.All(p => p > 0 && p % m == 0)) return m;
        return 1;
    }
}

using Pfa.Core.Model;
using Pfa.Core.Surgery;

namespace Pfa.Core.Metrics;

/// <summary>
/// round_to "auto" (issue 22): the multiple of channels a layer's measured latency rewards. CPU kernels work in
/// blocks of channels, and the reward takes two forms: a staircase (oneDNN's blocks of 8 or 16 output channels on
/// AVX2/AVX-512: a width one past a multiple costs a whole block more) and a comb (ONNX Runtime's CPU convolution on
/// this bench's AMD EPYC: an input width that is a multiple of 4 ran ~40% faster than its neighbours, 0.070 ms at 60
/// vs 0.115 ms at 61, bench/results/latency-onnx.md). Both are read the same way. For a channel space, the widths
/// W, W−1, …, W−<see cref="Window"/> are timed with the layers that read and write the space at those widths (the
/// <see cref="LatencyTable"/> entries, cached); a width is efficient when every wider one in the window takes more
/// than <see cref="Rise"/> longer — it buys channels no wider width buys as cheaply (a staircase's step tops, a
/// comb's teeth); the multiple is the largest power of two up to <see cref="Largest"/> that divides every efficient
/// width below W (1 when there is none: flat or smoothly rising times gain nothing from rounding). A noise dip can
/// only add an efficient width at another place, which lowers the multiple: the rule errs towards rounding less.
/// </summary>
public static class LatencySteps
{
    /// <summary>Widths below the full one that are timed.</summary>
    public const int Window = 33;
    /// <summary>A width is efficient when every wider one in the window takes more than this fraction longer.</summary>
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
        var times = Enumerable.Range(width - Window, Window + 1).Select(c => (Width: c, Ms: Time(c))).ToList();
        return Multiple(Efficient(times));
    }

    /// <summary>The widths below the widest whose time every wider width exceeds by more than <see cref="Rise"/>.</summary>
    public static IReadOnlyList<int> Efficient(IReadOnlyList<(int Width, double Ms)> times)
    {
        var byWidth = times.OrderBy(t => t.Width).ToList();
        var efficient = new List<int>();
        double fastestWider = double.PositiveInfinity;
        for (int i = byWidth.Count - 1; i >= 0; i--)
        {
            if (i < byWidth.Count - 1 && byWidth[i].Ms * (1 + Rise) < fastestWider) efficient.Add(byWidth[i].Width);
            fastestWider = Math.Min(fastestWider, byWidth[i].Ms);
        }
        efficient.Reverse();
        return efficient;
    }

    /// <summary>The largest power of two up to <see cref="Largest"/> dividing every width (1 when there are none).</summary>
    public static int Multiple(IReadOnlyList<int> positions)
    {
        if (positions.Count == 0) return 1;
        for (int m = Largest; m > 1; m /= 2)
            if (positions.All(p => p > 0 && p % m == 0)) return m;
        return 1;
    }
}

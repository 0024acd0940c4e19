using Pfa.Core.Data;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Analysis;

/// <summary>
/// One inference pass that accumulates the responses of the analysed layers. PFA (§3.1, the default): a conv
/// layer's response to a sample is its output (before batch norm and activation) max-pooled over H×W, a linear
/// layer's response is its output. Garg et al. (<see cref="Sampling.Positions"/>): every position of the
/// observed activation map is a sample, and collection stops once every layer has enough samples.
/// Memory is one batch of activations plus O(C²) per layer.
/// </summary>
public static class ResponseCollector
{
    public static Dictionary<string, ResponseStatistics> Collect(PfaNetwork network, Dataset data, IReadOnlyCollection<string> layers,
        int batchSize, Action<long, long>? progress = null, CollectOptions? options = null, Surgery.ChannelSpaces? spaces = null) =>
        Collect(network, data, layers, batchSize, out _, progress, options, spaces);

    /// <param name="layers">The analysed spaces' names: a layer, or a channel group tied by residual sums (named after its first sum).</param>
    /// <param name="inputs">How many inputs were run (fewer than the data when enough samples were collected).</param>
    /// <param name="spaces">The spaces the names refer to (default: the graph's, projection mode).</param>
    public static Dictionary<string, ResponseStatistics> Collect(PfaNetwork network, Dataset data, IReadOnlyCollection<string> layers,
        int batchSize, out long inputs, Action<long, long>? progress = null, CollectOptions? options = null, Surgery.ChannelSpaces? spaces = null)
    {
        options ??= CollectOptions.Pfa;
        spaces ??= network.Graph.Spaces;
        var groups = spaces.Prunable.Where(s => s.Shared).ToDictionary(s => s.Name);
        var byIndex = new Dictionary<int, ResponseStatistics>();   // observed node → the analysed space's statistics
        foreach (var node in network.Graph.Nodes)
        {
            if (!layers.Contains(node.Name)) continue;
            var stats = new ResponseStatistics(node.Name, node.OutShape[0]);
            // A residual group's responses are its sums' outputs, each sum's response to an input one sample (C.3).
            if (groups.TryGetValue(node.Name, out var group))
                foreach (var sum in group.Observed) byIndex[sum] = stats;
            else byIndex[options.ObservedNode(network.Graph, node)] = stats;
        }
        var distinct = byIndex.Values.Distinct().ToList();
        bool Enough() => options.SamplesPerChannel is { } per && distinct.All(s => s.Count >= (long)per * s.Channels);
        network.eval();
        long seen = 0;
        using (no_grad())
        {
            foreach (var batch in data.Batches(batchSize))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                network.Forward(batch.X, (node, y) =>
                {
                    if (!byIndex.TryGetValue(node.Index, out var stats)) return;
                    if (y.dim() != 4) stats.Add(y);
                    else if (options.Sampling == Sampling.Pooled) stats.Add(y.amax([2L, 3L]));
                    else stats.Add(y.permute(0, 2, 3, 1).reshape(-1, y.shape[1]));   // [N·H·W, C]
                }).Dispose();
                seen += batch.Size;
                progress?.Invoke(seen, data.Count);
                if (Enough()) break;
            }
        }
        foreach (var s in distinct) s.Flush();
        inputs = seen;
        return distinct.ToDictionary(s => s.Layer);
    }
}

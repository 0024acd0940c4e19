using Pfa.Core.Data;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Analysis;

/// <summary>
/// One inference pass that accumulates the PFA responses of the analysed layers (§3.1): a conv layer's
/// response to a sample is its output (before batch norm and activation) max-pooled over H×W, a linear
/// layer's response is its output. Memory is one batch of activations plus O(C²) per layer.
/// </summary>
public static class ResponseCollector
{
    public static Dictionary<string, ResponseStatistics> Collect(PfaNetwork network, Dataset data, IReadOnlyCollection<string> layers,
        int batchSize, Action<long, long>? progress = null)
    {
        var byIndex = new Dictionary<int, ResponseStatistics>();
        foreach (var node in network.Graph.Nodes)
            if (layers.Contains(node.Name))
                byIndex[node.Index] = new ResponseStatistics(node.Name, node.OutShape[0]);
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
                    stats.Add(y.dim() == 4 ? y.amax([2L, 3L]) : y);
                }).Dispose();
                seen += batch.Size;
                progress?.Invoke(seen, data.Count);
            }
        }
        foreach (var s in byIndex.Values) s.Flush();
        return byIndex.Values.ToDictionary(s => s.Layer);
    }
}

using Pfa.Core.Model;

namespace Pfa.Core.Selection;

/// <summary>
/// The layer before the last of each residual branch: a conv whose output reaches no sum except through one more
/// dense conv (or linear) whose own output reaches one — passing through batch norms, activations and depthwise
/// convs. In a basic ResNet block that is <c>conv1</c>, in an inverted residual the expansion, in a bottleneck the
/// 3×3 (and an inverted residual without a sum of its own whose projection feeds the next block's shortcut counts
/// too: the same structure). Defined on the graph, so it names the same layers in both residual modes, and none in a
/// network without sums.
/// <para>Why it matters (issue 21, bench/results/selection-study.md): at the same widths, ℓ1 selection on these
/// layers fine-tuned better than variance selection on ResNet-20 (projection: +0.2 to +0.4 pp), while ℓ1 on the
/// residual groups fine-tuned worse; the variance criterion reads the layer's own response, which reaches the sum
/// only after the next conv has mixed it.</para>
/// </summary>
public static class ResidualBranches
{
    /// <summary>The node indices of the layers before the last of each residual branch.</summary>
    public static HashSet<int> BeforeLast(ModelGraph graph)
    {
        if (!graph.HasResidual) return [];
        var consumers = graph.Nodes.SelectMany(n => n.Inputs.Select(i => (From: i, To: n.Index))).ToLookup(e => e.From, e => e.To);
        bool Dense(LayerNode n) => n.Type == LayerType.Linear || n.Type == LayerType.Conv2d && (n.Spec.Groups ?? 1) == 1;
        // From a node's output, through everything but dense layers: is a sum reached, and which dense layers first?
        (bool Sum, List<int> Dense) Walk(int from)
        {
            var seen = new HashSet<int>();
            var queue = new Queue<int>(consumers[from]);
            var dense = new List<int>();
            bool sum = false;
            while (queue.Count > 0)
            {
                int c = queue.Dequeue();
                if (!seen.Add(c)) continue;
                if (graph.Nodes[c].Type == LayerType.Add) sum = true;
                else if (Dense(graph.Nodes[c])) dense.Add(c);
                else foreach (var next in consumers[c]) queue.Enqueue(next);
            }
            return (sum, dense);
        }
        return graph.Nodes.Where(n => n.Type == LayerType.Conv2d && Dense(n)).Select(n => n.Index).Where(i =>
        {
            var (sum, next) = Walk(i);
            return !sum && next.Count > 0 && next.All(d => Walk(d).Sum);
        }).ToHashSet();
    }
}

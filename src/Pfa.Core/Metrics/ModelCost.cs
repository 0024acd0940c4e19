using Pfa.Core.Model;

namespace Pfa.Core.Metrics;

/// <summary>Footprint and compute of one layer for one sample.</summary>
public sealed record LayerCost(string Name, string Type, int[] OutShape, long Parameters, long Macs);

/// <summary>
/// Trainable parameters and multiply-accumulates (MACs) per layer and in total, for one input sample.
/// Convention (README, "Footprint and FLOPs"):
/// <list type="bullet">
/// <item>parameters: trainable tensors only — conv and linear weights and biases, batch-norm scale and shift;
///   running statistics are buffers and do not count (as in PFA appendix B, "trainable variables").</item>
/// <item>MACs: conv2d = C_out·H_out·W_out·(C_in/groups)·k_h·k_w; linear = in·out. Bias additions, batch norm,
///   activations, pooling and residual additions count 0: they are O(activations), not O(weights).</item>
/// <item>FLOPs = 2·MACs.</item>
/// </list>
/// </summary>
public sealed record ModelCost(IReadOnlyList<LayerCost> Layers)
{
    public long Parameters => Layers.Sum(l => l.Parameters);
    public long Macs => Layers.Sum(l => l.Macs);
    public long Flops => 2 * Macs;

    public static ModelCost Of(ModelGraph graph) => new(graph.Nodes.Select(Of).ToList());

    public static ModelCost Of(ModelDescription description) => Of(ModelGraph.Build(description));

    /// <summary>One layer's cost: its rule's <see cref="Layers.LayerRule.Cost"/>.</summary>
    public static LayerCost Of(LayerNode n) => Pfa.Core.Layers.LayerRules.Get(n.Type).Cost(n);
}

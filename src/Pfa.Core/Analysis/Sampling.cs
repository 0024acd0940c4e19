using Pfa.Core.Model;

namespace Pfa.Core.Analysis;

/// <summary>What one statistics sample is.</summary>
public enum Sampling
{
    /// <summary>PFA §3.1: one input image gives one response vector (a conv's output max-pooled over H×W).</summary>
    Pooled,
    /// <summary>Garg et al. §III-B, Fig. 6: every spatial position of a conv's activation map is one sample of C
    /// features (N·H·W samples per batch); a linear layer's output is one sample.</summary>
    Positions,
}

/// <summary>How <see cref="ResponseCollector"/> samples: pooled or per position, which node it observes, when it stops.</summary>
public sealed record CollectOptions
{
    public Sampling Sampling { get; init; } = Sampling.Pooled;
    /// <summary>Observe what the non-linearity receives: after the batch norms that directly follow the layer
    /// (Garg et al. analyse VGG-16_BN that way, §IV: "before the action of the non linearities").</summary>
    public bool PreActivation { get; init; }
    /// <summary>Stop once every layer has at least this many samples per channel (Garg et al. §III-B: D/M ≳ 100); null: all data.</summary>
    public int? SamplesPerChannel { get; init; }

    public static readonly CollectOptions Pfa = new();

    /// <summary>The node whose output stands for <paramref name="layer"/>'s responses.</summary>
    public int ObservedNode(ModelGraph graph, LayerNode layer)
    {
        if (!PreActivation) return layer.Index;
        int current = layer.Index;
        while (true)
        {
            var consumers = graph.Nodes.Where(n => n.Inputs.Contains(current)).ToList();
            if (consumers.Count == 1 && consumers[0].Type is LayerType.BatchNorm2d or LayerType.BatchNorm1d) current = consumers[0].Index;
            else return current;
        }
    }
}

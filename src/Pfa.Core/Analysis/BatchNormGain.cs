using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Analysis;

/// <summary>
/// The per-channel scale a batch norm that directly follows a layer puts on its output at inference:
/// |γ_c| / √(running_var_c + ε). PFA analyses the layer's own output (§3.1, before the batch norm), but the next layer
/// sees it through this scale, so a channel with a large response variance and a small γ passes little on. The
/// variance criterion weighs channels by it (<see cref="Selection.VarianceCriterion"/>); the spectra do not use it.
/// </summary>
public static class BatchNormGain
{
    /// <summary>The gains of the batch norm that is <paramref name="layer"/>'s only consumer, or null when there is none.</summary>
    public static double[]? Of(PfaNetwork network, LayerNode layer)
    {
        var consumers = network.Graph.Nodes.Where(n => n.Inputs.Contains(layer.Index)).ToList();
        if (consumers is not [{ Type: LayerType.BatchNorm2d or LayerType.BatchNorm1d } bn]) return null;
        if (network.Layer(bn.Index) is not { } module) return null;
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var buffers = module.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        // Without running statistics it normalises by each batch's own: no fixed scale to record.
        if (!buffers.TryGetValue("running_var", out var variance)) return null;
        double eps = bn.Spec.Eps ?? 1e-5;
        using var scope = NewDisposeScope();
        var gain = 1 / (variance.to_type(ScalarType.Float64) + eps).sqrt();
        if (parameters.TryGetValue("weight", out var weight)) gain = gain * weight.detach().to_type(ScalarType.Float64).abs();   // affine: γ
        var values = gain.data<double>().ToArray();
        return values.All(double.IsFinite) ? values : null;
    }
}

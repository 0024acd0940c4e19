using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Pipeline;

/// <summary>Finds a NaN or infinity in a model's state: parameters and buffers (batch-norm running statistics, which
/// recalibration and training update, are buffers, and one NaN there turns every prediction into NaN).</summary>
public static class NonFinite
{
    /// <summary>The name of the first tensor holding a non-finite value, or null.</summary>
    public static string? FirstIn(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        foreach (var (name, p) in module.named_parameters())
            if (!p.isfinite().all().item<bool>()) return name;
        foreach (var (name, b) in module.named_buffers())
            if (b.is_floating_point() && !b.isfinite().all().item<bool>()) return name;
        return null;
    }
}

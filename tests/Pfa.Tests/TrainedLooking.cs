using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>Batch-norm statistics and biases as after training (running_var in [0.5, 1.5), means and biases ~0.2·N(0,1),
/// per-channel scales in [0.5, 1.5)), drawn from libtorch's generator: one helper for every exactness test.</summary>
static class TrainedLooking
{
    public static void Apply(IEnumerable<(string Key, Tensor Value)> state, bool scales = true)
    {
        using var _ = no_grad();
        using var half = 0.5.ToScalar();
        using var fifth = 0.2.ToScalar();
        foreach (var (key, t) in state)
        {
            if (key.EndsWith("running_var", StringComparison.Ordinal)) t.copy_(rand_like(t).add_(half, KeptScalars.One));
            else if (key.EndsWith("running_mean", StringComparison.Ordinal) || key.EndsWith("bias", StringComparison.Ordinal)) t.copy_(randn_like(t).mul_(fifth));
            else if (scales && key.EndsWith("weight", StringComparison.Ordinal) && t.dim() == 1) t.copy_(rand_like(t).add_(half, KeptScalars.One));
        }
    }

    public static void Apply(nn.Module net) => Apply(net.state_dict().Select(e => (e.Key, e.Value)));
}

using Pfa.Core.Native;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>
/// TorchSharp's own BatchNorm1d/2d count training batches with <c>num_batches_tracked.add_(1)</c>: a temporary
/// Scalar that a garbage collection can free during the native call (<see cref="KeptScalars"/>). When the trainer
/// runs a user's module that holds them, their counters are set aside for the run (TorchSharp's forward then skips
/// the count; with a momentum the count does not change the update) and advanced after each step with a kept
/// scalar, so the state_dict ends as PyTorch's would. Batch norms with a cumulative average (momentum null or 0)
/// need the count inside forward and keep it. The engine's own networks use <see cref="Model.Modules.SafeBatchNorm"/>.
/// </summary>
sealed class BatchCounters : IDisposable
{
    readonly List<(BatchNorm Norm, Tensor Counter)> _aside = [];

    public BatchCounters(nn.Module network)
    {
        foreach (var m in network.modules())
            if (m is BatchNorm b and not Model.Modules.SafeBatchNorm && b.track_running_stats && b.momentum is > 0 && b.num_batches_tracked is { } counter)
            {
                _aside.Add((b, counter.clone().DetachFromDisposeScope()));
                b.num_batches_tracked = null;       // the setter disposes the module's own tensor: the clone stands in
            }
    }

    /// <summary>After a training step: each set-aside batch norm saw one more batch.</summary>
    public void Count()
    {
        using var _ = no_grad();
        foreach (var (_, counter) in _aside) counter.add_(KeptScalars.OneInteger, KeptScalars.OneInteger);
    }

    public void Dispose()
    {
        foreach (var (norm, counter) in _aside) norm.num_batches_tracked = counter;   // registered again, as last buffer
        _aside.Clear();
    }
}

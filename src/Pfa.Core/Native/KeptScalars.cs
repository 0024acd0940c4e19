using TorchSharp;

namespace Pfa.Core.Native;

/// <summary>
/// Scalars that live as long as the process. A TorchSharp call given a number where it takes a
/// <see cref="Scalar"/> (<c>t.add_(u, alpha: 0.5)</c>, <c>t * 2.0</c>, <c>clamp_min(0)</c>, and inside TorchSharp
/// <c>a + b</c>, <c>add_(1)</c>, the optimizers' steps, BatchNorm's and LeakyReLU's forward) makes a temporary
/// Scalar, reads its native handle and drops the object: nothing keeps it alive during the native call, so a
/// garbage collection started by another thread can finalize it — freeing the native scalar — while libtorch
/// still reads it. c10 then fails with "Expected false to be true … toFloat at Scalar.h:140", or reads garbage
/// (the test host died that way; TorchSharp PRs #1434 and #1496). Our code passes these instead (static fields
/// are roots, never finalized) or a scalar it owns in a <c>using</c> (alive until disposed);
/// <c>TemporaryScalarTests</c> checks every call our assemblies make.
/// </summary>
public static class KeptScalars
{
    public static readonly Scalar Zero = 0.0.ToScalar();
    public static readonly Scalar One = 1.0.ToScalar();
    /// <summary>1 as an integer: for integer tensors (a batch norm's <c>num_batches_tracked</c>).</summary>
    public static readonly Scalar OneInteger = 1L.ToScalar();
}

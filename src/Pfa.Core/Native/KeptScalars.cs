using TorchSharp;

namespace Pfa.Core.Native;

/// <summary>
/// Scalars that live as long as the process. TorchSharp's overloads without an explicit alpha (<c>add_(t)</c>,
/// <c>sub(t)</c>, …) make a temporary <see cref="Scalar"/>, read its native handle and drop the object: nothing
/// keeps it alive during the native call, so the GC may finalize it — freeing the native scalar — while libtorch
/// still reads it. Rarely, c10 then fails with "Expected false to be true … toFloat at Scalar.h:140" (the perf
/// bench aborted that way once in ResponseStatistics.Add). The engine's hot paths pass these instead: static
/// fields are roots, so these are never finalized.
/// </summary>
public static class KeptScalars
{
    public static readonly Scalar One = 1.0.ToScalar();
}

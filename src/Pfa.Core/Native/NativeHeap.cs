using System.Runtime.InteropServices;

namespace Pfa.Core.Native;

/// <summary>
/// Keeps libtorch's large temporary buffers on the C heap. glibc's malloc serves a block above its mmap threshold
/// (dynamic, at most 32 MiB) with a fresh mmap and gives it back with munmap on free, so every convolution's
/// im2col buffer (64 × 31·9 × 28·28 floats = 56 MiB for one 31→31 layer of a VGG at batch 64) is new, zeroed
/// pages that fault in on every forward pass. Measured on the Zen 5 machine (bench/results/heap.md): the VGG at
/// batch 64 took 166–172 ms per forward pass (4 million page faults in the run), and 50–61 ms (0.16 million)
/// once large blocks stay on the heap; and because the threshold moves with the process's allocation history,
/// the same 31→31 layer measured 17.7 ms in one process and 125 ms in another, which made latency tables and
/// targets unreliable. PyTorch's performance tuning guide names the same cost (it suggests jemalloc or TCMalloc,
/// which reuse memory). The peak memory grows (freed blocks are reused, not returned to the OS until the process
/// ends; holes between blocks of other sizes stay): 726 against 611 MiB for the VGG run, 1144 against 837 MiB
/// for a ResNet-20 — and a fine-tune pass is 3.3–3.7× faster. It holds for the main thread's arena, where the
/// tool and the benchmarks compute (other threads' arenas still map blocks above 64 MiB). Linux with glibc
/// only; <see cref="OptOutVariable"/>=glibc keeps glibc's default, and so does a user's own
/// <c>GLIBC_TUNABLES</c> or <c>MALLOC_MMAP_MAX_</c>.
/// </summary>
public static class NativeHeap
{
    // mallopt parameters (malloc.h).
    const int TrimThreshold = -1, MmapMax = -4;

    /// <summary>PFA_HEAP: <c>glibc</c> leaves glibc's default (less peak memory, page faults on every large buffer).</summary>
    public const string OptOutVariable = "PFA_HEAP";

    static readonly object Gate = new();
    static bool? _configured;

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int parameter, int value);

    /// <summary>Whether large blocks now stay on the heap (false: not glibc, or the user's own settings).</summary>
    public static bool Configured
    {
        get { lock (Gate) return _configured ??= Configure(); }
    }

    /// <summary>Applies the settings once per process.</summary>
    public static void Ensure() => _ = Configured;

    static bool Configure()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (string.Equals(Environment.GetEnvironmentVariable(OptOutVariable)?.Trim(), "glibc", StringComparison.OrdinalIgnoreCase)) return false;
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 } ||
            Environment.GetEnvironmentVariable("MALLOC_MMAP_MAX_") is { Length: > 0 }) return false;
        try
        {
            // No mmap for large blocks, and the heap's freed top is kept (else it is given back and faults in again).
            return Mallopt(MmapMax, 0) == 1 && Mallopt(TrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }   // musl or another C library
    }
}

using System.Runtime.InteropServices;

namespace Pfa.Core.Native;

/// <summary>
/// Keeps libtorch's large temporary buffers on the C heap. glibc's malloc serves a block above its mmap threshold
/// (dynamic, at most 32 MiB) with a fresh mmap and gives it back with munmap on free, so every convolution's
/// im2col buffer (64 × 31·9 × 28·28 floats = 56 MiB for one 31→31 layer of a VGG at batch 64) is new, zeroed
/// pages that fault in on every forward pass. Measured on the Zen 5 machine (bench/results/heap.md): a VGG at
/// batch 64 took 137–148 ms with 1.5 million page faults, and 45–48 ms with 48 thousand once large blocks stay on
/// the heap; and because the threshold moves with the process's allocation history, the same 31→31 layer
/// measured 17.7 ms in one process and 125 ms in another, which made latency tables and targets unreliable.
/// PyTorch's CPU tuning guide gives the same advice (jemalloc/tcmalloc, or these settings). The peak memory does
/// not grow (what is freed is reused); freed memory is only returned to the OS at the end of the process.
/// Linux with glibc only; a user who sets <c>GLIBC_TUNABLES</c> or <c>MALLOC_MMAP_MAX_</c> keeps their own choice.
/// </summary>
public static class NativeHeap
{
    // mallopt parameters (malloc.h).
    const int TrimThreshold = -1, MmapMax = -4;

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

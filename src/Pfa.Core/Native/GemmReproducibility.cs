using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pfa.Core.Native;

/// <summary>
/// Makes libtorch's float32 matrix products independent of the thread count. libtorch's CPU GEMM is Intel
/// oneMKL's, which on AVX-512 CPUs splits the inner dimension of a long product across threads: measured on a
/// Xeon with AVX-512, a [16×20000]·[20000×16] <c>addmm</c> differed by 4e-3 and a batch-64 linear layer by 5e-5
/// between 1 and 2 threads, so two processes wrote different <c>stats.safetensors</c>. oneMKL's strict
/// conditional numerical reproducibility (<c>MKL_CBWR=AUTO,STRICT</c>: the CPU's best code path, reductions
/// in an order that does not depend on the threads) removes the difference. oneMKL reads the variable once,
/// when libtorch first uses it, so it is set in the process's native environment before any tensor exists:
/// by this module's initializer and, explicitly, first thing in every entry point. A value the user set is
/// kept.
/// </summary>
public static class GemmReproducibility
{
    public const string Variable = "MKL_CBWR";
    public const string Mode = "AUTO,STRICT";

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetNativeEnvironment(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetNativeEnvironment(string name);

    /// <summary>The value oneMKL sees (null when unset).</summary>
    public static string? Current =>
        OperatingSystem.IsWindows() ? Environment.GetEnvironmentVariable(Variable) : Marshal.PtrToStringAnsi(GetNativeEnvironment(Variable));

    /// <summary>Sets <c>MKL_CBWR</c> unless it is set already. Idempotent; call before the first tensor.</summary>
    public static void Configure()
    {
        if (Environment.GetEnvironmentVariable(Variable) is not null) return;
        Environment.SetEnvironmentVariable(Variable, Mode);   // the managed copy, and child processes
        if (!OperatingSystem.IsWindows()) SetNativeEnvironment(Variable, Mode, 0);  // what oneMKL's getenv reads
    }

#pragma warning disable CA2255 // a library initializer on purpose: it must run before libtorch's first GEMM
    [ModuleInitializer]
    internal static void OnLoad() => Configure();
#pragma warning restore CA2255
}

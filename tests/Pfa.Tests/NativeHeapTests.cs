using System.Diagnostics;
using System.Runtime.InteropServices;
using Pfa.Core.Model;
using Pfa.Core.Native;

namespace Pfa.Tests;

/// <summary>
/// libtorch's large buffers stay on the heap in the tool: a batch-64 convolution whose im2col buffer is 56 MiB
/// (above glibc's largest mmap threshold) does not fault that buffer's pages in again on every forward pass.
/// Counted on the real tool as a child process (its main thread allocates, as in every run), by the page faults
/// its extra timed runs add; with PFA_HEAP=glibc (or the user's own GLIBC_TUNABLES) the tool keeps glibc's
/// default and each run faults the whole buffer in — the cost that made such convolutions 3× slower and their
/// times depend on the process's past.
/// </summary>
public sealed class NativeHeapTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_settings_apply_in_a_process_that_builds_a_network()
    {
        if (!OperatingSystem.IsLinux()) return;
        using (new PfaNetwork(new ModelDescription { Input = [1, 4, 4], Layers = [new LayerSpec { Type = "flatten" }] })) { }
        Assert.True(NativeHeap.Configured, "glibc's mallopt settings were not applied (is GLIBC_TUNABLES set for the tests?)");
    }

    [Fact]
    public void The_tool_does_not_fault_a_convolution_buffer_in_on_every_run()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 }) return;
        File.WriteAllText(_dir["conv.json"], """
            { "name": "conv", "input": [32, 28, 28], "layers": [ { "name": "conv", "type": "conv2d", "out": 32, "kernel": 3, "padding": 1 } ] }
            """);
        long bufferPages = 64L * 32 * 9 * 28 * 28 * 4 / Environment.SystemPageSize;   // batch × C·k² × H·W floats
        double PerRun(params (string, string)[] environment) => (ChildFaults(30, environment) - ChildFaults(5, environment)) / 25.0;
        double kept = PerRun(), glibcDefault = PerRun((NativeHeap.OptOutVariable, "glibc")), tunables = PerRun(("GLIBC_TUNABLES", "glibc.malloc.check=0"));
        Assert.True(glibcDefault > bufferPages / 2, $"with glibc's default the buffer should fault in every run: {glibcDefault:0} faults per run, buffer {bufferPages} pages");
        Assert.True(tunables > bufferPages / 2, $"a user's GLIBC_TUNABLES should be left alone: {tunables:0} faults per run, buffer {bufferPages} pages");
        Assert.True(kept < bufferPages / 10, $"{kept:0} page faults per run (glibc's default: {glibcDefault:0}), buffer {bufferPages} pages");
    }

    /// <summary>Page faults of one `dotnet pfa info --latency` child at batch 64 with this many timed runs.</summary>
    long ChildFaults(int runs, (string Name, string Value)[] environment)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "dotnet-pfa.dll"), "info", "--model", _dir["conv.json"],
            "--latency", "--latency-batch", "64", "--runs", runs.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardError = true, RedirectStandardOutput = true };
        // libtorch's own kernels, whose im2col buffer this is (on oneDNN, or routed to it, a 32→32 layer has none).
        psi.Environment[ConvolutionCheck.EnvironmentVariable] = "no-onednn";
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        long before = ChildrenMinorFaults();
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err + output.Result);
        return ChildrenMinorFaults() - before;
    }

    // getrusage(RUSAGE_CHILDREN): the waited-for children's counts; ru_minflt is the 9th long (after two timevals and four longs).
    [DllImport("libc", EntryPoint = "getrusage")]
    static extern int GetRusage(int who, long[] usage);

    static long ChildrenMinorFaults()
    {
        var usage = new long[18];
        Assert.Equal(0, GetRusage(-1, usage));
        return usage[8];
    }
}

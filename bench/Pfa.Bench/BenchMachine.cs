using System.Globalization;
using Pfa.Core.Native;

namespace Pfa.Bench;

/// <summary>The run's date and the machine's share a report states (ratios depend on both, and on the convolution
/// path the CPU self-check chose).</summary>
public static class BenchMachine
{
    /// <summary>"yyyy-MM-dd, CPU (family F), N CPU cores, T libtorch thread(s), convolution path P".</summary>
    public static string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{DateTime.UtcNow:yyyy-MM-dd}, {CpuName()}, {Environment.ProcessorCount} CPU cores, {TorchSharp.torch.get_num_threads()} libtorch thread(s), convolution path {ConvolutionCheck.Path}{(ConvolutionRouting.Enabled ? ", inference on oneDNN where it agrees" : "")}");

    /// <summary>/proc/cpuinfo's model name and family ("AMD EPYC (family 26)": Zen 5 is family 26).</summary>
    public static string CpuName()
    {
        string? model = null, family = null;
        if (File.Exists("/proc/cpuinfo"))
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                var value = line.Contains(':') ? line[(line.IndexOf(':') + 1)..].Trim() : "";
                if (model is null && line.StartsWith("model name", StringComparison.Ordinal)) model = value;
                if (family is null && line.StartsWith("cpu family", StringComparison.Ordinal)) family = value;
                if (model is not null && family is not null) break;
            }
        return model is null ? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString() : family is null ? model : $"{model} (family {family})";
    }
}

using System.Globalization;

namespace Pfa.Bench;

/// <summary>The run's date and the machine's share a report states (ratios depend on both).</summary>
public static class BenchMachine
{
    /// <summary>"yyyy-MM-dd, N CPU cores, T libtorch thread(s)".</summary>
    public static string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} CPU cores, {TorchSharp.torch.get_num_threads()} libtorch thread(s)");
}

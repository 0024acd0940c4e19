using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Model;
using TorchSharp;

namespace Pfa.Core.Metrics;

/// <summary>
/// Per-layer latency measured on this machine (HALP, Shen et al. NeurIPS 2022, <c>prune/cost.py</c>): a conv or
/// linear layer alone, at its input shape, widths, kernel, stride, padding, dilation and groups, at the serving
/// batch, in the serving runtime and threads, on the convolution path the self-check chose. A layer is built as a
/// one-layer model and timed like a whole one (<see cref="Latency"/>: median of warm runs), so the staircase of the
/// kernels — a width one channel past a multiple of 8 or 16 costing a step — is what the table holds.
/// Entries are measured when first asked for and cached in a JSON file per machine fingerprint (CPU model, thread
/// count, TorchSharp/libtorch version, convolution path, runtime), so a second run costs nothing.
/// </summary>
public sealed class LatencyTable
{
    /// <summary>Warm runs per entry (median) and warm-up runs before them (<see cref="Latency.Warmup"/>: why 5).</summary>
    public const int Runs = 7, Warmup = Latency.Warmup;
    /// <summary>PFA_CACHE: the folder for cached tables (default: $XDG_CACHE_HOME/pfa or ~/.cache/pfa).</summary>
    public const string CacheVariable = "PFA_CACHE";

    readonly Dictionary<string, double> _entries;
    readonly LatencyBudget _serving;
    readonly object _gate = new();

    /// <summary>The cache file this table reads and writes.</summary>
    public string Path { get; }
    /// <summary>What the entries are valid for: CPU, threads, libtorch, convolution path, runtime.</summary>
    public string Fingerprint { get; }
    /// <summary>Entries measured in this process (the rest came from the cache) and the seconds they took.</summary>
    public int Measured { get; private set; }
    public double MeasureSeconds { get; private set; }
    public int Count { get { lock (_gate) return _entries.Count; } }

    public LatencyTable(LatencyBudget serving, string? cacheDirectory = null)
    {
        _serving = serving;
        Fingerprint = MachineFingerprint(serving);
        var folder = cacheDirectory ?? DefaultCacheDirectory();
        Path = System.IO.Path.Combine(folder, $"latency-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Fingerprint)))[..16]}.json");
        _entries = Read(Path, Fingerprint);
    }

    public static string DefaultCacheDirectory() =>
        Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } dir ? dir
        : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? System.IO.Path.Combine(xdg, "pfa")
        : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "pfa");

    /// <summary>Whether a node's time is in the table (conv2d and linear: where widths change the work).</summary>
    public static bool Covers(LayerNode node) => node.Type is LayerType.Conv2d or LayerType.Linear;

    /// <summary>The node's key: everything its time depends on (its widths included; which channels does not matter).</summary>
    public string Key(LayerNode node)
    {
        var s = node.Spec;
        string Pair(Json.IntPair? p, int d) => p is { } v ? $"{v.H}x{v.W}" : $"{d}x{d}";
        return node.Type == LayerType.Linear
            ? string.Create(CultureInfo.InvariantCulture, $"linear b{_serving.Batch} {node.InShape[0]}->{s.Out} bias{(s.Bias ?? true ? 1 : 0)}")
            : string.Create(CultureInfo.InvariantCulture,
                $"conv2d b{_serving.Batch} {string.Join("x", node.InShape)}->{s.Out} k{Pair(s.Kernel, 1)} s{Pair(s.Stride, 1)} p{Pair(s.Padding, 0)} d{Pair(s.Dilation, 1)} g{s.Groups ?? 1} bias{(s.Bias ?? true ? 1 : 0)}");
    }

    /// <summary>The node's measured time in milliseconds (measured now if the table does not have it).</summary>
    public double Of(LayerNode node)
    {
        var key = Key(node);
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var ms)) return ms;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            ms = Measure(node);
            MeasureSeconds += watch.Elapsed.TotalSeconds;
            Measured++;
            _entries[key] = ms;
            return ms;
        }
    }

    /// <summary>Σ of the covered nodes' times.</summary>
    public double Sum(ModelGraph graph) => graph.Nodes.Where(Covers).Sum(Of);

    /// <summary>Writes the table (merged with what another run may have added meanwhile). A cache that cannot be
    /// written is not an error: the next run measures again.</summary>
    public void Save()
    {
        lock (_gate)
        {
            if (Measured == 0) return;
            try
            {
                var merged = Read(Path, Fingerprint);
                foreach (var (k, v) in _entries) merged[k] = v;
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
                AtomicFile.WriteText(Path, JsonSerializer.Serialize(new CacheFile(Fingerprint, new SortedDictionary<string, double>(merged, StringComparer.Ordinal)),
                    new JsonSerializerOptions { WriteIndented = true }));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    sealed record CacheFile(string Fingerprint, SortedDictionary<string, double> Entries);

    static Dictionary<string, double> Read(string path, string fingerprint)
    {
        try
        {
            if (!File.Exists(path)) return [];
            var file = JsonSerializer.Deserialize<CacheFile>(File.ReadAllText(path));
            return file is not null && file.Fingerprint == fingerprint && file.Entries is not null
                ? file.Entries.Where(kv => double.IsFinite(kv.Value) && kv.Value > 0).ToDictionary()
                : [];
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return []; }   // a damaged cache is measured again
    }

    /// <summary>The layer alone as a one-layer model with random weights, timed in the serving runtime.</summary>
    double Measure(LayerNode node)
    {
        var description = new ModelDescription
        {
            Name = "latency_probe", Input = [.. node.InShape],
            Layers = [node.Spec with { Name = "probe", Inputs = null }],
        };
        using var network = new PfaNetwork(description);
        if (_serving.Runtime == LatencyBudget.Onnx)
        {
            using var session = Onnx.OnnxRuntimeModel.Of(network, _serving.Threads ?? 0);
            return session.Measure(_serving.Batch, Runs, Warmup).MedianMs;
        }
        return WithThreads(_serving, () => Latency.Measure(network, _serving.Batch, Runs, Warmup).MedianMs);
    }

    /// <summary>Runs <paramref name="measure"/> under the serving thread count (libtorch's is process-wide).</summary>
    public static T WithThreads<T>(LatencyBudget serving, Func<T> measure)
    {
        int before = torch.get_num_threads();
        if (serving.Threads is { } t) torch.set_num_threads(t);
        try { return measure(); }
        finally { torch.set_num_threads(before); }
    }

    /// <summary>CPU model, threads, TorchSharp (libtorch) version, convolution path, heap setting and runtime.</summary>
    public static string MachineFingerprint(LatencyBudget serving)
    {
        string cpu = CpuModel();
        int threads = serving.Threads ?? (serving.Runtime == LatencyBudget.Onnx ? Environment.ProcessorCount : torch.get_num_threads());
        string torchSharp = typeof(torch).Assembly.GetName().Version?.ToString() ?? "?";
        return string.Create(CultureInfo.InvariantCulture,
            $"cpu={cpu}; threads={threads}; torchsharp={torchSharp}; conv={Native.ConvolutionCheck.Path}{(Native.ConvolutionRouting.Enabled ? " (inference on oneDNN where it agrees)" : "")}; heap={(Native.NativeHeap.Configured ? "kept" : "glibc default")}; runtime={serving.Runtime}");
    }

    static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}/{Environment.ProcessorCount}";
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Data;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Native;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// What <see cref="NativeHeap"/> changes: the trained VGG (and the residual bench's ResNet-20 when it is there)
/// timed at batch 64 and batch 1, and one fine-tune pass over 5,120 images, in child processes with the tool's heap
/// settings and with glibc's default (<see cref="NativeHeap.OptOutVariable"/>=glibc), interleaved, repeated; the median of
/// each, the ratio of the medians, and each child's page faults and peak memory. mallopt's dynamic threshold cannot
/// be restored within one process, so each side runs in processes of its own.
/// </summary>
public static class HeapBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    sealed record Sample(string Model, double Batch64Ms, double Batch1Ms, double TrainSeconds, long MinorFaults, long PeakKb, bool Kept);

    public static int Run(string[] args)
    {
        string outPath = Arg(args, "--out") ?? "bench/results/heap.md";
        int repetitions = int.Parse(Arg(args, "--repetitions") ?? "3", Inv);
        var models = new List<(string Name, string Dir)> { ("vgg6", "bench/work") };
        if (File.Exists("bench/work/residual/resnet20-projection/model.dat")) models.Add(("resnet20-projection", "bench/work/residual/resnet20-projection"));
        var watch = Stopwatch.StartNew();
        var samples = new List<Sample>();
        foreach (var (name, dir) in models)
            for (int r = 0; r < repetitions; r++)
                foreach (bool kept in new[] { true, false })
                {
                    var s = Child(name, dir, kept);
                    Console.WriteLine(JsonSerializer.Serialize(s));
                    samples.Add(s);
                }
        var md = new StringBuilder();
        md.AppendLine("# The C heap and libtorch's large buffers");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll heap` ({BenchMachine.Describe()}, {watch.Elapsed.TotalMinutes:0} min, nothing else running). Each cell: the median over {repetitions} child processes per side, run in turn (kept, default, kept, …). \"kept\": the tool's `NativeHeap` settings (mallopt: large blocks never mmapped, the heap's top never trimmed); \"glibc default\": the same process with `PFA_HEAP=glibc`. Latency: trained weights, a fixed random input, {Latency.Warmup} warm-up passes, the median of 10 runs at batch 64 and of 40 at batch 1. Fine-tune: one pass over 5,120 training images in batches of 128 (SGD, as compress fine-tunes). Page faults and peak memory (VmHWM) of the whole child."));
        md.AppendLine();
        md.AppendLine("| model | heap | batch 64 ms | batch 1 ms | fine-tune s | minor page faults | peak MiB |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var g in samples.GroupBy(s => (s.Model, s.Kept)))
            md.AppendLine(string.Create(Inv, $"| {g.Key.Model} | {(g.Key.Kept ? "kept" : "glibc default")} | {Latency.Median(g.Select(s => s.Batch64Ms)):0.0} | {Latency.Median(g.Select(s => s.Batch1Ms)):0.000} | {Latency.Median(g.Select(s => s.TrainSeconds)):0.0} | {Latency.Median(g.Select(s => (double)s.MinorFaults)):N0} | {Latency.Median(g.Select(s => (double)s.PeakKb)) / 1024:0} |"));
        md.AppendLine();
        md.AppendLine("Default over kept (how much slower glibc's default is):");
        md.AppendLine();
        md.AppendLine("| model | batch 64 | batch 1 | fine-tune |");
        md.AppendLine("|---|---:|---:|---:|");
        foreach (var g in samples.GroupBy(s => s.Model))
        {
            double Ratio(Func<Sample, double> f) => Latency.Median(g.Where(s => !s.Kept).Select(f)) / Latency.Median(g.Where(s => s.Kept).Select(f));
            md.AppendLine(string.Create(Inv, $"| {g.Key} | {Ratio(s => s.Batch64Ms):0.00}× | {Ratio(s => s.Batch1Ms):0.00}× | {Ratio(s => s.TrainSeconds):0.00}× |"));
        }
        md.AppendLine();
        md.AppendLine("## Samples");
        md.AppendLine();
        md.AppendLine("```");
        foreach (var s in samples) md.AppendLine(JsonSerializer.Serialize(s));
        md.AppendLine("```");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    static Sample Child(string name, string dir, bool kept)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(HeapBench).Assembly.Location);
        foreach (var a in new[] { "heap-child", name, dir }) psi.ArgumentList.Add(a);
        if (!kept) psi.Environment[NativeHeap.OptOutVariable] = "glibc";
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"heap-child {name} exited {p.ExitCode}: {output}");
        return JsonSerializer.Deserialize<Sample>(output.Trim().Split('\n')[^1])!;
    }

    /// <summary>Child: the measurements of one process, as one JSON line.</summary>
    public static int RunChild(string[] args)
    {
        string name = args[0], dir = args[1];
        var description = ModelDescription.Load(Path.Combine(dir, "model.json"));
        using var network = PfaModel.Load(description, Path.Combine(dir, "model.dat"));
        double b64 = Latency.Measure(network, 64, 10).MedianMs;
        double b1 = Latency.Measure(network, 1, 40).MedianMs;
        using var data = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = 5120 }, description.Normalize);
        var watch = Stopwatch.StartNew();
        Trainer.Train(network, data, new TrainOptions { Epochs = 1, LearningRate = 0.01, BatchSize = 128 });
        double train = watch.Elapsed.TotalSeconds;
        var stat = File.ReadAllText("/proc/self/stat");
        long faults = long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7], Inv);
        long peak = long.Parse(File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(':', StringSplitOptions.TrimEntries)[1].Split(' ')[0], Inv);
        Console.WriteLine(JsonSerializer.Serialize(new Sample(name, b64, b1, Math.Round(train, 2), faults, peak, NativeHeap.Configured)));
        return 0;
    }

    static string? Arg(string[] args, string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Selection;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Bench;

/// <summary>The speed and memory targets of the PFA engine, each as a ratio or a bound measured in one run.</summary>
public static class PerfBench
{
    const string FashionMnist = Models.FashionMnist;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        var outPath = Arg(args, "--out", "bench/results/perf.md");
        var rows = new List<string[]>();
        void Row(string what, string measured, string target, bool ok)
        {
            rows.Add([what, measured, target, ok ? "met" : "**not met**"]);
            Console.WriteLine($"{what}: {measured} (target {target}) {(ok ? "met" : "NOT MET")}");
        }

        torch.manual_seed(1);
        var (analysis, inference) = AnalysisVersusInference(10_000, 256);
        double ratio = analysis / inference;
        Row("analysis wall time / plain no-grad inference (Fashion-VGG6, 10k samples, batch 256)",
            string.Create(Inv, $"{ratio:0.000} ({analysis:0.00} s vs {inference:0.00} s)"), "≤ 1.10", ratio <= 1.10);

        foreach (var c in new[] { 128, 512, 2048 })
        {
            var (ours, raw) = StatisticsThroughput(c, 512, c >= 2048 ? 12 : 60);
            double t = raw / ours;
            Row($"statistics throughput / raw fp32 XᵀX (C = {c}, batches of 512 rows)",
                string.Create(Inv, $"{t * 100:0.0}% ({ours * 1000:0.00} ms vs {raw * 1000:0.00} ms per batch)"), "≥ 80%", t >= 0.80);
        }

        foreach (var strategy in new[] { "kl", "energy", "footprint", "flops" })
        {
            double ms = RecipeMilliseconds(strategy);
            Row($"recipe from saved spectra, VGG-16 (13 conv 64…512 + fc), strategy {strategy}", string.Create(Inv, $"{ms:0.00} ms"), "≤ 50 ms", ms <= 50);
        }

        double sel = SelectionSeconds(4096, 2048);
        Row("filter selection, 4096 filters, remove 2048", string.Create(Inv, $"{sel * 1000:0} ms"), "≤ 500 ms", sel <= 0.5);

        // Peak RSS varies by ±10% between identical runs (allocator arenas, GC timing): median of 3 each, interleaved.
        var smalls = new List<long>(); var larges = new List<long>();
        for (int i = 0; i < 3; i++) { smalls.Add(ChildPeakKb(10_000)); larges.Add(ChildPeakKb(60_000)); }
        long small = smalls.Order().ElementAt(1), large = larges.Order().ElementAt(1);
        double mem = (double)large / small;
        Row("peak memory of analyze, 60k vs 10k samples (Fashion-VGG6)",
            string.Create(Inv, $"{mem:0.000} (median {large / 1024.0:0} MiB vs {small / 1024.0:0} MiB; runs {string.Join("/", larges.Select(v => (v / 1024).ToString(Inv)))} vs {string.Join("/", smalls.Select(v => (v / 1024).ToString(Inv)))} MiB)"), "1.00 ± 0.10", Math.Abs(mem - 1) <= 0.10);

        var md = new StringBuilder();
        md.AppendLine("# Performance benchmarks");
        md.AppendLine();
        md.AppendLine($"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll perf` on {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}, TorchSharp-cpu 0.107.0. Ratios are measured within one run (best of several repetitions of each side).");
        md.AppendLine();
        md.AppendLine("| measure | result | target | |");
        md.AppendLine("|---|---|---|---|");
        foreach (var r in rows) md.AppendLine($"| {string.Join(" | ", r)} |");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return rows.All(r => r[3] == "met") ? 0 : 1;
    }

    internal static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    static double Best(int repeats, Action action)
    {
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var w = Stopwatch.StartNew();
            action();
            best = Math.Min(best, w.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Analysis pass (responses of every conv/linear but the classifier) vs the same pass without it.</summary>
    static (double Analysis, double Inference) AnalysisVersusInference(int samples, int batch)
    {
        var d = Models.FashionVgg();
        using var net = new PfaNetwork(d);
        net.eval();
        using var data = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train", Limit = samples }, d.Normalize);
        var budget = BudgetFile.Default;
        var layers = RecipePlanner.AnalysedLayers(net.Graph.Spaces, budget).ToHashSet();
        void Inference()
        {
            using var _ = no_grad();
            foreach (var b in data.Batches(batch))
            {
                using var scope = NewDisposeScope();
                using var __ = b;
                net.Forward(b.X, null).Dispose();
            }
        }
        void Analysis()
        {
            var stats = ResponseCollector.Collect(net, data, layers, batch);
            foreach (var s in stats.Values) s.Dispose();
        }
        Inference(); // warm-up
        double a = double.MaxValue, i = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            i = Math.Min(i, Best(1, Inference));
            a = Math.Min(a, Best(1, Analysis));
        }
        return (a, i);
    }

    /// <summary>Seconds per batch: our accumulation vs a plain XᵀX matmul of the same [rows, C] batch.</summary>
    static (double Ours, double Raw) StatisticsThroughput(int channels, int rows, int batches)
    {
        var data = Enumerable.Range(0, batches).Select(_ => (rand(rows, channels) * 3 + 1).DetachFromDisposeScope()).ToList();
        void Raw()
        {
            foreach (var x in data) using (var g = x.t().matmul(x)) { }
        }
        void Ours()
        {
            using var s = new ResponseStatistics("l", channels);
            foreach (var x in data) s.Add(x);
            s.Flush();
        }
        Raw(); Ours();
        double raw = double.MaxValue, ours = double.MaxValue;
        for (int r = 0; r < 5; r++)
        {
            raw = Math.Min(raw, Best(1, Raw));
            ours = Math.Min(ours, Best(1, Ours));
        }
        foreach (var x in data) x.Dispose();
        return (ours / batches, raw / batches);
    }

    static double RecipeMilliseconds(string strategy)
    {
        var d = Models.Vgg16();
        var rng = new Random(3);
        var spaces = ModelGraph.Build(d).Spaces;
        var spectra = spaces.Prunable.ToDictionary(s => spaces.Graph.Nodes[s.Producer].Name, s =>
        {
            var raw = Enumerable.Range(0, s.Channels).Select(k => Math.Exp(-k / (4.0 + rng.NextDouble() * s.Channels / 8.0)) * (0.5 + rng.NextDouble())).OrderDescending().ToArray();
            double sum = raw.Sum();
            return new LayerSpectrum { Layer = spaces.Graph.Nodes[s.Producer].Name, Filters = s.Channels, Samples = 50_000, Eigenvalues = raw.Select(v => v / sum).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray() };
        });
        var budget = PfaBudget.Parse(strategy switch
        {
            "energy" => """{ "strategy": "energy", "energy": 0.95 }""",
            "footprint" => """{ "strategy": "footprint", "target": 0.3 }""",
            "flops" => """{ "strategy": "flops", "target": 0.3 }""",
            _ => "{}",
        });
        void Plan() => new RecipePlanner(ModelGraph.Build(d).Spaces, budget, spectra).Plan();
        Plan();
        return Best(20, Plan) * 1000;
    }

    static double SelectionSeconds(int n, int keep)
    {
        using var x = randn(2 * n, n);
        using var mix = randn(n, n) / Math.Sqrt(n);
        using var y = x.matmul(mix) + x * 0.5;
        using var y64 = y.to_type(ScalarType.Float64);
        using var cov = y64.t().matmul(y64) / (2 * n - 1);
        FilterSelector.Select(cov, n - 16);
        return Best(3, () => FilterSelector.Select(cov, keep));
    }

    /// <summary>Runs `analyze-memory` in a fresh process and returns its peak resident set (VmHWM, KiB).</summary>
    static long ChildPeakKb(int samples)
    {
        var self = Environment.ProcessPath!;
        var dll = typeof(PerfBench).Assembly.Location;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(dll);
        foreach (var a in new[] { "analyze-memory", samples.ToString(Inv) }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Trim().Split('\n')[^1], Inv);
    }

    /// <summary>Child: analyse the first N training samples, then print VmHWM in KiB.</summary>
    public static int AnalyzeMemoryChild(string[] args)
    {
        int samples = int.Parse(args[0], Inv);
        var d = Models.FashionVgg();
        using var net = new PfaNetwork(d);
        using var data = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train", Limit = samples }, d.Normalize);
        using var result = AnalysisResult.Run(net, data, BudgetFile.Default, 256);
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        Console.WriteLine(line.Split(':', StringSplitOptions.TrimEntries)[1].Split(' ')[0]);
        return 0;
    }
}

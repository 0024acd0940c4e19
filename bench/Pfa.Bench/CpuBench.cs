using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Native;
using Pfa.Core.Pipeline;
using Pfa.Core.Surgery;
using TorchSharp;

namespace Pfa.Bench;

/// <summary>
/// The CPU self-check and latency, in one run: what the conv self-check costs, how long a compressed odd-width
/// model takes to evaluate on each convolution path, and what round_to: 16 does to measured latency compared
/// with MACs. Timings depend on weights only through their shapes, so the models are randomly initialised.
/// </summary>
public static class CpuBench
{
    const string FashionMnist = Models.FashionMnist;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        var outPath = PerfBench.Arg(args, "--out", "bench/results/cpu.md");
        var md = new StringBuilder();
        md.AppendLine("# CPU self-check, convolution paths and round_to (one run)").AppendLine();
        md.AppendLine(string.Create(Inv, $"Command: `dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll cpu`; {Environment.ProcessorCount} cores, libtorch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd}.")).AppendLine();

        var chosen = ConvolutionCheck.Path; // what the check picks on this CPU, restored after the per-path runs
        bool routedHere = ConvolutionRouting.Enabled;
        md.AppendLine(string.Create(Inv, $"The self-check chose **{chosen}** on this CPU ({BenchMachine.CpuName()}).")).AppendLine();

        // 1. The self-check's cost: the probe (6 float32 convolutions, forward and backward, and their float64
        // reference), per path.
        md.AppendLine("## Self-check cost").AppendLine().AppendLine("| path | probe time (median of 10) | relative error, output | relative error, gradients |").AppendLine("|---|---:|---:|---:|");
        foreach (var path in new[] { ConvolutionPath.OneDnn, ConvolutionPath.NoOneDnn })
        {
            ConvolutionCheck.Use(path);
            ConvolutionCheck.Errors();
            var times = new List<double>(); var errors = new ConvolutionCheck.ProbeErrors();
            for (int i = 0; i < 10; i++) { var w = Stopwatch.StartNew(); errors = ConvolutionCheck.Errors(); times.Add(w.Elapsed.TotalMilliseconds); }
            md.AppendLine(string.Create(Inv, $"| {path} | {times.Order().ElementAt(5):0.00} ms | {errors.Forward:0.0e+0} | {errors.Backward:0.0e+0} |"));
        }

        // 2. Evaluating a compressed model with odd widths (a PFA-KL recipe of the issue's report) on each path.
        md.AppendLine().AppendLine("## Evaluation time of an odd-width model, 10,000 test images, batch 256").AppendLine();
        md.AppendLine("| path | seconds (median of 3) | vs oneDNN |").AppendLine("|---|---:|---:|");
        var odd = WithWidths(Models.FashionVgg(), new() { ["conv1"] = 20, ["conv2"] = 20, ["conv3"] = 50, ["conv4"] = 51, ["conv5"] = 104, ["conv6"] = 94, ["fc1"] = 112 });
        torch.manual_seed(1);
        double? baseline = null;
        using (var network = new PfaNetwork(odd))
        using (var test = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "test" }, odd.Normalize))
            foreach (var (path, routed) in new[] { (ConvolutionPath.OneDnn, false), (ConvolutionPath.NoOneDnn, false), (ConvolutionPath.NoOneDnn, true) })
            {
                ConvolutionCheck.Use(path, routed);
                Evaluator.Evaluate(network, test, 256);
                var times = Enumerable.Range(0, 3).Select(_ => { var w = Stopwatch.StartNew(); Evaluator.Evaluate(network, test, 256); return w.Elapsed.TotalSeconds; }).Order().ToList();
                baseline ??= times[1];
                md.AppendLine(string.Create(Inv, $"| {path}{(routed ? ", inference routed" : "")} | {times[1]:0.00} | {times[1] / baseline:0.00}× |"));
                Console.WriteLine(string.Create(Inv, $"eval {path} routed={routed}: {times[1]:0.00} s"));
            }
        ConvolutionCheck.Use(chosen, routedHere);

        // 3. round_to: 16 against none at the same footprint target: latency ratio vs MACs ratio.
        md.AppendLine().AppendLine("## round_to and measured latency (Fashion-VGG6, footprint 0.3, spectra from 2,000 images)").AppendLine();
        md.AppendLine("| recipe | widths | % params | % MACs | latency batch 1 | latency batch 64 | latency/MACs (batch 64) |").AppendLine("|---|---|---:|---:|---:|---:|---:|");
        torch.manual_seed(2);
        using var full = new PfaNetwork(Models.FashionVgg());
        using var train = Dataset.Open(new DataSpec { Path = FashionMnist, Split = "train", Limit = 2000 }, full.Graph.Description.Normalize);
        using var analysis = AnalysisResult.Run(full, train, BudgetFile.Default, 256);
        var before = ModelCost.Of(full.Graph);
        var l1 = Latency.Measure(full, 1, 30);
        var l64 = Latency.Measure(full, 64, 30);
        md.AppendLine(string.Create(Inv, $"| original | 32, 32, 64, 64, 128, 128, 256 | 100 | 100 | {l1.MedianMs:0.000} ms | {l64.MedianMs:0.00} ms | 1.00 |"));
        foreach (var roundTo in new[] { 1, 16 })
        {
            var budget = PfaBudget.Parse($$"""{ "strategy": "footprint", "target": 0.3, "round_to": {{roundTo}} }""");
            var recipe = RecipeMaker.Make(full.Graph.Description, analysis, budget, []);
            var widths = recipe.Layers.ToDictionary(l => l.Name, l => l.FiltersAfter);
            using var small = new PfaNetwork(WithWidths(Models.FashionVgg(), widths));
            var cost = ModelCost.Of(small.Graph);
            var s1 = Latency.Measure(small, 1, 30);
            var s64 = Latency.Measure(small, 64, 30);
            double macs = (double)cost.Macs / before.Macs, lat = s64.MedianMs / l64.MedianMs;
            md.AppendLine(string.Create(Inv,
                $"| footprint 0.3{(roundTo > 1 ? ", round_to 16" : "")} | {string.Join(", ", widths.Values)} | {100.0 * cost.Parameters / before.Parameters:0.00} | {100 * macs:0.00} | {s1.MedianMs:0.000} ms | {s64.MedianMs:0.00} ms | {lat / macs:0.00} |"));
            Console.WriteLine(string.Create(Inv, $"round_to {roundTo}: MACs {100 * macs:0.0}%, latency(64) {100 * lat:0.0}%"));
        }
        md.AppendLine().AppendLine("latency/MACs is (latency after / before) ÷ (MACs after / before): 1.00 means the model got as much faster as its MACs say; above 1, less.");

        // 4. Inference routed per layer and shape: the fallback path with oneDNN wherever its output agrees with the fallback's.
        Routing(md);
        Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>Latency on the fallback path against the fallback with inference routed per layer and shape (oneDNN where
    /// it agrees), interleaved, 5 repetitions, the median: the VGG and the residual bench's ResNet-20 and MobileNet, full
    /// and at widths like a footprint 0.3 recipe's (odd, and rounded to 16).</summary>
    static void Routing(StringBuilder md)
    {
        md.AppendLine().AppendLine("## Inference routed per layer and shape (`ConvolutionRouting`)").AppendLine();
        md.AppendLine("On the fallback path (oneDNN off for the process), each convolution layer runs once on both paths per input shape, and on oneDNN from then on when its output agrees. Latency (median of 5 interleaved repetitions of 40 runs at batch 1, 10 at batch 64), fallback for everything against routed; layers routed to oneDNN / kept on the fallback.").AppendLine();
        md.AppendLine("| model | widths | batch 1: fallback → routed | batch 64: fallback → routed | layers on oneDNN / fallback |").AppendLine("|---|---|---:|---:|---:|");
        var resnetModel = SequentialExporter.Describe(Pfa.Core.Model.Blocks.ResidualNets.ResNet(new Pfa.Core.Model.Blocks.ResNetOptions { Depth = 20, InChannels = 1 }), [1, 28, 28]);
        var mobile = SequentialExporter.Describe(Pfa.Core.Model.Blocks.ResidualNets.MobileNet(inChannels: 1), [1, 28, 28]);
        var vgg = Models.FashionVgg();
        var cases = new (string Name, string Widths, ModelDescription Model)[]
        {
            ("Fashion-VGG6", "full", vgg),
            ("Fashion-VGG6", "odd (footprint 0.3)", WithWidths(vgg, new() { ["conv1"] = 16, ["conv2"] = 17, ["conv3"] = 41, ["conv4"] = 42, ["conv5"] = 83, ["conv6"] = 76, ["fc1"] = 89 })),
            ("Fashion-VGG6", "multiples of 16", WithWidths(vgg, new() { ["conv1"] = 16, ["conv2"] = 16, ["conv3"] = 48, ["conv4"] = 48, ["conv5"] = 80, ["conv6"] = 64, ["fc1"] = 80 })),
            ("ResNet-20 (projection)", "full", resnetModel),
            ("MobileNetV2-style", "full", mobile),
        };
        foreach (var (name, widths, model) in cases)
        {
            torch.manual_seed(3);
            using var network = new PfaNetwork(model);
            var cells = new List<string>();
            var before = ConvolutionRouting.Counts;
            foreach (int batch in new[] { 1, 64 })
            {
                int runs = batch == 1 ? 40 : 10;
                var plain = new List<double>(); var routed = new List<double>();
                for (int r = 0; r < 5; r++)
                {
                    ConvolutionCheck.Use(ConvolutionPath.NoOneDnn);
                    plain.Add(Latency.Measure(network, batch, runs).MedianMs);
                    ConvolutionCheck.Use(ConvolutionPath.NoOneDnn, routeInference: true);
                    routed.Add(Latency.Measure(network, batch, runs).MedianMs);
                }
                double p = Latency.Median(plain), q = Latency.Median(routed);
                cells.Add(string.Create(Inv, $"{p:0.###} → {q:0.###} ms ({p / q:0.00}×)"));
            }
            var after = ConvolutionRouting.Counts;
            md.AppendLine(string.Create(Inv, $"| {name} | {widths} | {cells[0]} | {cells[1]} | {after.OneDnn - before.OneDnn} / {after.Fallback - before.Fallback} |"));
            Console.WriteLine($"routing {name} {widths}: {string.Join("; ", cells)}");
        }
        md.AppendLine().AppendLine("Layers are counted per input shape (batch 1 and 64 each decide once). Where oneDNN is right for every shape (the check keeps it for the process) nothing is routed.");
    }

    static ModelDescription WithWidths(ModelDescription d, Dictionary<string, int> widths) =>
        d with { Layers = d.Layers.Select(l => l.Name is { } n && widths.TryGetValue(n, out var w) ? l with { Out = w } : l).ToList() };
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Pfa.Core.Json;
using Pfa.Core.Metrics;
using Pfa.Core.Model;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa info</c>: layers, output shapes, parameters and MACs per layer and in total.</summary>
public static class InfoCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = new Option<string?>("--weights") { Description = "Weights to check against the description (.dat or .safetensors); optional." };
        var json = CommonOptions.Json();
        var latency = new Option<bool>("--latency") { Description = "Also measure CPU inference latency (median of warm runs; random weights when --weights is not given)." };
        var latencyBatch = new Option<int>("--latency-batch") { Description = "Batch of the latency measurement.", DefaultValueFactory = _ => 1 };
        var runtime = new Option<string>("--runtime") { Description = "Where --latency measures: libtorch (TorchSharp, what the tool trains with) or onnx (ONNX Runtime's CPU provider, on the model's ONNX export).", DefaultValueFactory = _ => "libtorch" };
        runtime.AcceptOnlyFromAmong("libtorch", "onnx");
        var runs = new Option<int>("--runs") { Description = "Timed runs of the latency measurement (after 5 warm-up runs).", DefaultValueFactory = _ => 20 };
        var cmd = new Command("info", "Print the layers of a model with output shapes, parameters and MACs (multiply-accumulates; FLOPs = 2·MACs).")
        {
            model, weights, json, latency, latencyBatch, runs, runtime,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var description = ModelDescription.Load(r.GetValue(model)!);
            var graph = ModelGraph.Build(description);
            LatencyResult? measured = null;
            bool onnx = r.GetValue(runtime) == "onnx";
            LatencyResult Measure(PfaNetwork network)
            {
                if (!onnx) return Latency.Measure(network, r.GetValue(latencyBatch), r.GetValue(runs));
                using var session = Pfa.Core.Onnx.OnnxRuntimeModel.Of(network);
                return session.Measure(r.GetValue(latencyBatch), r.GetValue(runs));
            }
            if (r.GetValue(latency) && (r.GetValue(latencyBatch) is < 1 or > 65536 || r.GetValue(runs) is < 1 or > 10_000))
                throw new Pfa.Core.Errors.PfaException(Pfa.Core.Errors.ErrorCodes.InvalidArgument, "--latency-batch must be in [1, 65536] and --runs in [1, 10000].");
            if (r.GetValue(weights) is { } w)
            {
                using var loaded = PfaModel.Load(description, w); // validates keys and shapes
                if (r.GetValue(latency)) measured = Measure(loaded);
            }
            else if (r.GetValue(latency))
            {
                using var random = new PfaNetwork(graph);
                measured = Measure(random);
            }
            var cost = ModelCost.Of(graph);
            if (r.GetValue(json)) ctx.Out.Write(JsonFiles.Serialize(new
            {
                name = description.Name,
                input = graph.InputShape,
                layers = cost.Layers.Select(l => new { name = l.Name, type = l.Type, output = l.OutShape, parameters = l.Parameters, macs = l.Macs }),
                parameters = cost.Parameters,
                macs = cost.Macs,
                flops = cost.Flops,
                latency = measured is null ? null : new { runtime = r.GetValue(runtime), median_ms = measured.MedianMs, min_ms = measured.MinMs, batch = measured.Batch, runs = measured.Runs, threads = measured.Threads },
            }));
            else
            {
                Print(ctx.Out, description, graph, cost);
                if (measured is not null)
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"CPU latency ({(onnx ? "ONNX Runtime" : "libtorch")}): {measured.MedianMs:0.000} ms per forward pass (batch {measured.Batch}, median of {measured.Runs} warm runs, min {measured.MinMs:0.000} ms, {measured.Threads} threads)"));
            }
            return 0;
        }));
        return cmd;
    }

    static void Print(TextWriter o, ModelDescription d, ModelGraph g, ModelCost cost)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine($"model {d.Name ?? "(unnamed)"}, input [{string.Join(", ", g.InputShape)}]");
        var rows = cost.Layers.Select((l, i) => new[]
        {
            i.ToString(inv), l.Name, l.Type, $"[{string.Join(", ", l.OutShape)}]",
            l.Parameters.ToString("N0", inv), l.Macs.ToString("N0", inv),
        }).ToList();
        rows.Insert(0, ["#", "name", "type", "output", "params", "MACs"]);
        rows.Add(["", "total", "", "", cost.Parameters.ToString("N0", inv), cost.Macs.ToString("N0", inv)]);
        var widths = Enumerable.Range(0, 6).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
            o.WriteLine(string.Join("  ", row.Select((cell, c) => c >= 4 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd());
        o.WriteLine($"FLOPs = 2·MACs = {cost.Flops.ToString("N0", inv)}");
    }
}

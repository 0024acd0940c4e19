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
        var cmd = new Command("info", "Print the layers of a model with output shapes, parameters and MACs (multiply-accumulates; FLOPs = 2·MACs).")
        {
            model, weights, json,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var description = ModelDescription.Load(r.GetValue(model)!);
            var graph = ModelGraph.Build(description);
            if (r.GetValue(weights) is { } w)
                using (PfaModel.Load(description, w)) { } // validates keys and shapes
            var cost = ModelCost.Of(graph);
            if (r.GetValue(json)) ctx.Out.Write(JsonFiles.Serialize(new
            {
                name = description.Name,
                input = graph.InputShape,
                layers = cost.Layers.Select(l => new { name = l.Name, type = l.Type, output = l.OutShape, parameters = l.Parameters, macs = l.Macs }),
                parameters = cost.Parameters,
                macs = cost.Macs,
                flops = cost.Flops,
            }));
            else Print(ctx.Out, description, graph, cost);
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

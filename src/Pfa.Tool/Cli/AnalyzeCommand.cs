using System.CommandLine;
using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa analyze</c>: response statistics and spectra of the analysed layers.</summary>
public static class AnalyzeCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var budget = CommonOptions.Budget();
        var data = new CommonOptions.DataOptions(required: false, defaultSplit: "train");
        var output = new Option<string>("--out") { Description = "Folder for stats.safetensors and spectra.json.", DefaultValueFactory = _ => "artifacts/pfa/analysis" };
        var shard = new Option<string?>("--shard") { Description = "Analyse only part k of n of the data (k/n: contiguous ranges of the selection; merge the n parts with 'dotnet pfa merge')." };
        var cmd = new Command("analyze", "Run the data through the model and write each analysed layer's response statistics (mergeable across shards) and spectrum.")
        {
            model, weights, budget, output, shard,
        };
        data.AddTo(cmd);
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var b = CommonOptions.LoadBudget(r, budget);
            var spec = data.SpecOrBudget(r, b);
            if (r.GetValue(shard) is { } part) spec = spec with { Shard = Shard.Parse(part, "--shard") };
            var outFolder = r.GetValue(output)!;
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(budget), "budget"), (spec.Path, "data"), (spec.Labels, "labels file")],
                [(Path.Combine(outFolder, AnalysisResult.StatsFileName), "--out"), (Path.Combine(outFolder, AnalysisResult.SpectraFileName), "--out")]);
            var (_, network, dataset) = CommonOptions.LoadModelAndData(r.GetValue(model)!, r.GetValue(weights)!, spec);
            using var _n = network;
            using var _d = dataset;
            using var analysis = AnalysisResult.Run(network, dataset, b, b.Budget.BatchSize ?? r.GetValue(data.BatchSize), ctx.Progress("analysing"));
            analysis.Save(r.GetValue(output)!);
            bool positions = analysis.Sampling == Pfa.Core.Analysis.Sampling.Positions;
            foreach (var l in analysis.Spectra.Layers)
            {
                var c = l.CumulativeEnergy();
                ctx.Out.WriteLine(positions
                    ? string.Create(CultureInfo.InvariantCulture, $"{l.Layer,-16} {l.Filters,5} filters  {l.Samples,12:N0} samples  significant dimensions at 0.90/0.99/0.999: {Count(c, 0.90)}/{Count(c, 0.99)}/{Count(c, 0.999)}")
                    : string.Create(CultureInfo.InvariantCulture, $"{l.Layer,-16} {l.Filters,5} filters  λ1 {l.Eigenvalues[0]:0.0000}  filters for 90/95/99% energy: {Count(c, 0.90)}/{Count(c, 0.95)}/{Count(c, 0.99)}"));
                foreach (var w in l.Warnings) ctx.Err.WriteLine(WarningCodes.Line(r.GetValue(model), w));
                foreach (var n in l.Notes) ctx.Err.WriteLine($"note: {n}");
            }
            ctx.Out.WriteLine(positions
                ? $"wrote {Path.Combine(r.GetValue(output)!, AnalysisResult.StatsFileName)} and {AnalysisResult.SpectraFileName} ({analysis.Inputs:N0} of {dataset.Count:N0} inputs: every layer reached {Pfa.Core.Recipes.Design.GargDesign.SamplesPerChannel} samples per filter)"
                : $"wrote {Path.Combine(r.GetValue(output)!, AnalysisResult.StatsFileName)} and {AnalysisResult.SpectraFileName} ({dataset.Count:N0} samples{(spec.Shard is { } s ? $": part {s} of {analysis.Data!.Samples:N0}" : "")})");
            return 0;
        }));
        return cmd;
    }

    static int Count(double[] cumulative, double tau) => Pfa.Core.Recipes.RecipePlanner.EnergyCount(cumulative, tau);
}

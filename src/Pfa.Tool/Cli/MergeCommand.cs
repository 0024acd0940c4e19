using System.CommandLine;
using Pfa.Core.Analysis;
using Pfa.Core.Errors;
using Pfa.Core.Pipeline;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa merge</c>: combine analysis shards into the analysis of all their samples.</summary>
public static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var shards = new Argument<string[]>("shards") { Description = "Analysis folders written by 'analyze' on parts of the data.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for the merged stats.safetensors and spectra.json.", Required = true };
        var cmd = new Command("merge", "Merge analysis shards (run on separate machines or CI jobs): the result equals one pass over all their samples.")
        {
            shards, output,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var folders = r.GetValue(shards)!;
            var outFolder = r.GetValue(output)!;
            OutputGuard.Check(folders.SelectMany(f => new (string?, string)[] { (Path.Combine(f, AnalysisResult.StatsFileName), "shard's statistics file"), (Path.Combine(f, AnalysisResult.SpectraFileName), "shard's spectra file") }),
                [(Path.Combine(outFolder, AnalysisResult.StatsFileName), "--out"), (Path.Combine(outFolder, AnalysisResult.SpectraFileName), "--out")]);
            using var result = AnalysisMerge.Merge(folders);
            result.Save(r.GetValue(output)!);
            ctx.Out.WriteLine($"merged {folders.Length} shards ({result.Statistics.Values.First().Count:N0} samples{(result.Data is { } d ? $", all {d.Samples:N0} of the selection" : "")}) into {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}

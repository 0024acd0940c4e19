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
            // The same statistics twice (one shard named twice, or a copy of it) would count its samples twice.
            var seen = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var folder in folders)
            {
                var file = Path.Combine(folder, AnalysisResult.StatsFileName);
                if (!File.Exists(file)) continue; // StatisticsFile.Read reports it
                var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
                if (seen.TryGetValue(hash, out var first))
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shards '{first}' and '{folder}' hold the same statistics: merging them would count those samples twice. Name each shard once.");
                seen[hash] = folder;
            }
            var merged = StatisticsFile.Read(Path.Combine(folders[0], AnalysisResult.StatsFileName), out var sampling);
            foreach (var folder in folders.Skip(1))
            {
                var next = StatisticsFile.Read(Path.Combine(folder, AnalysisResult.StatsFileName), out var nextSampling);
                if (nextSampling != sampling)
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shard '{folder}' holds {nextSampling} statistics but '{folders[0]}' holds {sampling} ones (PFA's pooled responses and Garg et al.'s per-position activations cannot be merged); analyse every shard with the same budget.");
                if (!next.Keys.ToHashSet().SetEquals(merged.Keys))
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shard '{folder}' analysed layers {string.Join(", ", next.Keys)} but '{folders[0]}' analysed {string.Join(", ", merged.Keys)}; shards must come from the same model and budget.");
                foreach (var (layer, s) in next)
                {
                    if (s.Channels != merged[layer].Channels)
                        throw new PfaException(ErrorCodes.InvalidArgument, $"layer '{layer}' has {s.Channels} filters in '{folder}' but {merged[layer].Channels} in '{folders[0]}'.");
                    merged[layer].Merge(s);
                    s.Dispose();
                }
            }
            var order = Pfa.Core.Spectra.SpectraFile.Load(Path.Combine(folders[0], AnalysisResult.SpectraFileName)).Layers.Select(l => l.Layer);
            using var result = AnalysisResult.FromStatistics(merged, order, sampling);
            result.Save(r.GetValue(output)!);
            ctx.Out.WriteLine($"merged {folders.Length} shards ({merged.Values.First().Count:N0} samples) into {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}

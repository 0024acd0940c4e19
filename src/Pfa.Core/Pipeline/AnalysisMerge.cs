using Pfa.Core.Analysis;
using Pfa.Core.Data;
using Pfa.Core.Errors;

namespace Pfa.Core.Pipeline;

/// <summary>
/// <c>dotnet pfa merge</c>: analyses of the parts of a dataset (CI jobs, machines) into the analysis of all of it.
/// PFA's statistics are sums (count, sum, second moment about a reference), so the merge is exact up to float64
/// rounding. Shards made with <c>analyze --shard k/n</c> must be the n distinct parts of one split of one selection:
/// a missing, doubled or foreign part is refused by name. Analyses of hand-cut files (no part recorded) merge as
/// before, refused only when the same statistics appear twice.
/// </summary>
public static class AnalysisMerge
{
    public static AnalysisResult Merge(IReadOnlyList<string> folders)
    {
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
        var parts = new List<(string Folder, Dictionary<string, ResponseStatistics> Stats, Sampling Sampling, DataSelection? Data)>();
        try
        {
            foreach (var folder in folders)
            {
                var stats = StatisticsFile.Read(Path.Combine(folder, AnalysisResult.StatsFileName), out var sampling, out var data);
                parts.Add((folder, stats, sampling, data));
            }
            var whole = CheckParts(parts.Select(p => (p.Folder, p.Data)).ToList());
            var (firstFolder, merged, firstSampling, _) = parts[0];
            foreach (var (folder, next, sampling, _) in parts.Skip(1))
            {
                if (sampling != firstSampling)
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shard '{folder}' holds {sampling} statistics but '{firstFolder}' holds {firstSampling} ones (PFA's pooled responses and Garg et al.'s per-position activations cannot be merged); analyse every shard with the same budget.");
                if (!next.Keys.ToHashSet().SetEquals(merged.Keys))
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shard '{folder}' analysed layers {string.Join(", ", next.Keys)} but '{firstFolder}' analysed {string.Join(", ", merged.Keys)}; shards must come from the same model and budget.");
                foreach (var (layer, s) in next)
                {
                    if (s.Channels != merged[layer].Channels)
                        throw new PfaException(ErrorCodes.InvalidArgument, $"layer '{layer}' has {s.Channels} filters in '{folder}' but {merged[layer].Channels} in '{firstFolder}'.");
                    merged[layer].Merge(s);
                }
            }
            var order = Spectra.SpectraFile.Load(Path.Combine(firstFolder, AnalysisResult.SpectraFileName)).Layers.Select(l => l.Layer);
            var result = AnalysisResult.FromStatistics(merged, order, firstSampling, whole);
            parts[0] = (firstFolder, [], firstSampling, null);   // now owned by the result
            return result;
        }
        finally
        {
            foreach (var p in parts) foreach (var s in p.Stats.Values) s.Dispose();
        }
    }

    /// <summary>The whole selection the parts make up, after checking they are its n distinct parts; null for
    /// analyses that recorded no part (hand-cut data).</summary>
    static DataSelection? CheckParts(IReadOnlyList<(string Folder, DataSelection? Data)> parts)
    {
        if (parts.All(p => p.Data?.Shard is null) && parts.Count > 1 && parts.All(p => p.Data is not null) && parts.Select(p => p.Data!.Fingerprint).Distinct().Count() == 1)
            throw new PfaException(ErrorCodes.InvalidArgument, $"'{parts[0].Folder}' and '{parts[1].Folder}' are analyses of the same {parts[0].Data!.Samples:N0} samples, not parts of them: merging them would count every sample twice. Analyse parts with 'analyze --shard k/n'.");
        var sharded = parts.Where(p => p.Data?.Shard is not null).ToList();
        if (sharded.Count == 0) return null;
        var first = sharded[0];
        var (firstData, firstShard) = (first.Data!, first.Data!.Shard!.Value);
        foreach (var p in parts)
        {
            if (p.Data?.Shard is not { } shard)
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{p.Folder}' is {(p.Data is null ? "an analysis that records no part" : $"an analysis of {p.Data}")}, but '{first.Folder}' is part {firstShard} of a split: merge only the parts of one 'analyze --shard k/n' split.");
            if (shard.Count != firstShard.Count)
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{p.Folder}' is part {shard} but '{first.Folder}' is part {firstShard}: the parts come from splits into different numbers of parts.");
            if (p.Data.Samples != firstData.Samples || p.Data.Fingerprint != firstData.Fingerprint)
                throw new PfaException(ErrorCodes.InvalidArgument, $"'{p.Folder}' is {p.Data} but '{first.Folder}' is {firstData}, of different data (another dataset, split, classes or limit): analyse every part with the same data options.");
        }
        var doubled = sharded.GroupBy(p => p.Data!.Shard!.Value.Index).FirstOrDefault(g => g.Count() > 1);
        if (doubled is not null)
            throw new PfaException(ErrorCodes.InvalidArgument, $"part {doubled.Key}/{firstShard.Count} is given twice ('{string.Join("', '", doubled.Select(p => p.Folder))}'): it would be counted twice.");
        var missing = Enumerable.Range(1, firstShard.Count).Except(sharded.Select(p => p.Data!.Shard!.Value.Index)).ToList();
        if (missing.Count > 0)
            throw new PfaException(ErrorCodes.InvalidArgument, $"part{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(k => $"{k}/{firstShard.Count}"))} of {firstData.Samples:N0} samples {(missing.Count > 1 ? "are" : "is")} missing: merge all {firstShard.Count} parts.");
        return firstData with { Shard = null };
    }
}

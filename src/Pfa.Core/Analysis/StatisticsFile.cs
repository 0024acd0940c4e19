using Pfa.Core.Checkpoints;
using Pfa.Core.Errors;
using static TorchSharp.torch;

namespace Pfa.Core.Analysis;

/// <summary>
/// Saved response statistics (<c>stats.safetensors</c>): per layer <c>layer/count</c> (I64),
/// <c>layer/reference</c>, <c>layer/sum</c> and <c>layer/moment</c> (F64). Shards analysed on different machines
/// are merged with <c>dotnet pfa merge</c>.
/// </summary>
public static class StatisticsFile
{
    /// <summary>Writes the file atomically and returns its bytes (hashed into the recipe without reading them back).</summary>
    /// <summary>The entry that marks per-position (Garg) statistics; absent for PFA's pooled ones (older files too).</summary>
    const string PositionsMarker = "pfa.sampling/positions";

    /// <summary>The data selection the statistics come from (<see cref="Data.DataSelection"/>): its size, fingerprint and part.</summary>
    const string SamplesEntry = "pfa.data/samples", FingerprintEntry = "pfa.data/fingerprint", ShardEntry = "pfa.data/shard";

    public static byte[] Write(string path, IEnumerable<ResponseStatistics> stats, Sampling sampling = Sampling.Pooled, Data.DataSelection? selection = null)
    {
        var bytes = Serialize(stats, sampling, selection);
        AtomicFile.Write(path, stream => stream.Write(bytes));
        return bytes;
    }

    public static byte[] Serialize(IEnumerable<ResponseStatistics> stats, Sampling sampling = Sampling.Pooled, Data.DataSelection? selection = null)
    {
        var entries = new List<(string, Tensor)>();
        var owned = new List<Tensor>();
        void Add(string name, long[] values)
        {
            var t = tensor(values);
            owned.Add(t);
            entries.Add((name, t));
        }
        if (selection is not null)
        {
            Add(SamplesEntry, [selection.Samples]);
            Add(FingerprintEntry, [selection.Fingerprint]);
            if (selection.Shard is { } shard) Add(ShardEntry, [shard.Index, shard.Count]);
        }
        if (sampling == Sampling.Positions)
        {
            var marker = tensor(new long[] { 1 });
            owned.Add(marker);
            entries.Add((PositionsMarker, marker));
        }
        foreach (var s in stats)
        {
            s.Flush();
            var count = tensor(s.Count);
            owned.Add(count);
            var reference = s.Reference ?? zeros(s.Channels, dtype: ScalarType.Float64);
            if (s.Reference is null) owned.Add(reference);
            entries.Add(($"{s.Layer}/count", count));
            entries.Add(($"{s.Layer}/reference", reference));
            entries.Add(($"{s.Layer}/sum", s.Sum));
            entries.Add(($"{s.Layer}/moment", s.Moment));
        }
        try
        {
            using var memory = new MemoryStream();
            SafetensorsFormat.Write(memory, entries);
            return memory.ToArray();
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    public static Dictionary<string, ResponseStatistics> Read(string path) => Read(path, out _);

    public static Dictionary<string, ResponseStatistics> Read(string path, out Sampling sampling) => Read(path, out sampling, out _);

    /// <summary>Reads the statistics, their sampling and the data selection they come from (null in files written
    /// before selections were recorded, and for statistics merged from such files).</summary>
    public static Dictionary<string, ResponseStatistics> Read(string path, out Sampling sampling, out Data.DataSelection? selection)
    {
        InputFiles.Require(path, "statistics file", "Run 'dotnet pfa analyze' first.");
        var read = SafetensorsFormat.Read(path);
        Checkpoints.TensorCodec.RequireFinite(read, path, "statistics file", ErrorCodes.InvalidWeights);
        var entries = read.ToDictionary(e => e.Key, e => e.Value);
        sampling = entries.ContainsKey(PositionsMarker) ? Sampling.Positions : Sampling.Pooled;
        selection = null;
        if (entries.TryGetValue(SamplesEntry, out var samples) && entries.TryGetValue(FingerprintEntry, out var fingerprint))
        {
            Data.Shard? shard = null;
            if (entries.TryGetValue(ShardEntry, out var part))
            {
                var kn = part.to_type(ScalarType.Int64).data<long>().ToArray();
                if (kn.Length != 2 || kn[1] < 1 || kn[0] < 1 || kn[0] > kn[1])
                    throw new PfaException(ErrorCodes.InvalidWeights, $"statistics file '{path}' has a damaged '{ShardEntry}' entry.", path);
                shard = new Data.Shard((int)kn[0], (int)kn[1]);
            }
            selection = new Data.DataSelection(samples.to_type(ScalarType.Int64).data<long>()[0], fingerprint.to_type(ScalarType.Int64).data<long>()[0], shard);
        }
        try
        {
            var result = new Dictionary<string, ResponseStatistics>();
            foreach (var layer in entries.Keys.Where(k => k.EndsWith("/count", StringComparison.Ordinal)).Select(k => k[..^6]))
            {
                Tensor Get(string part) => entries.TryGetValue($"{layer}/{part}", out var t) ? t
                    : throw new PfaException(ErrorCodes.InvalidWeights, $"statistics file '{path}' lacks '{layer}/{part}'.", path);
                var sum = Get("sum");
                var moment = Get("moment");
                var reference = Get("reference");
                long c = sum.shape[0];
                if (moment.shape.Length != 2 || moment.shape[0] != c || moment.shape[1] != c || reference.shape[0] != c)
                    throw new PfaException(ErrorCodes.InvalidWeights, $"statistics of '{layer}' in '{path}' have inconsistent shapes.", path);
                result[layer] = ResponseStatistics.FromParts(layer, Get("count").item<long>(),
                    reference.to_type(ScalarType.Float64), sum.to_type(ScalarType.Float64), moment.to_type(ScalarType.Float64));
            }
            if (result.Count == 0)
                throw new PfaException(ErrorCodes.InvalidWeights, $"'{path}' holds no layer statistics.", path);
            return result;
        }
        finally
        {
            foreach (var t in entries.Values) t.Dispose();
        }
    }
}

using System.Security.Cryptography;

namespace Pfa.Core.Data;

/// <summary>
/// The identity of a data selection, stored with an analysis (stats.safetensors) so that <c>merge</c> can tell the n
/// parts of one split of one dataset from parts of different ones: the selection's size, a fingerprint of what was
/// selected (sample shape, source size, the selected samples' positions and labels — not the path, which differs
/// between CI machines), and the part of it this analysis covers (null: all of it).
/// </summary>
public sealed record DataSelection(long Samples, long Fingerprint, Shard? Shard)
{
    public static DataSelection Of(SampleSource source, int[] selected, Shard? shard)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(long v) => hash.AppendData(BitConverter.GetBytes(v));
        Add(source.Count);
        foreach (var d in source.SampleShape) Add(d);
        foreach (var i in selected) { Add(i); Add(source.Labels[i]); }
        return new DataSelection(selected.Length, BitConverter.ToInt64(hash.GetHashAndReset(), 0), shard);
    }

    /// <summary>"all 1,000 samples" or "part 2/4 of 1,000 samples".</summary>
    public override string ToString() => Shard is { } s ? $"part {s} of {Samples:N0} samples" : $"all {Samples:N0} samples";
}

using System.Globalization;
using Pfa.Core.Errors;

namespace Pfa.Core.Data;

/// <summary>
/// Part k of n of a data selection (<c>analyze --shard k/n</c>, <c>"data": { "shard": "k/n" }</c>), for an analysis
/// spread over CI jobs and merged with <c>dotnet pfa merge</c>. Parts are contiguous ranges of the selection
/// (after <c>classes</c> and <c>limit</c>): part k holds samples [⌊(k−1)·N/n⌋, ⌊k·N/n⌋), so the n parts cover every
/// sample exactly once, their sizes differ by at most one, and each job reads one run of the file. The statistics
/// are sums, so how classes fall into parts does not change the merged result.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    /// <summary>The part's range of a selection of <paramref name="total"/> samples: [Start, End).</summary>
    public (int Start, int End) Range(int total) => ((int)((long)(Index - 1) * total / Count), (int)((long)Index * total / Count));

    /// <summary>Reads "k/n" (1 ≤ k ≤ n ≤ 10000); <paramref name="where"/> names the option or property in errors.</summary>
    public static Shard Parse(string text, string where)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            && int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 10_000 && k >= 1 && k <= n)
            return new Shard(k, n);
        throw new PfaException(ErrorCodes.InvalidArgument, $"{where} '{text}' is not a part of a split: write k/n with 1 ≤ k ≤ n ≤ 10000 (e.g. 2/4 for the second of four parts).");
    }
}

namespace Pfa.Core.Checkpoints;

/// <summary>
/// Sizes computed from numbers read out of files (shapes, counts) with overflow checks: a damaged or hostile
/// header gives a clear error of the reader's choosing, never a wrapped-around size that reaches libtorch.
/// </summary>
public static class SizeMath
{
    /// <summary>The largest tensor a reader accepts, in bytes: what one .NET array can hold.</summary>
    public static long MaxBytes => Array.MaxLength;

    /// <summary>Elements × element size, or null when it overflows or exceeds <see cref="MaxBytes"/>.</summary>
    public static long? Bytes(IEnumerable<long> shape, long elementSize)
    {
        try
        {
            long n = elementSize;
            foreach (var d in shape)
            {
                if (d < 0) return null;
                n = checked(n * d);
            }
            return n <= MaxBytes ? n : null;
        }
        catch (OverflowException)
        {
            return null;
        }
    }
}

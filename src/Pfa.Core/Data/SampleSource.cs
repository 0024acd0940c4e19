using Pfa.Core.Errors;

namespace Pfa.Core.Data;

/// <summary>
/// A dataset file format read front to back: one sample at a time as raw bytes (uint8 pixels or
/// little-endian float32), so a pass over the data needs memory for one batch, not for the dataset.
/// Labels are small and are read whole when the source opens.
/// </summary>
public abstract class SampleSource : IDisposable
{
    /// <summary>Shape of one sample: [C, H, W] or [D].</summary>
    public abstract int[] SampleShape { get; }
    public abstract bool IsUInt8 { get; }
    public abstract long[] Labels { get; }
    public int Count => Labels.Length;
    public int SampleElements => SampleShape.Aggregate(1, (a, b) => a * b);
    public int SampleBytes => SampleElements * (IsUInt8 ? 1 : 4);
    /// <summary>Where the samples come from, for messages.</summary>
    public abstract string Description { get; }

    /// <summary>Starts a new sequential pass; samples are then read in order with <see cref="ReadNext"/>.</summary>
    public abstract void Rewind();

    /// <summary>Reads the next sample's raw bytes into <paramref name="destination"/> (length <see cref="SampleBytes"/>).</summary>
    public abstract void ReadNext(Span<byte> destination);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected static PfaException Bad(string path, string message) =>
        new(ErrorCodes.InvalidData, $"'{path}': {message}", path);

    protected static Stream OpenMaybeGzip(string path)
    {
        InputFiles.Require(path, "data file");
        var raw = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        int b0 = raw.ReadByte(), b1 = raw.ReadByte();
        raw.Position = 0;
        return b0 == 0x1f && b1 == 0x8b ? new BufferedStream(new System.IO.Compression.GZipStream(raw, System.IO.Compression.CompressionMode.Decompress), 1 << 16) : raw;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or reports a truncated file.</summary>
    protected static void ReadExactly(Stream s, Span<byte> buffer, string path, string what)
    {
        try { s.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw Bad(path, $"the file ends in the middle of {what} (truncated?)."); }
        catch (InvalidDataException e) { throw Bad(path, $"the gzip stream is damaged: {e.Message}"); }
    }
}

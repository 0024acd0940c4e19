using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Pfa.Core.Data;

/// <summary>
/// NumPy <c>.npy</c> arrays: samples N×C×H×W, N×H×W (one channel) or N×D, float32 ('&lt;f4') or uint8
/// ('|u1'), C order; labels N of int64, int32 or uint8.
/// </summary>
public sealed partial class NpySource : SampleSource
{
    readonly string _path;
    readonly long _dataOffset;
    FileStream? _stream;

    public override int[] SampleShape { get; }
    public override bool IsUInt8 { get; }
    public override long[] Labels { get; }
    public override string Description => $"NumPy {_path}";

    public NpySource(string samplesPath, string labelsPath)
    {
        _path = samplesPath;
        var (descr, shape, offset) = ReadHeader(samplesPath);
        if (descr is not ("<f4" or "|u1" or "<u1"))
            throw Bad(samplesPath, $"samples must be float32 ('<f4') or uint8 ('|u1'); this array is '{descr}'.");
        if (shape.Length is not (2 or 3 or 4))
            throw Bad(samplesPath, $"samples must be N×C×H×W, N×H×W or N×D; this array has shape ({string.Join(", ", shape)}).");
        IsUInt8 = descr != "<f4";
        // Sizes from the header are checked before any is used: one sample must fit an array, and all of them the file.
        if (Checkpoints.SizeMath.Bytes(shape.Skip(1), IsUInt8 ? 1 : 4) is not { } sampleBytes || sampleBytes > int.MaxValue / 2)
            throw Bad(samplesPath, $"shape ({string.Join(", ", shape)}) is larger than any array this tool can read.");
        SampleShape = shape.Length switch
        {
            4 => [(int)shape[1], (int)shape[2], (int)shape[3]],
            3 => [1, (int)shape[1], (int)shape[2]],
            _ => [(int)shape[1]],
        };
        _dataOffset = offset;
        long need;
        try { need = checked(offset + shape[0] * (long)SampleBytes); }
        catch (OverflowException) { throw Bad(samplesPath, $"shape ({string.Join(", ", shape)}) is larger than any file."); }
        long have = new FileInfo(samplesPath).Length;
        if (have < need) throw Bad(samplesPath, $"shape ({string.Join(", ", shape)}) needs {need} bytes; the file has {have} (truncated?).");

        var (ldescr, lshape, loffset) = ReadHeader(labelsPath);
        if (lshape.Length != 1)
            throw Bad(labelsPath, $"labels must be a 1-D array of N entries; this array has shape ({string.Join(", ", lshape)}).");
        if (lshape[0] != shape[0])
            throw Bad(labelsPath, $"it has {lshape[0]} labels but '{samplesPath}' has {shape[0]} samples.");
        int size = ldescr switch { "<i8" => 8, "<i4" => 4, "|u1" or "<u1" => 1, _ => 0 };
        if (size == 0) throw Bad(labelsPath, $"labels must be int64 ('<i8'), int32 ('<i4') or uint8 ('|u1'); this array is '{ldescr}'.");
        var bytes = File.ReadAllBytes(labelsPath);
        if (bytes.Length < loffset + lshape[0] * size)
            throw Bad(labelsPath, $"{lshape[0]} labels need {loffset + lshape[0] * size} bytes; the file has {bytes.Length} (truncated?).");
        Labels = new long[lshape[0]];
        for (int i = 0; i < Labels.Length; i++)
        {
            var at = bytes.AsSpan((int)(loffset + i * size));
            Labels[i] = size switch { 8 => BinaryPrimitives.ReadInt64LittleEndian(at), 4 => BinaryPrimitives.ReadInt32LittleEndian(at), _ => at[0] };
            if (Labels[i] < 0) throw Bad(labelsPath, $"label {i} is negative ({Labels[i]}).");
        }
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")] private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex OrderPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapePattern();

    /// <summary>Magic "\x93NUMPY", version, header length (2 bytes in v1, 4 in v2/v3), then a Python dict literal.</summary>
    static (string Descr, long[] Shape, long DataOffset) ReadHeader(string path)
    {
        Errors.InputFiles.Require(path, "data file");
        using var s = File.OpenRead(path);
        var pre = new byte[10];
        ReadExactly(s, pre.AsSpan(0, Math.Min(10, (int)Math.Max(0, s.Length))), path, "the .npy header");
        if (s.Length < 10 || pre[0] != 0x93 || Encoding.ASCII.GetString(pre, 1, 5) != "NUMPY")
            throw Bad(path, "not a .npy file: it does not start with the magic \\x93NUMPY.");
        int major = pre[6];
        int headerLength;
        long start;
        if (major == 1) { headerLength = BinaryPrimitives.ReadUInt16LittleEndian(pre.AsSpan(8)); start = 10; }
        else if (major is 2 or 3)
        {
            var four = new byte[2];
            ReadExactly(s, four, path, "the .npy header");
            headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian([pre[8], pre[9], four[0], four[1]]);
            start = 12;
        }
        else throw Bad(path, $".npy format version {major} is not supported (expected 1, 2 or 3).");
        if (headerLength <= 0 || start + headerLength > s.Length) throw Bad(path, "the .npy header is truncated.");
        var header = new byte[headerLength];
        s.Position = start;
        ReadExactly(s, header, path, "the .npy header");
        var text = Encoding.Latin1.GetString(header);
        var descr = DescrPattern().Match(text);
        var order = OrderPattern().Match(text);
        var shape = ShapePattern().Match(text);
        if (!descr.Success || !order.Success || !shape.Success)
            throw Bad(path, $"the .npy header lacks 'descr', 'fortran_order' or 'shape': {text.Trim()}");
        if (order.Groups[1].Value == "True")
            throw Bad(path, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray(x).");
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => long.TryParse(v, out var n) && n > 0 ? n : throw Bad(path, $"bad dimension '{v}' in the .npy shape.")).ToArray();
        if (dims.Length == 0) throw Bad(path, "the .npy array is a scalar; expected samples.");
        return (descr.Groups[1].Value, dims, start + headerLength);
    }

    public override void Rewind()
    {
        _stream?.Dispose();
        _stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        _stream.Position = _dataOffset;
    }

    public override void ReadNext(Span<byte> destination)
    {
        if (_stream is null) Rewind();
        ReadExactly(_stream!, destination, _path, "a sample");
    }

    public override void Dispose()
    {
        _stream?.Dispose();
        base.Dispose();
    }
}

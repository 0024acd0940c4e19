using System.Buffers.Binary;

namespace Pfa.Core.Data;

/// <summary>
/// IDX files, the format of MNIST and Fashion-MNIST (raw or gzip): magic 00 00 08 (unsigned byte) and the
/// rank, big-endian 32-bit dimensions, then the data. Images are N×H×W (one channel); labels are N.
/// </summary>
public sealed class IdxSource : SampleSource
{
    readonly string _imagesPath;
    readonly int _headerBytes;
    Stream? _stream;

    public override int[] SampleShape { get; }
    public override bool IsUInt8 => true;
    public override long[] Labels { get; }
    public override string Description => $"IDX images {_imagesPath}";

    public IdxSource(string imagesPath, string labelsPath)
    {
        _imagesPath = imagesPath;
        var labelDims = ReadHeader(labelsPath, out var labelStream, out _);
        using (labelStream)
        {
            if (labelDims.Length != 1)
                throw Bad(labelsPath, $"a labels file must have rank 1 (N); this one has rank {labelDims.Length}. Did you swap the images and labels files?");
            var bytes = new byte[labelDims[0]];
            ReadExactly(labelStream, bytes, labelsPath, "the labels");
            Labels = bytes.Select(b => (long)b).ToArray();
        }
        var dims = ReadHeader(imagesPath, out var s, out _headerBytes);
        s.Dispose();
        if (dims.Length is not (3 or 4))
            throw Bad(imagesPath, $"an images file must have rank 3 (N×H×W) or 4 (N×C×H×W); this one has rank {dims.Length}. Did you swap the images and labels files?");
        if (dims[0] != Labels.Length)
            throw Bad(imagesPath, $"it has {dims[0]} images but '{labelsPath}' has {Labels.Length} labels.");
        SampleShape = dims.Length == 3 ? [1, dims[1], dims[2]] : [dims[1], dims[2], dims[3]];
        // Raw files can be checked for truncation up front; gzip ones are checked while reading.
        var info = new FileInfo(imagesPath);
        using (var probe = OpenMaybeGzip(imagesPath))
            if (probe is FileStream && info.Length < _headerBytes + (long)dims[0] * SampleElements)
                throw Bad(imagesPath, $"{dims[0]} images of {string.Join("×", SampleShape)} need {_headerBytes + (long)dims[0] * SampleElements} bytes; the file has {info.Length} (truncated?).");
    }

    static int[] ReadHeader(string path, out Stream stream, out int headerBytes)
    {
        stream = OpenMaybeGzip(path);
        Span<byte> magic = stackalloc byte[4];
        ReadExactly(stream, magic, path, "the IDX header");
        if (magic[0] != 0 || magic[1] != 0)
            throw Bad(path, $"not an IDX file: the magic number starts {magic[0]:X2} {magic[1]:X2}, expected 00 00.");
        if (magic[2] != 0x08)
            throw Bad(path, $"IDX element type 0x{magic[2]:X2} is not supported; expected 0x08 (unsigned byte).");
        int rank = magic[3];
        if (rank is < 1 or > 4) throw Bad(path, $"IDX rank {rank} is not supported.");
        var dims = new int[rank];
        Span<byte> dim = stackalloc byte[4];
        for (int i = 0; i < rank; i++)
        {
            ReadExactly(stream, dim, path, "the IDX header");
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dim);
            if (dims[i] <= 0) throw Bad(path, $"IDX dimension {i} is {dims[i]}.");
        }
        headerBytes = 4 + 4 * rank;
        return dims;
    }

    public override void Rewind()
    {
        _stream?.Dispose();
        _stream = OpenMaybeGzip(_imagesPath);
        Span<byte> skip = stackalloc byte[_headerBytes];
        ReadExactly(_stream, skip, _imagesPath, "the IDX header");
    }

    public override void ReadNext(Span<byte> destination)
    {
        if (_stream is null) Rewind();
        ReadExactly(_stream!, destination, _imagesPath, "an image");
    }

    public override void Dispose()
    {
        _stream?.Dispose();
        base.Dispose();
    }
}

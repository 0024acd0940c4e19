namespace Pfa.Core.Data;

/// <summary>
/// CIFAR-10 / CIFAR-100 binary files: fixed records of the label byte(s) (CIFAR-100: coarse then fine) and
/// 3072 bytes of 32×32 pixels, red plane then green then blue.
/// </summary>
public sealed class CifarSource : SampleSource
{
    readonly IReadOnlyList<string> _files;
    readonly int _labelBytes;
    int _file = -1;
    FileStream? _stream;
    long _remaining;

    const int ImageBytes = 3 * 32 * 32;
    public override int[] SampleShape => [3, 32, 32];
    public override bool IsUInt8 => true;
    public override long[] Labels { get; }
    public override string Description => $"CIFAR-{(_labelBytes == 1 ? 10 : 100)} {string.Join(", ", _files.Select(Path.GetFileName))}";

    /// <param name="files">The binary batch files (data_batch_1.bin …, or train.bin/test.bin for CIFAR-100).</param>
    /// <param name="cifar100">Whether the files are CIFAR-100 (two label bytes per record) rather than CIFAR-10.</param>
    /// <param name="fine">CIFAR-100 only: use the 100 fine labels (default) rather than the 20 coarse ones.</param>
    public CifarSource(IReadOnlyList<string> files, bool cifar100, bool fine = true)
    {
        _files = files;
        _labelBytes = cifar100 ? 2 : 1;
        int record = _labelBytes + ImageBytes;
        var labels = new List<long>();
        var one = new byte[_labelBytes];
        foreach (var f in files)
        {
            Errors.InputFiles.Require(f, "data file");
            using var s = File.OpenRead(f);
            if (s.Length == 0 || s.Length % record != 0)
                throw Bad(f, $"a CIFAR-{(cifar100 ? 100 : 10)} file is a whole number of {record}-byte records; this one has {s.Length} bytes (truncated, or the other CIFAR variant?).");
            for (long r = 0; r < s.Length / record; r++)
            {
                s.Position = r * record;
                s.ReadExactly(one);
                long label = cifar100 ? (fine ? one[1] : one[0]) : one[0];
                int max = cifar100 ? (fine ? 100 : 20) : 10;
                if (label >= max) throw Bad(f, $"record {r} has label {label}; CIFAR-{(cifar100 ? 100 : 10)} labels are below {max} (is this the other CIFAR variant?).");
                labels.Add(label);
            }
        }
        Labels = labels.ToArray();
    }

    public override void Rewind()
    {
        _stream?.Dispose();
        _stream = null;
        _file = -1;
        _remaining = 0;
    }

    public override void ReadNext(Span<byte> destination)
    {
        while (_remaining == 0)
        {
            _stream?.Dispose();
            _file++;
            _stream = new FileStream(_files[_file], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            _remaining = _stream.Length / (_labelBytes + ImageBytes);
        }
        Span<byte> label = stackalloc byte[_labelBytes];
        ReadExactly(_stream!, label, _files[_file], "a record");
        ReadExactly(_stream!, destination, _files[_file], "a record");
        _remaining--;
    }

    public override void Dispose()
    {
        _stream?.Dispose();
        base.Dispose();
    }
}

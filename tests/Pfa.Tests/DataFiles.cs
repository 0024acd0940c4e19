using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Pfa.Tests;

/// <summary>Writes small datasets in the real file formats, byte by byte from their specifications.</summary>
public static class DataFiles
{
    /// <summary>Pixel value of sample i at element j: distinct per sample so order can be checked.</summary>
    public static byte Pixel(int i, int j) => (byte)((i * 7 + j) % 256);

    public static void Idx(string imagesPath, string labelsPath, int n, int h, int w, Func<int, byte> label, bool gzip)
    {
        var images = new List<byte> { 0, 0, 8, 3 };
        foreach (var d in new[] { n, h, w }) images.AddRange(BigEndian(d));
        for (int i = 0; i < n; i++) for (int j = 0; j < h * w; j++) images.Add(Pixel(i, j));
        var labels = new List<byte> { 0, 0, 8, 1 };
        labels.AddRange(BigEndian(n));
        for (int i = 0; i < n; i++) labels.Add(label(i));
        Write(imagesPath, images.ToArray(), gzip);
        Write(labelsPath, labels.ToArray(), gzip);
    }

    static byte[] BigEndian(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); return b; }

    public static void Write(string path, byte[] bytes, bool gzip)
    {
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var f = File.Create(path);
        using var z = new GZipStream(f, CompressionLevel.Fastest);
        z.Write(bytes);
    }

    public static void Cifar(string path, int n, bool cifar100, Func<int, byte> label)
    {
        var bytes = new List<byte>();
        for (int i = 0; i < n; i++)
        {
            if (cifar100) bytes.Add((byte)(label(i) / 5));
            bytes.Add(label(i));
            for (int j = 0; j < 3072; j++) bytes.Add(Pixel(i, j));
        }
        File.WriteAllBytes(path, bytes.ToArray());
    }

    /// <summary>A version-1 .npy file: magic, version, header length, dict padded to 64 bytes, data.</summary>
    public static void Npy(string path, string descr, long[] shape, byte[] data)
    {
        var dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + dict.Length + 1;
        dict = dict.PadRight(dict.Length + (64 - total % 64) % 64) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.AddRange([1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)dict.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(dict));
        bytes.AddRange(data);
        File.WriteAllBytes(path, bytes.ToArray());
    }
}

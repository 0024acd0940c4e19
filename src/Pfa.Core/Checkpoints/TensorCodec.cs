using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Checkpoints;

/// <summary>Raw little-endian tensor bytes to and from tensors. Half-precision data becomes float32, float64
/// stays float64 (statistics need it; weights are converted when loaded into a network), and integer data (a
/// batch norm's step counter) becomes int64.</summary>
internal static class TensorCodec
{
    public static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 => 8,
        _ => throw new NotSupportedException(t.ToString()),
    };

    public static bool IsReadable(ScalarType t) => t is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16
        or ScalarType.BFloat16 or ScalarType.Int64 or ScalarType.Int32 or ScalarType.Byte;

    public static Tensor Decode(ReadOnlySpan<byte> data, ScalarType type, long[] shape)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        switch (type)
        {
            case ScalarType.Float32:
                return tensor(MemoryMarshal.Cast<byte, float>(data).ToArray(), shape);
            case ScalarType.Float64:
                return tensor(MemoryMarshal.Cast<byte, double>(data).ToArray(), shape);
            case ScalarType.Float16:
            {
                var h = MemoryMarshal.Cast<byte, Half>(data);
                var f = new float[h.Length];
                for (int i = 0; i < h.Length; i++) f[i] = (float)h[i];
                return tensor(f, shape);
            }
            case ScalarType.BFloat16:
            {
                var u = MemoryMarshal.Cast<byte, ushort>(data);
                var f = new float[u.Length];
                for (int i = 0; i < u.Length; i++) f[i] = BitConverter.Int32BitsToSingle(u[i] << 16);
                return tensor(f, shape);
            }
            case ScalarType.Int64:
                return tensor(MemoryMarshal.Cast<byte, long>(data).ToArray(), shape);
            case ScalarType.Int32:
                return tensor(MemoryMarshal.Cast<byte, int>(data).ToArray().Select(v => (long)v).ToArray(), shape);
            case ScalarType.Byte:
                return tensor(data.ToArray().Select(v => (long)v).ToArray(), shape);
            default:
                throw new NotSupportedException(type.ToString());
        }
    }

    /// <summary>The tensor's bytes as float64 (float64), float32 (other floating types) or int64 (integer types).</summary>
    public static (ScalarType Type, byte[] Bytes) Encode(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        if (is_integral(c.dtype))
        {
            using var l = c.to_type(ScalarType.Int64);
            return (ScalarType.Int64, MemoryMarshal.AsBytes(l.data<long>().ToArray().AsSpan()).ToArray());
        }
        if (c.dtype == ScalarType.Float64)
            return (ScalarType.Float64, MemoryMarshal.AsBytes(c.data<double>().ToArray().AsSpan()).ToArray());
        using var f = c.to_type(ScalarType.Float32);
        return (ScalarType.Float32, MemoryMarshal.AsBytes(f.data<float>().ToArray().AsSpan()).ToArray());
    }

    public static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>Refuses NaN or ±Inf in any floating-point tensor: such weights or statistics come from a damaged
    /// file or a diverged run, and would otherwise reach an eigendecomposition or an accuracy as garbage.</summary>
    public static void RequireFinite(IEnumerable<(string Key, Tensor Value)> entries, string path, string what, string code)
    {
        foreach (var (key, t) in entries)
        {
            if (!t.is_floating_point()) continue;
            using var _ = NewDisposeScope();
            long bad = t.isfinite().logical_not().sum().item<long>();
            if (bad > 0)
                throw new Errors.PfaException(code, $"{what} '{path}': tensor '{Errors.Printable.Escape(key)}' holds {bad} NaN or infinite value{(bad == 1 ? "" : "s")} (of {t.numel()}); the file is damaged or comes from a run that diverged.", path);
        }
    }
}

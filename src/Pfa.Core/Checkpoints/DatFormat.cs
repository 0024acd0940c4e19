using System.Text;
using Pfa.Core.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Checkpoints;

/// <summary>
/// TorchSharp's own checkpoint format, what <c>Module.save</c> writes and <c>Module.load</c> reads: a LEB128
/// entry count, then per entry a .NET length-prefixed UTF-8 key, the LEB128 scalar type, the LEB128 rank,
/// each LEB128 dimension, and the raw little-endian data.
/// </summary>
public static class DatFormat
{
    public static List<(string Key, Tensor Value)> Read(string path)
    {
        using var stream = File.OpenRead(path);
        // Strict UTF-8: a damaged key is an error, not a name full of replacement characters.
        using var r = new BinaryReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true));
        long length = stream.Length;
        PfaException Bad(string msg) => new(ErrorCodes.InvalidWeights, $"'{path}' is not a valid TorchSharp checkpoint: {msg}", path);
        var entries = new List<(string, Tensor)>();
        try
        {
            long count = ReadLeb(r);
            if (count < 0 || count > 1_000_000) throw Bad($"it declares {count} entries.");
            for (long i = 0; i < count; i++)
            {
                string key = r.ReadString();
                long type = ReadLeb(r);
                if (!Enum.IsDefined(typeof(ScalarType), (sbyte)type) || !TensorCodec.IsReadable((ScalarType)type))
                    throw Bad($"entry '{key}' has dtype code {type} ({(Enum.IsDefined(typeof(ScalarType), (sbyte)type) ? ((ScalarType)type).ToString() : "unknown")}); supported: Float32, Float64, Float16, BFloat16, Int64, Int32, Byte.");
                long rank = ReadLeb(r);
                if (rank < 0 || rank > 8) throw Bad($"entry '{key}' has rank {rank}.");
                var shape = new long[rank];
                for (int d = 0; d < rank; d++)
                {
                    shape[d] = ReadLeb(r);
                    if (shape[d] < 0) throw Bad($"entry '{key}' has a negative dimension.");
                }
                if (SizeMath.Bytes(shape, TensorCodec.ElementSize((ScalarType)type)) is not { } bytes)
                    throw Bad($"entry '{key}' has shape {TensorCodec.Shape(shape)}, larger than any tensor this tool can read ({SizeMath.MaxBytes:N0} bytes).");
                if (bytes > length - stream.Position)
                    throw Bad($"entry '{key}' of shape {TensorCodec.Shape(shape)} needs {bytes} bytes but the file ends after {length - stream.Position} (truncated?).");
                var data = r.ReadBytes((int)bytes);
                entries.Add((key, TensorCodec.Decode(data, (ScalarType)type, shape)));
            }
            if (stream.Position != length)
                throw Bad($"{length - stream.Position} unexpected bytes follow the last entry.");
            return entries;
        }
        catch (EndOfStreamException)
        {
            foreach (var (_, t) in entries) t.Dispose();
            throw Bad("the file ends in the middle of an entry (truncated?).");
        }
        catch (DecoderFallbackException)
        {
            foreach (var (_, t) in entries) t.Dispose();
            throw Bad($"the key of entry {entries.Count} (before byte {stream.Position}) is not valid UTF-8; the file is damaged.");
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            // A malformed LEB128 number or key length: damaged data, not an I/O fault.
            foreach (var (_, t) in entries) t.Dispose();
            throw Bad($"a length or number in it is malformed at byte {stream.Position} ({e.Message}).");
        }
        catch (PfaException)
        {
            foreach (var (_, t) in entries) t.Dispose();
            throw;
        }
    }

    public static void Write(Stream stream, IEnumerable<(string Key, Tensor Value)> entries)
    {
        var list = entries.ToList();
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        WriteLeb(w, list.Count);
        foreach (var (key, value) in list)
        {
            var (type, bytes) = TensorCodec.Encode(value);
            w.Write(key);
            WriteLeb(w, (long)type);
            WriteLeb(w, value.shape.Length);
            foreach (var d in value.shape) WriteLeb(w, d);
            w.Write(bytes);
        }
    }

    static long ReadLeb(BinaryReader r)
    {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = r.ReadByte();
            result |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new InvalidDataException("bad LEB128 number");
    }

    static void WriteLeb(BinaryWriter w, long value)
    {
        ulong v = (ulong)value;
        do
        {
            byte b = (byte)(v & 0x7f);
            v >>= 7;
            if (v != 0) b |= 0x80;
            w.Write(b);
        } while (v != 0);
    }
}

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Pfa.Core.Errors;
using static TorchSharp.torch;

namespace Pfa.Core.Checkpoints;

/// <summary>
/// The safetensors format (what PyTorch users export a <c>state_dict</c> to): an 8-byte little-endian header
/// length, a JSON header mapping each key to dtype, shape and [begin, end) data offsets, then the raw
/// little-endian data. Reads F32/F64/F16/BF16 (and I64/I32/U8 counters); writes weights as F32 (statistics
/// as F64, counters as I64).
/// </summary>
public static class SafetensorsFormat
{
    static readonly Dictionary<string, ScalarType> Types = new()
    {
        ["F32"] = ScalarType.Float32, ["F64"] = ScalarType.Float64, ["F16"] = ScalarType.Float16, ["BF16"] = ScalarType.BFloat16,
        ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32, ["U8"] = ScalarType.Byte,
    };

    public static List<(string Key, Tensor Value)> Read(string path)
    {
        PfaException Bad(string msg) => new(ErrorCodes.InvalidWeights, $"'{path}' is not a valid safetensors file: {msg}", path);
        using var stream = File.OpenRead(path);
        long length = stream.Length;
        if (length < 8) throw Bad($"it is {length} bytes long; the 8-byte header length alone needs 8.");
        Span<byte> head = stackalloc byte[8];
        stream.ReadExactly(head);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (headerLength == 0 || headerLength > 100_000_000 || (long)headerLength > length - 8)
            throw Bad($"the header length is {headerLength} bytes but the file has {length - 8} bytes after it.");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = length - dataStart;

        try { _ = new System.Text.UTF8Encoding(false, true).GetCharCount(headerBytes); }
        catch (System.Text.DecoderFallbackException e) { throw Bad($"its JSON header is not valid UTF-8 (byte {e.Index} of the header); the file is damaged."); }
        JsonDocument header;
        try { header = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw Bad($"its JSON header does not parse ({e.Message})."); }
        using (header)
        {
            if (header.RootElement.ValueKind != JsonValueKind.Object) throw Bad("its header is not a JSON object.");
            var specs = new List<(string Key, ScalarType Type, long[] Shape, long Begin, long End)>();
            foreach (var prop in header.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__") continue;
                var e = prop.Value;
                try
                {
                    var dtype = e.GetProperty("dtype").GetString() ?? "";
                    if (!Types.TryGetValue(dtype, out var type))
                        throw Bad($"tensor '{prop.Name}' has dtype '{dtype}'; supported: {string.Join(", ", Types.Keys)}.");
                    var shape = e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
                    var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(v => v.GetInt64()).ToArray();
                    if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                        throw Bad($"tensor '{prop.Name}' has data_offsets [{string.Join(", ", offsets)}]; expected [begin, end] with 0 ≤ begin ≤ end.");
                    if (offsets[1] > dataLength)
                        throw Bad($"tensor '{prop.Name}' has data_offsets [{string.Join(", ", offsets)}] past the {dataLength} data bytes the file has (truncated?).");
                    if (shape.Any(d => d < 0)) throw Bad($"tensor '{prop.Name}' has a negative dimension.");
                    if (SizeMath.Bytes(shape, TensorCodec.ElementSize(type)) is not { } expected)
                        throw Bad($"tensor '{prop.Name}' has shape {TensorCodec.Shape(shape)}, larger than any tensor this tool can read ({SizeMath.MaxBytes:N0} bytes).");
                    if (offsets[1] - offsets[0] != expected)
                        throw Bad($"tensor '{prop.Name}' of dtype {dtype} and shape {TensorCodec.Shape(shape)} needs {expected} bytes but its data_offsets span {offsets[1] - offsets[0]}.");
                    specs.Add((prop.Name, type, shape, offsets[0], offsets[1]));
                }
                catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
                {
                    throw Bad($"tensor '{prop.Name}' needs 'dtype' (string), 'shape' and 'data_offsets' (arrays of integers).");
                }
            }
            var result = new List<(string, Tensor)>();
            foreach (var s in specs)
            {
                var buffer = new byte[s.End - s.Begin];
                stream.Position = dataStart + s.Begin;
                stream.ReadExactly(buffer);
                result.Add((s.Key, TensorCodec.Decode(buffer, s.Type, s.Shape)));
            }
            return result;
        }
    }

    public static void Write(Stream stream, IEnumerable<(string Key, Tensor Value)> entries)
    {
        var encoded = entries.OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => (e.Key, Shape: e.Value.shape, Enc: TensorCodec.Encode(e.Value))).ToList();
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            long offset = 0;
            foreach (var (key, shape, enc) in encoded)
            {
                w.WriteStartObject(key);
                w.WriteString("dtype", enc.Type switch { ScalarType.Int64 => "I64", ScalarType.Float64 => "F64", _ => "F32" });
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + enc.Bytes.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += enc.Bytes.Length;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        var headerBytes = json.ToArray().ToList();
        while (headerBytes.Count % 8 != 0) headerBytes.Add((byte)' ');
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Count);
        stream.Write(len);
        stream.Write(headerBytes.ToArray());
        foreach (var (_, _, enc) in encoded) stream.Write(enc.Bytes);
    }
}

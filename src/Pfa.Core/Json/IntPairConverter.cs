using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Json;

/// <summary>A 2-D size written as one number when both sides agree (<c>3</c>) or as <c>[3, 1]</c>.</summary>
[JsonConverter(typeof(IntPairConverter))]
public readonly record struct IntPair(int H, int W)
{
    public static implicit operator IntPair(int v) => new(v, v);
    public override string ToString() => H == W ? $"{H}" : $"{H}x{W}";
}

public sealed class IntPairConverter : JsonConverter<IntPair>
{
    public override IntPair Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return reader.GetInt32();
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new JsonException("expected a number or an array of two numbers");
        var values = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException("expected a number or an array of two numbers");
            values.Add(reader.GetInt32());
        }
        if (values.Count != 2) throw new JsonException($"expected an array of two numbers, found {values.Count}");
        return new IntPair(values[0], values[1]);
    }

    public override void Write(Utf8JsonWriter writer, IntPair value, JsonSerializerOptions options)
    {
        if (value.H == value.W) { writer.WriteNumberValue(value.H); return; }
        writer.WriteStartArray();
        writer.WriteNumberValue(value.H);
        writer.WriteNumberValue(value.W);
        writer.WriteEndArray();
    }
}

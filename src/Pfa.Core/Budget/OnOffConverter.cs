using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>A setting that is <c>true</c> (its defaults), <c>false</c> (off) or an object of whole numbers (and of
/// the members <see cref="Words"/> names, which take a word or <c>false</c>).</summary>
public abstract class OnOffConverter<T> : JsonConverter<T> where T : class
{
    protected abstract T On { get; }
    protected abstract T Off { get; }
    protected abstract IReadOnlyList<string> Names { get; }
    protected abstract T With(T value, string name, int number);
    /// <summary>The object's members that take a word (checked by the budget's validation) or <c>false</c> (null).</summary>
    protected virtual IReadOnlyList<string> Words => [];
    protected virtual T With(T value, string name, string? word) => throw new NotSupportedException(name);
    protected abstract void WriteObject(Utf8JsonWriter writer, T value);
    protected abstract bool IsOff(T value);

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.True: return On;
            case JsonTokenType.False: return Off;
            case JsonTokenType.StartObject:
                var value = On;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = reader.GetString()!;
                    reader.Read();
                    // The messages System.Text.Json gives, so JsonErrorText explains them the usual way.
                    if (Words.Contains(name))
                    {
                        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.False)) throw new JsonException("The JSON value could not be converted to System.String.");
                        value = With(value, name, reader.TokenType == JsonTokenType.False ? null : reader.GetString());
                        continue;
                    }
                    if (!Names.Contains(name)) throw new JsonException($"The JSON property '{name}' could not be mapped to any .NET member contained in type '{typeof(T).FullName}'.");
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int number))
                        throw new JsonException("The JSON value could not be converted to System.Int32.");
                    value = With(value, name, number);
                }
                return value;
            default:
                throw new JsonException("The JSON value could not be converted to System.Boolean.");
        }
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        if (IsOff(value)) { writer.WriteBooleanValue(false); return; }
        writer.WriteStartObject();
        WriteObject(writer, value);
        writer.WriteEndObject();
    }
}

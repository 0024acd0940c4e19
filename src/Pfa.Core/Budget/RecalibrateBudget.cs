using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>recalibrate</c>: <c>{ "batches": 50 }</c>, <c>true</c> (the default) or <c>false</c> (off). How many
/// training batches re-estimate the batch-norm statistics after surgery (<see cref="Pipeline.BatchNormRecalibration"/>).
/// </summary>
[JsonConverter(typeof(RecalibrateBudgetConverter))]
public sealed record RecalibrateBudget
{
    public const int DefaultBatches = 50;

    /// <summary>0 = off.</summary>
    public int Batches { get; init; } = DefaultBatches;

    public static readonly RecalibrateBudget Off = new() { Batches = 0 };
}

/// <summary>Reads <c>true</c>, <c>false</c> or <c>{ "batches": n }</c>; writes the object (or <c>false</c>).</summary>
public sealed class RecalibrateBudgetConverter : JsonConverter<RecalibrateBudget>
{
    public override RecalibrateBudget Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.True: return new RecalibrateBudget();
            case JsonTokenType.False: return RecalibrateBudget.Off;
            case JsonTokenType.StartObject:
                int batches = RecalibrateBudget.DefaultBatches;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (name != "batches") throw new JsonException($"The JSON property '{name}' could not be mapped to any .NET member contained in type '{typeof(RecalibrateBudget).FullName}'.");
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out batches))
                        throw new JsonException("The JSON value could not be converted to System.Int32.");
                }
                return new RecalibrateBudget { Batches = batches };
            default:
                throw new JsonException("The JSON value could not be converted to System.Boolean.");
        }
    }

    public override void Write(Utf8JsonWriter writer, RecalibrateBudget value, JsonSerializerOptions options)
    {
        if (value.Batches == 0) { writer.WriteBooleanValue(false); return; }
        writer.WriteStartObject();
        writer.WriteNumber("batches", value.Batches);
        writer.WriteEndObject();
    }
}

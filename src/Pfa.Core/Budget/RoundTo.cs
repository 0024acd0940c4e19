using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pfa.Core.Budget;

/// <summary>
/// pfa.json's <c>round_to</c>: kept counts rounded up to a multiple — one for every layer (<c>16</c>, Torch-Pruning's
/// round_to), or <c>"auto"</c> (issue 22): per layer, the multiple at which that layer's latency measured on this
/// machine steps (<see cref="Metrics.LatencySteps"/>), so size targets stop producing widths the kernels punish.
/// </summary>
[JsonConverter(typeof(RoundToConverter))]
public sealed record RoundTo
{
    public const string AutoName = "auto";
    /// <summary>The multiple for every layer; 0 with <see cref="Auto"/>.</summary>
    public int Multiple { get; init; }
    public bool Auto { get; init; }

    public static RoundTo Every(int multiple) => new() { Multiple = multiple };
    public static readonly RoundTo Measured = new() { Auto = true };

    /// <summary>The fixed multiple when it rounds at all (above 1); null for 1 and for auto.</summary>
    public int? Fixed => !Auto && Multiple > 1 ? Multiple : null;

    public override string ToString() => Auto ? AutoName : Multiple.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A whole number or "auto"; anything else reads as System.Text.Json's own conversion error (located).</summary>
public sealed class RoundToConverter : JsonConverter<RoundTo>
{
    public override RoundTo Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Number when reader.TryGetInt32(out int m) => RoundTo.Every(m),
        JsonTokenType.String when reader.GetString() == RoundTo.AutoName => RoundTo.Measured,
        _ => throw new JsonException($"The JSON value could not be converted to {typeof(RoundTo).FullName}."),
    };

    public override void Write(Utf8JsonWriter writer, RoundTo value, JsonSerializerOptions options)
    {
        if (value.Auto) writer.WriteStringValue(RoundTo.AutoName);
        else writer.WriteNumberValue(value.Multiple);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Pfa.Core.Errors;

namespace Pfa.Core.Json;

/// <summary>A deserialised JSON file together with the map that locates its values for error messages.</summary>
public sealed record JsonInput<T>(T Value, string File, JsonSourceMap Map)
{
    /// <summary>An input error pointing at the value at <paramref name="jsonPath"/>.</summary>
    public PfaException Error(string code, string jsonPath, string message)
    {
        var (line, column) = Map.Locate(jsonPath);
        return new PfaException(code, message, File, line, column);
    }
}

/// <summary>Strict JSON reading and canonical writing shared by every file format of the tool.</summary>
public static partial class JsonFiles
{
    /// <summary>snake_case names, no unknown properties, comments and trailing commas tolerated.</summary>
    public static readonly JsonSerializerOptions ReadOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Indented, nulls omitted, "\n" line ends: the same bytes on every machine.</summary>
    public static readonly JsonSerializerOptions WriteOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        NewLine = "\n",
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static JsonInput<T> Read<T>(string path, string what)
    {
        InputFiles.Require(path, what);
        byte[] bytes;
        try { bytes = System.IO.File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PfaException(ErrorCodes.FileNotFound, $"cannot read {what} '{path}': {e.Message}", path);
        }
        return Parse<T>(bytes, path, what);
    }

    public static JsonInput<T> Parse<T>(byte[] bytes, string path, string what)
    {
        try { _ = new System.Text.UTF8Encoding(false, true).GetCharCount(bytes); }
        catch (System.Text.DecoderFallbackException e)
        {
            int at = Math.Max(0, e.Index);
            int line = 1 + bytes.AsSpan(0, Math.Min(at, bytes.Length)).Count((byte)'\n');
            throw new PfaException(ErrorCodes.InvalidJson, $"{what} is not valid UTF-8 (byte {at}); save it as UTF-8 text.", path, line, null);
        }
        var map = JsonSourceMap.Build(bytes);
        foreach (var (dupPath, line, column) in map.Duplicates.Take(1))
        {
            var (firstLine, firstColumn) = map.Locate(dupPath);
            var name = dupPath[(dupPath.LastIndexOf('.') + 1)..];
            throw new PfaException(ErrorCodes.InvalidJson, $"{what} is not valid: '{name}' appears twice in one object (first at line {firstLine}, column {firstColumn}); keep one. A JSON reader would silently take the last.", path, line, column);
        }
        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(bytes, ReadOptions);
        }
        catch (JsonException e)
        {
            int? line = e.LineNumber is long l ? (int)l + 1 : null;
            int? col = e.BytePositionInLine is long c ? (int)c + 1 : null;
            var message = CleanMessage(e.Message);
            if (JsonErrorText.Explain(e, typeof(T), map) is var (explained, jsonPath))
            {
                message = explained;
                if (jsonPath is not null) (line, col) = map.Locate(jsonPath);
            }
            throw new PfaException(ErrorCodes.InvalidJson, $"{what} is not valid: {message}", path, line, col, e);
        }
        if (value is null)
            throw new PfaException(ErrorCodes.InvalidJson, $"{what} is empty (expected a JSON object).", path, 1, 1);
        return new JsonInput<T>(value, path, map);
    }

    static string CleanMessage(string message)
    {
        // System.Text.Json appends " Path: $.x | LineNumber: 3 | BytePositionInLine: 4." — we report the position ourselves.
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        var core = cut > 0 ? message[..cut] : message;
        int pathStart = message.IndexOf("Path: ", StringComparison.Ordinal);
        if (pathStart >= 0)
        {
            int pathEnd = message.IndexOf(" |", pathStart, StringComparison.Ordinal);
            var jsonPath = pathEnd > 0 ? message[(pathStart + 6)..pathEnd] : message[(pathStart + 6)..];
            core = $"{core.TrimEnd('.')} (at {jsonPath})";
        }
        return core;
    }

    /// <summary>Canonical text: indented objects, arrays of numbers on one line, a final newline.</summary>
    public static string Serialize<T>(T value) =>
        NumberArray().Replace(JsonSerializer.Serialize(value, WriteOptions), m =>
            "[" + string.Join(", ", m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries)) + "]") + "\n";

    // Only arrays the indented writer laid out (a line break right after "["): a string value cannot contain
    // a raw line break, so text inside strings is never touched.
    [System.Text.RegularExpressions.GeneratedRegex(@"\[\n\s*([-+0-9.eE]+(?:,\n\s*[-+0-9.eE]+)*)\n\s*\]")]
    private static partial System.Text.RegularExpressions.Regex NumberArray();
}

using System.Text;
using System.Text.Json;

namespace Pfa.Core.Json;

/// <summary>
/// Where each value of a JSON document starts, by JSON path (<c>$.layers[2].kernel</c>), so that checks made
/// after deserialisation can still point at a line and column.
/// </summary>
public sealed class JsonSourceMap
{
    readonly Dictionary<string, long> _offsets = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _scalars = new(StringComparer.Ordinal);
    readonly List<(string Path, long Offset)> _duplicates = [];
    readonly byte[] _utf8;

    /// <summary>Properties named a second time in one object (path, 1-based line and column of the repeat).
    /// A reader would silently keep the last one; every file of the tool refuses them.</summary>
    public IEnumerable<(string Path, int Line, int Column)> Duplicates =>
        _duplicates.Select(d => { var (l, c) = LineColumn(d.Offset); return (d.Path, l, c); });

    /// <summary>The source text of the number, string, true/false or null at <paramref name="path"/> (at most 40 characters), or null.</summary>
    public string? Scalar(string path) => _scalars.GetValueOrDefault(path);

    JsonSourceMap(byte[] utf8) => _utf8 = utf8;

    public static JsonSourceMap Build(byte[] utf8)
    {
        var map = new JsonSourceMap(utf8);
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        // Each frame: the container's path and, for arrays, the next index.
        var stack = new Stack<(string Path, bool IsArray, int Next)>();
        string? pendingProperty = null;
        long pendingOffset = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName)
                {
                    pendingProperty = reader.GetString();
                    pendingOffset = reader.TokenStartIndex;
                    continue;
                }
                if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    stack.Pop();
                    continue;
                }
                string path;
                long offset = reader.TokenStartIndex;
                if (stack.Count == 0) path = "$";
                else if (stack.Peek().IsArray)
                {
                    var top = stack.Pop();
                    path = $"{top.Path}[{top.Next}]";
                    stack.Push((top.Path, true, top.Next + 1));
                }
                else
                {
                    path = $"{stack.Peek().Path}.{pendingProperty}";
                    offset = pendingOffset;
                }
                if (!map._offsets.TryAdd(path, offset) && !stack.Peek().IsArray) map._duplicates.Add((path, offset));
                if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
                {
                    var raw = Encoding.UTF8.GetString(utf8, (int)reader.TokenStartIndex, (int)Math.Min(40, reader.BytesConsumed - reader.TokenStartIndex));
                    map._scalars.TryAdd(path, raw.TrimEnd(',', ' ', '\n', '\r', '\t', '}', ']'));
                }
                if (reader.TokenType == JsonTokenType.StartObject) stack.Push((path, false, 0));
                else if (reader.TokenType == JsonTokenType.StartArray) stack.Push((path, true, 0));
            }
        }
        catch (JsonException)
        {
            // Malformed documents are reported by the deserialiser with its own position.
        }
        return map;
    }

    /// <summary>1-based line and column of <paramref name="path"/>, or of its nearest recorded ancestor.</summary>
    public (int Line, int Column) Locate(string path)
    {
        var p = path;
        while (true)
        {
            if (_offsets.TryGetValue(p, out var offset)) return LineColumn(offset);
            int cut = Math.Max(p.LastIndexOf('.'), p.LastIndexOf('['));
            if (cut <= 0) return (1, 1);
            p = p[..cut];
        }
    }

    (int, int) LineColumn(long offset)
    {
        int line = 1;
        long lineStart = 0;
        for (long i = 0; i < offset && i < _utf8.Length; i++)
            if (_utf8[i] == (byte)'\n') { line++; lineStart = i + 1; }
        int column = Encoding.UTF8.GetCharCount(_utf8, (int)lineStart, (int)(offset - lineStart)) + 1;
        return (line, column);
    }
}

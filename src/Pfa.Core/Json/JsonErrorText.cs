using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Pfa.Core.Json;

/// <summary>
/// System.Text.Json's messages in a user's words: an unknown property names itself, points at itself (not at its
/// value) and offers the closest known name ("did you mean 'energy'?"); a value of the wrong type says what was
/// expected ("a number") instead of a .NET type name.
/// </summary>
public static partial class JsonErrorText
{
    /// <summary>Message and JSON path (for the location) of a deserialisation error; null when not recognised.</summary>
    public static (string Message, string? Path)? Explain(JsonException e, Type root, JsonSourceMap? map = null)
    {
        var unmapped = Unmapped().Match(e.Message);
        if (unmapped.Success)
        {
            var name = unmapped.Groups[1].Value;
            var typeName = unmapped.Groups[2].Value;
            var type = FindType(root, typeName);
            var known = type is null ? [] : JsonNames(type);
            var suggestion = Closest(name, known);
            var container = e.Path is { Length: > 0 } p ? p : "$";
            var path = container.EndsWith("." + name, StringComparison.Ordinal) ? container : container + "." + name;
            var message = $"unknown property '{name}'" + (suggestion is not null ? $"; did you mean '{suggestion}'?" : ".")
                + (known.Count > 0 ? $" The properties here are: {string.Join(", ", known)}." : "");
            return (message, path);
        }
        var convert = Convert().Match(e.Message);
        if (convert.Success && e.Path is { Length: > 0 } valuePath)
        {
            // An array element is named with its array ("'include[0]'"), never by its position alone.
            int dot = valuePath.LastIndexOf('.');
            var property = dot >= 0 ? valuePath[(dot + 1)..] : valuePath.TrimStart('$');
            var found = map?.Scalar(valuePath);
            var expected = Describe(convert.Groups[1].Value);
            var range = IntegerRange(convert.Groups[1].Value);
            if (range is not null && found is not null && System.Numerics.BigInteger.TryParse(found, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
                return ($"'{property}' must be a whole number from {range}; found {found}.", valuePath);
            return ($"'{property}' must be {expected}" + (found is null ? "." : $"; found {Errors.Printable.Escape(found)}."), valuePath);
        }
        return null;
    }

    [GeneratedRegex(@"The JSON property '(.*)' could not be mapped to any \.NET member contained in type '([^']+)'")]
    private static partial Regex Unmapped();

    [GeneratedRegex(@"The JSON value could not be converted to ([^.\s]+(?:\.[^.\s]+)*)")]
    private static partial Regex Convert();

    /// <summary>"-2147483648 to 2147483647" for the integer types, else null.</summary>
    static string? IntegerRange(string dotnetType) => dotnetType.Contains("Int32", StringComparison.Ordinal) ? $"{int.MinValue} to {int.MaxValue}"
        : dotnetType.Contains("Int64", StringComparison.Ordinal) ? $"{long.MinValue} to {long.MaxValue}" : null;

    static string Describe(string dotnetType)
    {
        var t = dotnetType;
        if (t.Contains("Nullable`1[", StringComparison.Ordinal)) t = t[(t.IndexOf('[') + 1)..].TrimEnd(']');
        return t switch
        {
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.String" => "a string",
            "System.Boolean" => "true or false",
            "Pfa.Core.Budget.RoundTo" => "a whole number or \"auto\"",
            _ when t.EndsWith("[]", StringComparison.Ordinal) || t.Contains("List`1", StringComparison.Ordinal) => "an array",
            _ when t.Contains("Dictionary`2", StringComparison.Ordinal) => "an object",
            _ => "an object",
        };
    }

    /// <summary>The type named in the message: the root or one reachable from its properties.</summary>
    static Type? FindType(Type root, string fullName)
    {
        var seen = new HashSet<Type>();
        var queue = new Queue<Type>([root]);
        while (queue.Count > 0)
        {
            var t = queue.Dequeue();
            if (!seen.Add(t)) continue;
            if (t.FullName == fullName) return t;
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var pt = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
                if (pt.IsGenericType) foreach (var a in pt.GetGenericArguments()) queue.Enqueue(a);
                if (pt.IsArray) queue.Enqueue(pt.GetElementType()!);
                if (pt.Assembly == root.Assembly) queue.Enqueue(pt);
            }
        }
        return null;
    }

    static List<string> JsonNames(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null && p.SetMethod is not null)
            .Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))
            .ToList();

    /// <summary>The known name within edit distance 2 (or a third of the name's length), closest first.</summary>
    internal static string? Closest(string name, IReadOnlyList<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            int d = Distance(name.ToLowerInvariant(), k.ToLowerInvariant());
            if (d < bestDistance) { best = k; bestDistance = d; }
        }
        return bestDistance <= Math.Max(2, name.Length / 3) ? best : null;
    }

    static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}

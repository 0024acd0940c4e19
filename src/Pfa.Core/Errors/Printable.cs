using System.Text;

namespace Pfa.Core.Errors;

/// <summary>Text from files (layer names, tensor keys, paths) made safe for a terminal: control characters are
/// shown as \uXXXX instead of being sent raw, so a damaged file cannot move the cursor or change colours.</summary>
public static class Printable
{
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Any(char.IsControl)) return text ?? "";
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
            if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        return sb.ToString();
    }
}

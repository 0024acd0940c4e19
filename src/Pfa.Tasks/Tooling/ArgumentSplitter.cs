using System.Text;

namespace Pfa.Tasks.Tooling;

/// <summary>
/// Splits an item's <c>Arguments</c> metadata into separate arguments, the way a POSIX shell splits words:
/// whitespace separates, single quotes keep everything literally, double quotes keep whitespace and allow
/// <c>\"</c> and <c>\\</c>, a backslash outside quotes escapes the next character. Each argument is then passed
/// to the tool as one argument whatever it contains, so `--data "my data"` reaches the tool as two arguments.
/// </summary>
public static class ArgumentSplitter
{
    public static IReadOnlyList<string> Split(string? text)
    {
        var result = new List<string>();
        if (string.IsNullOrWhiteSpace(text)) return result;
        var current = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < text!.Length; i++)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord) { result.Add(current.ToString()); current.Clear(); inWord = false; }
                continue;
            }
            inWord = true;
            if (c == '\'')
            {
                int end = text.IndexOf('\'', i + 1);
                if (end < 0) throw new FormatException($"an unmatched ' at position {i + 1}");
                current.Append(text, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                int j = i + 1;
                for (; j < text.Length && text[j] != '"'; j++)
                {
                    if (text[j] == '\\' && j + 1 < text.Length && text[j + 1] is '"' or '\\') j++;
                    current.Append(text[j]);
                }
                if (j >= text.Length) throw new FormatException($"an unmatched \" at position {i + 1}");
                i = j;
            }
            else if (c == '\\' && i + 1 < text.Length) current.Append(text[++i]);
            else current.Append(c);
        }
        if (inWord) result.Add(current.ToString());
        return result;
    }
}

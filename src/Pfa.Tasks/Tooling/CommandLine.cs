using System.Text;

namespace Pfa.Tasks.Tooling;

/// <summary>
/// One command-line string from separate arguments, quoted so that .NET's process start (which splits a
/// command line by the Windows argv rules on every OS) gives each argument back unchanged: spaces, quotes and
/// backslashes included.
/// </summary>
public static class CommandLine
{
    public static string Join(IEnumerable<string> arguments) => string.Join(" ", arguments.Select(Quote));

    public static string Quote(string argument)
    {
        if (argument.Length > 0 && argument.All(c => c is not (' ' or '\t' or '\n' or '\v' or '"'))) return argument;
        var sb = new StringBuilder("\"");
        for (int i = 0; i < argument.Length; i++)
        {
            int backslashes = 0;
            while (i < argument.Length && argument[i] == '\\') { backslashes++; i++; }
            if (i == argument.Length) { sb.Append('\\', backslashes * 2); break; }      // before the closing quote
            if (argument[i] == '"') sb.Append('\\', backslashes * 2 + 1).Append('"');  // an escaped quote
            else sb.Append('\\', backslashes).Append(argument[i]);
        }
        return sb.Append('"').ToString();
    }
}

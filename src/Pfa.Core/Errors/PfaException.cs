namespace Pfa.Core.Errors;

/// <summary>Process exit codes shared by every verb (see README, "Exit codes").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int GateFailed = 1;
    public const int BadInput = 2;
    public const int Internal = 3;
}

/// <summary>
/// An error the user can act on: a code (<c>PFA0xxx</c> bad input, <c>PFA1xxx</c> gate), a message that says
/// what was expected and what was found, and where (file, line, column) when there is a place to point at.
/// </summary>
public class PfaException : Exception
{
    public string Code { get; }
    public string? File { get; }
    public int? Line { get; }
    public int? Column { get; }
    public int ExitCode => Code.StartsWith("PFA1", StringComparison.Ordinal) ? ExitCodes.GateFailed : ExitCodes.BadInput;

    public PfaException(string code, string message, string? file = null, int? line = null, int? column = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>"file(line,col): error CODE: message", the shape compilers and MSBuild use.</summary>
    public string Format()
    {
        var file = Printable.Escape(File);
        var where = File is null ? "" : Line is null ? $"{file}: " : $"{file}({Line},{Column ?? 1}): ";
        return $"{where}error {Code}: {Printable.Escape(Message)}";
    }
}

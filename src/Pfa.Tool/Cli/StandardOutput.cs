using System.Text;
using Pfa.Core.Errors;

namespace Pfa.Tool.Cli;

/// <summary>
/// Standard output that says so when it cannot be written (closed with <c>&gt;&amp;-</c>, a full disk behind a
/// redirect): .NET reports a closed descriptor as "Access to the path is denied", which reads like a problem with
/// one of the user's files. The error becomes PFA0001 about standard output itself.
/// </summary>
public sealed class StandardOutput(TextWriter inner) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    T Guard<T>(Func<T> write)
    {
        try { return write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PfaException(ErrorCodes.FileNotFound, $"cannot write to standard output ({e.Message.TrimEnd('.')}): it is closed or not writable. Leave it open, or redirect it to a file or /dev/null.");
        }
    }

    public override void Write(char value) => Guard(() => { inner.Write(value); return 0; });
    public override void Write(string? value) => Guard(() => { inner.Write(value); return 0; });
    public override void Write(char[] buffer, int index, int count) => Guard(() => { inner.Write(buffer, index, count); return 0; });
    public override void WriteLine(string? value) => Guard(() => { inner.WriteLine(value); return 0; });
    public override void Flush() => Guard(() => { inner.Flush(); return 0; });
}

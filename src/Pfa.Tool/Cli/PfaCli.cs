using System.CommandLine;
using Pfa.Core.Errors;

namespace Pfa.Tool.Cli;

/// <summary>
/// The verbs of <c>dotnet pfa</c>. Every verb runs through <see cref="Guard"/>, which turns input errors into
/// "file(line,col): error PFA0xxx: …" and exit code 2, gate failures into exit code 1, and anything
/// unexpected into a one-line internal error and exit code 3 — never a raw stack trace.
/// </summary>
public static class PfaCli
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TerminalProgress? terminal = null)
    {
        var root = new RootCommand("dotnet pfa: Principal Filter Analysis for TorchSharp CNNs — make trained networks smaller by what their layers do.");
        var verbose = new Option<bool>("--verbose") { Description = "Print stack traces of internal errors.", Recursive = true };
        root.Options.Add(verbose);
        var context = new CliContext(stdout, stderr) { Terminal = terminal };
        Pfa.Core.Native.ConvolutionCheck.Log = line => stderr.WriteLine(line);
        root.Subcommands.Add(InfoCommand.Create(context));
        root.Subcommands.Add(EvalCommand.Create(context));
        root.Subcommands.Add(CompressCommand.Create(context));
        root.Subcommands.Add(AnalyzeCommand.Create(context));
        root.Subcommands.Add(RecipeCommand.Create(context));
        root.Subcommands.Add(ApplyCommand.Create(context));
        root.Subcommands.Add(FinetuneCommand.Create(context));
        root.Subcommands.Add(MergeCommand.Create(context));
        root.Subcommands.Add(AcceptCommand.Create(context));
        root.Subcommands.Add(DescribeCommand.Create(context));
        root.Subcommands.Add(ExportCommand.Create(context));

        var parse = root.Parse(args);
        context.Verbose = parse.GetValue(verbose);
        // An empty value ("--out ''", an unset variable in a script) is never a usable path or number.
        foreach (var option in parse.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>())
            if (option.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                stderr.WriteLine($"error {ErrorCodes.InvalidArgument}: {option.Option.Name} is empty; give it a value (an unset variable in a script?).");
                return ExitCodes.BadInput;
            }
        foreach (var argument in parse.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>())
            if (argument.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                stderr.WriteLine($"error {ErrorCodes.InvalidArgument}: an empty {argument.Argument.Name} argument; give it a value (an unset variable in a script?).");
                return ExitCodes.BadInput;
            }
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine($"error {ErrorCodes.InvalidArgument}: {Explain(e.Message)}");
            stderr.WriteLine("Run 'dotnet pfa --help' (or 'dotnet pfa <verb> --help') for usage.");
            return ExitCodes.BadInput;
        }
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>System.CommandLine's type errors in a user's words: "--limit must be a whole number (at most
    /// 2147483647); found '99999999999'", never a .NET type name such as System.Nullable`1[System.Int32].</summary>
    internal static string Explain(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message, @"^Cannot parse argument '(.*)' for option '([^']+)' as expected type '([^']+)'");
        if (!m.Success) return message;
        var type = m.Groups[3].Value;
        var expected = type.Contains("Int32", StringComparison.Ordinal) ? $"a whole number (at most {int.MaxValue})"
            : type.Contains("Int64", StringComparison.Ordinal) ? $"a whole number (at most {long.MaxValue})"
            : type.Contains("Double", StringComparison.Ordinal) ? "a number" : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false" : "a value of another form";
        return $"{m.Groups[2].Value} must be {expected}; found '{Printable.Escape(m.Groups[1].Value)}'.";
    }
}


/// <summary>Output streams and flags shared by the verbs.</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    public bool Verbose { get; set; }
    /// <summary>Draws a progress line per long stage; null where output is not a terminal (logs stay plain).</summary>
    public TerminalProgress? Terminal { get; set; }

    /// <summary>The progress callback of a stage, or null.</summary>
    public Action<long, long>? Progress(string stage) => Terminal?.Stage(stage);

    public int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (PfaException e)
        {
            Err.WriteLine(e.Format());
            return e.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && !IsNativeLoadFailure(e))
        {
            // The environment, not the tool: a full disk, a read-only or vanished location, a path that is a file.
            Err.WriteLine($"error {ErrorCodes.FileNotFound}: {Printable.Escape(e.Message)} — check the path, its permissions and the free space.");
            if (Verbose) Err.WriteLine(e.ToString());
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (IsNativeLoadFailure(e))
        {
            Err.WriteLine($"error: TorchSharp's native library could not be loaded: {Innermost(e).Message}");
            Err.WriteLine("On Debian 12 and other systems with libstdc++ older than GCC 13, rebuild or reinstall the tool so its native fix is applied (see README, 'Native library').");
            return ExitCodes.Internal;
        }
        catch (Exception e)
        {
            Err.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
            if (Verbose) Err.WriteLine(e.ToString());
            else Err.WriteLine("This is a bug in dotnet-pfa; rerun with --verbose and report the output.");
            return ExitCodes.Internal;
        }
    }

    static bool IsNativeLoadFailure(Exception e) =>
        Innermost(e) is DllNotFoundException || e is TypeInitializationException { InnerException: DllNotFoundException };

    static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);
}

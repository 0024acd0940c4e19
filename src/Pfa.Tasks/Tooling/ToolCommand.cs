using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pfa.Tasks.Tooling;

/// <summary>
/// How the tool is started: the executable and the arguments that come before the verb.
/// <list type="bullet">
/// <item>no <c>PfaToolPath</c>: <c>dotnet pfa</c> — a local tool from the project's manifest, or a global one;</item>
/// <item>a path to <c>dotnet-pfa.dll</c>: <c>dotnet that.dll</c>;</item>
/// <item>any other path: that executable.</item>
/// </list>
/// "dotnet" is the host that runs the build (<c>DOTNET_HOST_PATH</c>, as ILLink and the SDK's own tasks do), so a
/// build never picks up another SDK from PATH; only where that is unset is PATH searched.
/// </summary>
public sealed record ToolCommand(string Executable, IReadOnlyList<string> Prefix)
{
    /// <summary>Resolves the command, or returns why it cannot be run (a message for PFA0010).</summary>
    public static ToolCommand Resolve(string? toolPath, Func<string, string?> environment, out string? problem)
    {
        problem = null;
        if (!string.IsNullOrEmpty(toolPath) && !toolPath!.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            return new ToolCommand(toolPath, []);
        var host = FindHost(environment);
        if (host is null)
        {
            problem = "cannot find 'dotnet' to run dotnet-pfa: DOTNET_HOST_PATH is not set and no 'dotnet' is on PATH. Build with 'dotnet build', set DOTNET_HOST_PATH to the dotnet executable, or set PfaToolPath to the tool.";
            return new ToolCommand("dotnet", []);
        }
        return string.IsNullOrEmpty(toolPath) ? new ToolCommand(host, ["pfa"]) : new ToolCommand(host, [toolPath!]);
    }

    internal static string? FindHost(Func<string, string?> environment)
    {
        if (environment("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
        var name = Path.DirectorySeparatorChar == '\\' ? "dotnet.exe" : "dotnet";
        foreach (var dir in (environment("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The command as one line for logs and errors.</summary>
    public string Display(params string[] args) => string.Join(" ", new[] { Executable }.Concat(Prefix).Concat(args).Select(Quote));

    static string Quote(string a) => a.Length > 0 && a.All(c => !char.IsWhiteSpace(c) && c is not '"' and not '\'') ? a : "\"" + a.Replace("\"", "\\\"") + "\"";

    /// <summary>Runs <c>… --version</c> (fast: the tool answers before loading libtorch) and returns the exit code
    /// and everything it printed.</summary>
    public (int ExitCode, string Output) Probe(string workingDirectory, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(Executable) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in Prefix) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--version");
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var output = new StringBuilder();
        try
        {
            using var p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            if (!p.WaitForExit((int)timeout.TotalMilliseconds))
            {
                try { p.Kill(); } catch (InvalidOperationException) { }
                return (-1, $"no answer within {timeout.TotalSeconds:0} s");
            }
            p.WaitForExit();
            return (p.ExitCode, output.ToString().Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    /// <summary>The first x.y.z in a <c>--version</c> answer (e.g. "0.2.0+4f1c…").</summary>
    public static Version? ParseVersion(string text)
    {
        var m = Regex.Match(text, @"(\d+)\.(\d+)\.(\d+)");
        return m.Success ? new Version(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)) : null;
    }
}

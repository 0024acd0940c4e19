using System.Diagnostics;
using System.Text;

namespace Pfa.Testing;

/// <summary>Result of a child process: its exit code and everything it printed, stdout and stderr interleaved.</summary>
public sealed record RunResult(int ExitCode, string Output)
{
    public override string ToString() => $"exit {ExitCode}\n{Output}";
}

/// <summary>
/// Runs a child process (dotnet build, dotnet pack, …) as a user's shell would, with telemetry and logos off and
/// without the MSBuild variables of the test host leaking in. Shared by the test projects (linked, not referenced).
/// </summary>
public static class ChildProcess
{
    public static RunResult Run(string workingDirectory, IDictionary<string, string>? environment, string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        foreach (var v in new[] { "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildSDKsPath", "MSBuildLoadMicrosoftTargetsReadOnly" }) psi.Environment.Remove(v);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        p.WaitForExit();
        return new RunResult(p.ExitCode, output.ToString());
    }
}

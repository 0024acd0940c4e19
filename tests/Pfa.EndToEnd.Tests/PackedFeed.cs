using Pfa.Testing;

namespace Pfa.EndToEnd.Tests;

/// <summary>
/// Packs Pfa.Core, Pfa.Build and dotnet-pfa from this repository into a folder feed, once per test run, under a
/// version of its own (so NuGet's cache never serves an older build), and removes that version from the cache
/// afterwards. A run that was killed cannot clean up after itself, so each run first removes what runs whose
/// process is gone left behind (their version and folder carry their process id).
/// </summary>
public sealed class PackedFeed : IDisposable
{
    public string RepoRoot { get; }
    public string Feed { get; }
    public string Version { get; } = $"0.2.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
    public string Configuration { get; }
    readonly string _root;

    static string Cache => Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    static readonly string[] PackageIds = ["pfa.core", "pfa.build", "dotnet-pfa"];

    public PackedFeed()
    {
        RemoveLeftovers();
        _root = Directory.CreateTempSubdirectory($"pfa-e2e-{Environment.ProcessId}-").FullName;
        RepoRoot = Repository.Root;
        Feed = Path.Combine(_root, "feed");
        Configuration = Repository.Configuration;
        foreach (var project in new[] { "src/Pfa.Core", "src/Pfa.Tasks", "src/Pfa.Tool" })
        {
            var r = Run(RepoRoot, "dotnet", "pack", project, "-c", Configuration, "-o", Feed, $"-p:PackageVersion={Version}", "-nologo", "-v:q");
            if (r.ExitCode != 0) throw new InvalidOperationException($"dotnet pack {project} failed: {r}");
        }
    }

    public string NewWorkDir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    public static RunResult Run(string workingDirectory, string file, params string[] args) => Run(workingDirectory, null, file, args);

    public static RunResult Run(string workingDirectory, IDictionary<string, string>? environment, string file, params string[] args) =>
        ChildProcess.Run(workingDirectory, environment, file, args);

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
        // The tool package of this version unpacks to ~1.6 GB in the NuGet cache: do not let test runs pile up.
        foreach (var id in PackageIds) Delete(Path.Combine(Cache, id, Version));
    }

    static void Delete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    static bool Alive(string pid)
    {
        if (!int.TryParse(pid, out var id)) return true;   // not ours to judge
        try { using var p = System.Diagnostics.Process.GetProcessById(id); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>Cache versions "…-e2e.TIME.PID" and temp folders "pfa-e2e-PID-…" of runs whose process is gone.</summary>
    static void RemoveLeftovers()
    {
        foreach (var id in PackageIds)
        {
            var dir = Path.Combine(Cache, id);
            if (!Directory.Exists(dir)) continue;
            foreach (var version in Directory.GetDirectories(dir).Where(v => Path.GetFileName(v).Contains("-e2e.", StringComparison.Ordinal)))
                if (!Alive(Path.GetFileName(version).Split('.')[^1])) Delete(version);
        }
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), "pfa-e2e-*"))
            if (Path.GetFileName(folder).Split('-') is [_, _, var pid, ..] && !Alive(pid)) Delete(folder);
    }
}

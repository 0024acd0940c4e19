using Pfa.Testing;

namespace Pfa.EndToEnd.Tests;

/// <summary>
/// Packs Pfa.Core, Pfa.Build and dotnet-pfa from this repository into a folder feed, once per test run, under a
/// version of its own (so NuGet's cache never serves an older build), and removes that version from the cache
/// afterwards.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    public string RepoRoot { get; }
    public string Feed { get; }
    public string Version { get; } = $"0.2.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
    public string Configuration { get; }
    readonly string _root = Directory.CreateTempSubdirectory("pfa-e2e-").FullName;

    public PackedFeed()
    {
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
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "pfa.core", "pfa.build", "dotnet-pfa" })
        {
            var dir = Path.Combine(cache, id, Version);
            try { if (Directory.Exists(dir)) Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

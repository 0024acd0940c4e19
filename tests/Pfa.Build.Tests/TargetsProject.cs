using Pfa.Testing;

namespace Pfa.Build.Tests;

/// <summary>
/// A project for the targets tier: it imports a private copy of the repository's Pfa.Build.targets (so a test
/// can change the targets), uses the built Pfa.Tasks.dll, runs fake-pfa.sh as the tool, and has an empty Train
/// target. <see cref="Build"/> is a real `dotnet msbuild`.
/// </summary>
public sealed class TargetsProject : IDisposable
{
    readonly TempFolder _dir = new();
    public string Path => _dir.Path;
    public string this[string relative] => _dir[relative];
    public string Tool { get; }
    public static string RepoRoot => Repository.Root;

    /// <param name="extra">More project XML (targets) after the items.</param>
    public TargetsProject(string items = """<PfaCompress Include="runs/model.dat" Model="runs/model.json" Budget="pfa.json" />""", string extra = "")
    {
        Tool = FakeTool.Install(Path);
        var tasks = System.IO.Path.Combine(RepoRoot, "src", "Pfa.Tasks", "bin", Repository.Configuration, "net10.0", "Pfa.Tasks.dll");
        if (!File.Exists(tasks)) throw new InvalidOperationException($"build src/Pfa.Tasks first ({tasks} is missing)");
        _dir.Write("pfa/Pfa.Build.targets", File.ReadAllText(System.IO.Path.Combine(RepoRoot, "Pfa.Build.targets")));
        _dir.Write("pfa/build/Pfa.NativeFix.targets", File.ReadAllText(System.IO.Path.Combine(RepoRoot, "build", "Pfa.NativeFix.targets")));
        _dir.Write("app.proj", $"""
            <Project>
              <PropertyGroup>
                <!-- Not normalised, like the package's "build/../tasks/…": the targets must normalise it. -->
                <PfaTasksAssembly>{System.IO.Path.GetDirectoryName(tasks)}/../net10.0/./Pfa.Tasks.dll</PfaTasksAssembly>
                <PfaToolPath>{Tool}</PfaToolPath>
                <!-- What Microsoft.Common.CurrentVersion.targets does in every SDK project: NoWarn silences MSBuild warnings. -->
                <MSBuildWarningsAsMessages>$(MSBuildWarningsAsMessages);$(NoWarn)</MSBuildWarningsAsMessages>
              </PropertyGroup>
              <Import Project="pfa/Pfa.Build.targets" />
              <ItemGroup>
                {items}
              </ItemGroup>
              <Target Name="Train" />
              {extra}
            </Project>
            """);
        foreach (var name in new[] { "runs/model.dat", "runs/model.json", "runs/b.dat" }) _dir.Write(name, "x");
        _dir.Write("pfa.json", "{}");
        Age();
    }

    /// <summary>Moves every file's time an hour back, as if written long before the build.</summary>
    public void Age()
    {
        foreach (var f in Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(f, DateTime.UtcNow.AddHours(-1));
    }

    public void Touch(string relative) => File.SetLastWriteTimeUtc(this[relative], DateTime.UtcNow);
    public string Write(string relative, string content) => _dir.Write(relative, content);
    public void FakeEnv(string content) => _dir.Write("fake.env", content);
    public int Calls => FakeTool.Calls(Path).Count;

    public RunResult Build(params string[] args) =>
        ChildProcess.Run(Path, null, "dotnet", ["msbuild", "app.proj", "-t:Train", "-nologo", "-nodeReuse:false", "-clp:NoSummary", .. args]);

    public void Dispose() => _dir.Dispose();
}

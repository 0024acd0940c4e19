namespace Pfa.Testing;

/// <summary>Paths in this repository, found from the test assembly's folder (shared by the test projects, linked).</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    /// <summary>Release or Debug: the configuration the tests were built in.</summary>
    public static string Configuration { get; } = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    /// <summary>The built dotnet-pfa.dll, for tests that run the tool as a real process.</summary>
    public static string ToolDll => Path.Combine(Root, "src", "Pfa.Tool", "bin", Configuration, "net10.0", "dotnet-pfa.dll");

    static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pfa.Build.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find Pfa.Build.sln above " + AppContext.BaseDirectory);
    }
}

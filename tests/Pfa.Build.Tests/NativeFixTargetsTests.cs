using Pfa.Tasks.Native;

namespace Pfa.Build.Tests;

/// <summary>
/// build/Pfa.NativeFix.targets under real `dotnet msbuild`, on the real libLibTorchSharp.so from the NuGet cache:
/// the output folder's copy is fixed when this system's libstdc++ lacks GLIBCXX_3.4.32, the cache's copy never
/// changes, and -p:PfaNativeFix=false leaves the output copy byte-for-byte the package's.
/// </summary>
public sealed class NativeFixTargetsTests
{
    static string Cached()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var dir = Path.Combine(root, "torchsharp");
        var version = Directory.Exists(dir) ? Directory.GetDirectories(dir).Select(Path.GetFileName).Order().LastOrDefault() : null;
        return version is null ? Path.Combine(dir, "?") : Path.Combine(dir, version, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [Fact]
    public void The_output_copy_is_fixed_the_cache_never_and_PfaNativeFix_false_leaves_it_alone()
    {
        var cached = Cached();
        Assert.True(File.Exists(cached), $"{cached} is missing: restore the solution (dotnet restore)");
        var original = File.ReadAllBytes(cached);
        // The SDK's copy step, reduced to the one file the fix looks at.
        using var p = new TargetsProject(extra: $"""
            <PropertyGroup><OutDir>out/</OutDir></PropertyGroup>
            <Target Name="CopyFilesToOutputDirectory" BeforeTargets="Train">
              <Copy SourceFiles="{cached}" DestinationFolder="$(OutDir)" />
            </Target>
            """);
        var output = p["out/libLibTorchSharp.so"];

        var off = p.Build("-p:PfaNativeFix=false");
        Assert.True(off.ExitCode == 0, off.ToString());
        Assert.Equal(original, File.ReadAllBytes(output));

        File.Delete(output);
        var on = p.Build();
        Assert.True(on.ExitCode == 0, on.ToString());
        bool systemLacks = !ElfFile.Read(WeakVersionPatcher.FindSystemLibrary("libstdc++.so.6")!).DefinedVersions.Contains("GLIBCXX_3.4.32");
        Assert.Equal(systemLacks, ElfFile.Read(output).Requirements.Single(r => r.Version == "GLIBCXX_3.4.32").IsWeak);
        Assert.Equal(original, File.ReadAllBytes(cached));
    }
}

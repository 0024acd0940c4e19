using System.Diagnostics;
using System.Runtime.InteropServices;
using Pfa.Tasks.Native;

namespace Pfa.Tests;

/// <summary>
/// The native fix, for real: two tiny shared libraries built with g++ and version scripts. The consumer
/// was linked against a provider that defines version node V2 (used only by a marker symbol, like GCC 13's
/// std::ios_base_library_init), then the provider is replaced by one without V2 — as on Debian 12.
/// </summary>
public sealed class NativeFixTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static void Run(string file, string args, string cwd)
    {
        if (file == "gcc" && !Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, "gcc"))))
            throw new InvalidOperationException("gcc is missing: run scripts/setup.sh (the native-fix tests compile two tiny libraries with it).");
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = cwd, RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {args} failed: {err}");
    }

    /// <summary>Builds libprov (with or without V2) and libcons, which needs V2 of libprov.</summary>
    (string Consumer, string ProviderWithV2, string ProviderWithoutV2) Build()
    {
        var d = _dir.Path;
        File.WriteAllText(_dir["prov.c"], "int base_value(void) { return 41; }\n#ifdef WITH_V2\nint marker(void) { return 0; }\n#endif\n");
        File.WriteAllText(_dir["v1.map"], "V1 { global: base_value; local: *; };\n");
        File.WriteAllText(_dir["v2.map"], "V1 { global: base_value; local: *; };\nV2 { global: marker; } V1;\n");
        // The consumer only names 'marker' (no call, no relocation), as GCC 13's <iostream> names ios_base_library_init.
        File.WriteAllText(_dir["cons.c"], "extern int base_value(void);\n__asm__(\".globl marker\");\nint consume(void) { return base_value() + 1; }\n");
        Directory.CreateDirectory(_dir["v2"]);
        Run("gcc", "-shared -fPIC -DWITH_V2 -Wl,--version-script=v2.map -Wl,-soname,libprov.so -o v2/libprov.so prov.c", d);
        Run("gcc", "-shared -fPIC -Wl,--version-script=v1.map -Wl,-soname,libprov.so -o libprov.so prov.c", d);
        Run("gcc", "-shared -fPIC -o libcons.so cons.c -Lv2 -lprov -Wl,-rpath,$ORIGIN", d);
        return (_dir["libcons.so"], _dir["v2/libprov.so"], _dir["libprov.so"]);
    }

    [Fact]
    public void Consumer_needs_the_version_and_fails_to_load_until_patched()
    {
        var (consumer, withV2, withoutV2) = Build();
        var need = Assert.Single(ElfFile.Read(consumer).Requirements, r => r.Version == "V2");
        Assert.Equal("libprov.so", need.File);
        Assert.False(need.IsWeak);
        Assert.Contains("V2", ElfFile.Read(withV2).DefinedVersions);
        Assert.DoesNotContain("V2", ElfFile.Read(withoutV2).DefinedVersions);

        // Before the patch the loader refuses: "version `V2' not found".
        var copy = _dir["before/libcons.so"];
        Directory.CreateDirectory(_dir["before"]);
        File.Copy(consumer, copy);
        File.Copy(withoutV2, _dir["before/libprov.so"]);
        Assert.False(NativeLibrary.TryLoad(copy, out _));

        var outcome = WeakVersionPatcher.Apply(consumer, "libprov.so", ElfFile.Read(withoutV2), ["V2"]);
        Assert.Equal(["V2"], outcome.Weakened);
        Assert.True(ElfFile.Read(consumer).Requirements.Single(r => r.Version == "V2").IsWeak);

        Assert.True(NativeLibrary.TryLoad(consumer, out var handle));
        var consume = Marshal.GetDelegateForFunctionPointer<IntFn>(NativeLibrary.GetExport(handle, "consume"));
        Assert.Equal(42, consume());
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int IntFn();

    [Fact]
    public void Patch_is_idempotent_and_keeps_the_timestamp()
    {
        var (consumer, _, withoutV2) = Build();
        var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(consumer, stamp);
        Assert.True(WeakVersionPatcher.Apply(consumer, "libprov.so", ElfFile.Read(withoutV2), ["V2"]).Changed);
        var once = File.ReadAllBytes(consumer);
        var again = WeakVersionPatcher.Apply(consumer, "libprov.so", ElfFile.Read(withoutV2), ["V2"]);
        Assert.False(again.Changed);
        Assert.Equal(["V2"], again.AlreadyWeak);
        Assert.Equal(once, File.ReadAllBytes(consumer));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(consumer));
    }

    [Fact]
    public void Patch_is_a_no_op_when_the_provider_has_the_version_or_the_version_is_not_allowed()
    {
        var (consumer, withV2, withoutV2) = Build();
        var before = File.ReadAllBytes(consumer);
        Assert.False(WeakVersionPatcher.Apply(consumer, "libprov.so", ElfFile.Read(withV2), ["V2"]).Changed);
        Assert.False(WeakVersionPatcher.Apply(consumer, "libprov.so", ElfFile.Read(withoutV2), ["GLIBCXX_3.4.32"]).Changed);
        Assert.Equal(before, File.ReadAllBytes(consumer));
    }

    [Fact]
    public void Reader_rejects_files_that_are_not_elf()
    {
        File.WriteAllText(_dir["not.so"], "hello");
        var e = Assert.Throws<InvalidDataException>(() => ElfFile.Read(_dir["not.so"]));
        Assert.Contains("not an ELF file", e.Message);
        var (consumer, _, _) = Build();
        var bytes = File.ReadAllBytes(consumer);
        File.WriteAllBytes(_dir["cut.so"], bytes[..100]);
        Assert.Throws<InvalidDataException>(() => ElfFile.Read(_dir["cut.so"]));
    }

    [Fact]
    public void The_build_applied_the_fix_to_this_test_run_s_copy_of_LibTorchSharp_when_the_system_needs_it()
    {
        var lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(lib), lib);
        var system = ElfFile.Read(WeakVersionPatcher.FindSystemLibrary("libstdc++.so.6")!);
        var need = ElfFile.Read(lib).Requirements.Single(r => r.Version == "GLIBCXX_3.4.32");
        Assert.Equal(!system.DefinedVersions.Contains("GLIBCXX_3.4.32"), need.IsWeak);
        // And TorchSharp loads: this allocates through libLibTorchSharp.
        using var t = TorchSharp.torch.ones(2, 2);
        Assert.Equal(4f, t.sum().item<float>());
    }

    /// <summary>The package's own copy, where restore put it (NUGET_PACKAGES or ~/.nuget/packages).</summary>
    internal static string CachedLibTorchSharp()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var version = typeof(TorchSharp.torch).Assembly.GetName().Version!;
        return Path.Combine(root, "torchsharp", $"{version.Major}.{version.Minor}.{version.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [Fact]
    public void The_build_never_patches_the_NuGet_cache_s_copy()
    {
        var cached = CachedLibTorchSharp();
        Assert.True(File.Exists(cached), $"{cached} is missing: restore the solution (dotnet restore)");
        // This test project was built with the fix on: the cache keeps the strong requirement whatever the system has.
        Assert.False(ElfFile.Read(cached).Requirements.Single(r => r.Version == "GLIBCXX_3.4.32").IsWeak, $"{cached} was patched");
        var output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var system = ElfFile.Read(WeakVersionPatcher.FindSystemLibrary("libstdc++.so.6")!);
        Assert.Equal(system.DefinedVersions.Contains("GLIBCXX_3.4.32"), File.ReadAllBytes(output).AsSpan().SequenceEqual(File.ReadAllBytes(cached)));
    }
}

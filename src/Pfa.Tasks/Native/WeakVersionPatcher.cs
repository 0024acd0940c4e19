namespace Pfa.Tasks.Native;

/// <summary>What <see cref="WeakVersionPatcher.Apply"/> did to one file.</summary>
/// <param name="Weakened">Versions whose requirement this call marked weak.</param>
/// <param name="AlreadyWeak">Versions the system lacks that were weak before (an earlier patch).</param>
public sealed record PatchOutcome(string Path, IReadOnlyList<string> Weakened, IReadOnlyList<string> AlreadyWeak)
{
    public bool Changed => Weakened.Count > 0;
}

/// <summary>
/// Lets a prebuilt native library load on a system whose provider library is older than the one it was
/// linked against, when the missing version node only marks a link-time requirement. TorchSharp 0.107's
/// <c>libLibTorchSharp.so</c> needs <c>GLIBCXX_3.4.32</c> for a single marker symbol
/// (<c>std::ios_base_library_init</c>, emitted by GCC 13's &lt;iostream&gt; and never called); Debian 12's
/// libstdc++ stops at 3.4.30, so <c>dlopen</c> fails. Setting VER_FLG_WEAK on that one requirement makes
/// the loader accept the library, and nothing changes on systems that do have the version.
/// </summary>
public static class WeakVersionPatcher
{
    /// <summary>
    /// Marks weak each requirement of <paramref name="libraryPath"/> on <paramref name="providerSoname"/>
    /// whose version is in <paramref name="allowed"/> and absent from <paramref name="systemProvider"/>.
    /// Idempotent; writes through a temporary file and a rename, so an interrupted run leaves the original,
    /// and keeps the file's timestamp so MSBuild's incremental copy does not undo it.
    /// </summary>
    public static PatchOutcome Apply(string libraryPath, string providerSoname, ElfFile systemProvider, IEnumerable<string> allowed)
    {
        var allowedSet = new HashSet<string>(allowed, StringComparer.Ordinal);
        var lib = ElfFile.Read(libraryPath);
        var missing = lib.Requirements
            .Where(r => r.File == providerSoname && allowedSet.Contains(r.Version) && !systemProvider.DefinedVersions.Contains(r.Version))
            .ToList();
        var toPatch = missing.Where(r => !r.IsWeak).ToList();
        var alreadyWeak = missing.Where(r => r.IsWeak).Select(r => r.Version).ToList();
        if (toPatch.Count == 0)
            return new PatchOutcome(libraryPath, [], alreadyWeak);

        var bytes = File.ReadAllBytes(libraryPath);
        foreach (var r in toPatch)
        {
            ushort flags = (ushort)(r.Flags | VersionRequirement.WeakFlag);
            bytes[r.FlagsOffset] = (byte)flags;
            bytes[r.FlagsOffset + 1] = (byte)(flags >> 8);
        }

        var info = new FileInfo(libraryPath);
        var stamp = info.LastWriteTimeUtc;
        var temp = libraryPath + ".pfa-tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temp, File.GetUnixFileMode(libraryPath));
            File.SetLastWriteTimeUtc(temp, stamp);
            File.Move(temp, libraryPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return new PatchOutcome(libraryPath, toPatch.Select(r => r.Version).ToList(), alreadyWeak);
    }

    /// <summary>
    /// The system's copy of a library by soname, searched in the directories the dynamic loader uses on
    /// Debian, Ubuntu, Fedora and Alpine-style layouts. Null when none is found.
    /// </summary>
    public static string? FindSystemLibrary(string soname)
    {
        string[] dirs =
        [
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
        ];
        return dirs.Select(d => System.IO.Path.Combine(d, soname)).FirstOrDefault(File.Exists);
    }
}

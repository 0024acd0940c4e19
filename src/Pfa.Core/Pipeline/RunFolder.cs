using System.Runtime.InteropServices;
using Pfa.Core.Errors;

namespace Pfa.Core.Pipeline;

/// <summary>
/// The output folder of one run as one unit. Everything is written into a staging folder beside <c>--out</c>
/// (<c>.NAME.pfa-staging-PID</c>) and, when the run has a result (passed or a gate failure), swapped into place in
/// one step (Linux <c>renameat2(RENAME_EXCHANGE)</c>; elsewhere two renames). A run that is killed or stops on bad
/// input leaves the previous complete set untouched, never a mix; its staging folder is removed by the next run.
/// A lock file beside the folder (<c>.NAME.pfa-lock</c>, held with an exclusive lock for the whole run) makes a
/// second run into the same folder fail at once with an error naming the first.
/// </summary>
public sealed class RunFolder : IDisposable
{
    /// <summary>A marker in every folder a run publishes: only such folders (or empty ones) are replaced.</summary>
    public const string MarkerFileName = ".pfa-run";

    public string Final { get; }
    public string Staging { get; }
    readonly FileStream _lock;
    bool _published;

    RunFolder(string final, string staging, FileStream lockStream)
    {
        Final = final;
        Staging = staging;
        _lock = lockStream;
    }

    /// <summary>Where a file is written during the run.</summary>
    public string Stage(string name) => Path.Combine(Staging, name);
    /// <summary>Where the same file will be once the run is published (for paths written into artifacts).</summary>
    public string FinalPath(string name) => Path.Combine(Final, name);

    /// <summary>Takes the lock, clears leftovers of killed runs and creates the staging folder. With
    /// <paramref name="requiredBytes"/>, fails at once when the file system has less free space than that.</summary>
    public static RunFolder Begin(string outDir, string verb, long requiredBytes = 0)
    {
        var final = Path.GetFullPath(outDir.TrimEnd('/', '\\') is { Length: > 0 } t ? t : outDir);
        var parent = Path.GetDirectoryName(final);
        var name = Path.GetFileName(final);
        if (parent is null || name.Length == 0)
            throw Fault(outDir, "is a file-system root", "name a folder for the run's artifacts, e.g. --out artifacts/pfa");
        if (File.Exists(final))
            throw Fault(outDir, "is a file, not a folder", "name a folder (it is created when missing)");
        if (Directory.Exists(final) && Directory.EnumerateFileSystemEntries(final).Any() && !File.Exists(Path.Combine(final, MarkerFileName)))
            throw Fault(outDir, "is a folder with other files in it that dotnet pfa did not write", "name a new or empty folder: the run replaces the whole folder");
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fault(parent, $"cannot be created ({e.Message})", "choose an output folder in a writable location");
        }
        var lockPath = Path.Combine(parent, $".{name}.pfa-lock");
        FileStream lockStream;
        try
        {
            lockStream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(lockPath))
        {
            string holder;
            try { holder = File.ReadAllText(lockPath + ".info").Trim(); } catch (IOException) { holder = ""; }
            throw new PfaException(ErrorCodes.FileNotFound,
                $"another run is writing into '{outDir}' ({(holder.Length > 0 ? holder : "another run")}): wait for it to finish, or give this run another --out.", final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fault(parent, $"is not writable ({e.Message})", "choose an output folder in a writable location");
        }
        try
        {
            // Who holds the lock, for the error of a second run (a file of its own: the lock file cannot be read while held).
            File.WriteAllText(lockPath + ".info", $"dotnet pfa {verb}, process {Environment.ProcessId}, started {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n");
            // Leftovers of killed runs: their staging and swapped-out folders.
            foreach (var stale in Directory.EnumerateDirectories(parent, $".{name}.pfa-*"))
                TryDelete(stale);
            if (requiredBytes > 0 && FreeBytes(parent) is { } free && free < requiredBytes)
                throw Fault(parent, $"has {free / (1 << 20):N0} MiB free but this run writes about {requiredBytes / (1 << 20):N0} MiB", "free some space or choose another --out");
            var staging = Path.Combine(parent, $".{name}.pfa-staging-{Environment.ProcessId}");
            Directory.CreateDirectory(staging);
            File.WriteAllText(Path.Combine(staging, MarkerFileName), $"dotnet pfa {verb}\n");
            return new RunFolder(final, staging, lockStream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PfaException)
        {
            lockStream.Dispose();
            if (e is PfaException) throw;
            throw Fault(parent, $"is not writable ({e.Message})", "choose an output folder in a writable location");
        }
    }

    /// <summary>Puts the staged folder in place of <see cref="Final"/>, in one step where the OS allows.</summary>
    public void Publish()
    {
        if (_published) return;
        try
        {
            if (!Directory.Exists(Final)) Directory.Move(Staging, Final);
            else if (!Exchange(Staging, Final))
            {
                var old = Path.Combine(Path.GetDirectoryName(Final)!, $".{Path.GetFileName(Final)}.pfa-old-{Environment.ProcessId}");
                Directory.Move(Final, old);
                Directory.Move(Staging, Final);
                TryDelete(old);
            }
            else TryDelete(Staging); // it now holds the previous set
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fault(Final, $"could not be replaced ({e.Message})", "check that nothing holds files open in it and that its folder is writable");
        }
        _published = true;
    }

    public void Dispose()
    {
        if (!_published) TryDelete(Staging);
        // The lock file stays: deleting it could let two later runs lock two different files of the same name.
        _lock.Dispose();
    }

    static long? FreeBytes(string folder)
    {
        try { return new DriveInfo(folder).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException) { return null; }
    }

    static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    static PfaException Fault(string path, string what, string fix) =>
        new(ErrorCodes.FileNotFound, $"the output location '{path}' {what}: {fix}.", path);

    [DllImport("libc", SetLastError = true, EntryPoint = "renameat2")]
    static extern int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    /// <summary>Swaps two folders atomically (Linux ≥ 3.15 with glibc ≥ 2.28); false where unsupported.</summary>
    static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        const int AtFdCwd = -100;
        const uint RenameExchange = 2;
        try { return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }
}

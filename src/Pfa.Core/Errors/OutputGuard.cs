namespace Pfa.Core.Errors;

/// <summary>
/// No run writes over what it reads: an output file that is an input (by real path: symbolic links resolved), or a
/// folder that a run replaces whole and that holds one of its inputs, is refused before any work (PFA0009). Merging
/// shard s1 into s1 would double-count it the next time; a recipe written over its model.json loses the model.
/// </summary>
public static class OutputGuard
{
    /// <param name="inputs">The files (or folders) the run reads, with what each is for the message.</param>
    /// <param name="outputs">The files the run writes, with the option that names each.</param>
    /// <param name="replacedFolder">A folder the run replaces as a whole (compress's and apply's --out), or null.</param>
    public static void Check(IEnumerable<(string? Path, string What)> inputs, IEnumerable<(string Path, string Option)> outputs, (string Path, string Option)? replacedFolder = null)
    {
        var reads = inputs.Where(i => !string.IsNullOrEmpty(i.Path)).Select(i => (Real: RealPath(i.Path!), i.Path, i.What)).ToList();
        foreach (var (path, option) in outputs)
        {
            var real = RealPath(path);
            foreach (var input in reads)
                if (string.Equals(real, input.Real, StringComparison.Ordinal))
                    throw new PfaException(ErrorCodes.InvalidArgument, $"{option} '{path}' would overwrite the {input.What} '{input.Path}' that this run reads; write the output somewhere else.", path);
        }
        if (replacedFolder is { } folder)
        {
            var real = RealPath(folder.Path).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            foreach (var input in reads)
                if (input.Real.StartsWith(real, StringComparison.Ordinal) || input.Real + Path.DirectorySeparatorChar == real)
                    throw new PfaException(ErrorCodes.InvalidArgument, $"{folder.Option} '{folder.Path}' holds the {input.What} '{input.Path}' that this run reads, and the run replaces that folder's files; copy the input elsewhere first, or choose another {folder.Option}.", folder.Path);
        }
    }

    /// <summary>The absolute path with every symbolic link along it resolved (parts that do not exist yet kept as given).</summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full) ?? "/";
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            try
            {
                FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
                if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                    next = RealPath(target.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // a link loop or no permission: keep the path as given
            current = next;
        }
        return current;
    }
}

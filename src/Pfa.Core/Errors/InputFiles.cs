namespace Pfa.Core.Errors;

/// <summary>
/// The checks every input file gets before it is opened: it exists, it is a file and not a folder, and it is a
/// regular file with content — a named pipe or a device would block the read or never end (and reports a length
/// of 0, as an empty file does).
/// </summary>
public static class InputFiles
{
    /// <param name="what">What the file is, for the message ("weights file").</param>
    /// <param name="hint">What to do when it does not exist (appended to the message), or null.</param>
    public static void Require(string path, string what, string? hint = null)
    {
        if (Directory.Exists(path))
            throw new PfaException(ErrorCodes.FileNotFound, $"{what} '{path}' is a folder, not a file; name the file inside it.", path);
        if (!File.Exists(path))
            throw new PfaException(ErrorCodes.FileNotFound, $"{what} '{path}' does not exist." + (hint is null ? "" : " " + hint), path);
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PfaException(ErrorCodes.FileNotFound, $"cannot read {what} '{path}': {e.Message}", path); }
        if (length == 0)
            throw new PfaException(ErrorCodes.FileNotFound, $"{what} '{path}' is empty, or not a regular file (a pipe or a device cannot be read as one); give a saved file.", path);
    }
}

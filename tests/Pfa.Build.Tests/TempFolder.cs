namespace Pfa.Build.Tests;

/// <summary>A temporary folder, removed on dispose whether the test passed or not.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("pfa-build-tests-").FullName;
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public string Write(string relative, string content)
    {
        var file = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, content);
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

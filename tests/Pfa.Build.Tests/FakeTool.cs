namespace Pfa.Build.Tests;

/// <summary>fake-pfa.sh (see the script) made executable in a test's folder.</summary>
public static class FakeTool
{
    public static string Install(string folder)
    {
        var target = Path.Combine(folder, "fake-pfa");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "fake-pfa.sh"), target, overwrite: true);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return target;
    }

    /// <summary>The arguments of each call the fake recorded in calls.log in <paramref name="folder"/>.</summary>
    public static List<string[]> Calls(string folder)
    {
        var log = Path.Combine(folder, "calls.log");
        if (!File.Exists(log)) return [];
        var calls = new List<string[]>();
        List<string>? current = null;
        foreach (var line in File.ReadAllLines(log))
        {
            if (line == "---") { if (current is not null) calls.Add([.. current]); current = []; }
            else current?.Add(line);
        }
        if (current is not null) calls.Add([.. current]);
        return calls;
    }
}

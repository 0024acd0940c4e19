using Pfa.Tool.Cli;

namespace Pfa.Tests;

/// <summary>`dotnet pfa` in process, as the tests call it: exit code, standard output and standard error.</summary>
public static class TestCli
{
    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        return (PfaCli.Run(args, o, e), o.ToString(), e.ToString());
    }
}

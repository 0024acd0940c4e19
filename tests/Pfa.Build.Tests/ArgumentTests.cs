using System.Diagnostics;
using Pfa.Tasks.Tooling;

namespace Pfa.Build.Tests;

/// <summary>Arguments metadata: split like shell words, then quoted so the child process gets them back unchanged.</summary>
public sealed class ArgumentTests
{
    [Theory]
    [InlineData("--limit 2000 --epochs 1", new[] { "--limit", "2000", "--epochs", "1" })]
    [InlineData("  --data \"my data/x\"  ", new[] { "--data", "my data/x" })]
    [InlineData("--name 'it is \"quoted\"'", new[] { "--name", "it is \"quoted\"" })]
    [InlineData("a\\ b \"c\\\"d\" e''f", new[] { "a b", "c\"d", "ef" })]
    [InlineData("", new string[0])]
    public void Arguments_split_like_shell_words(string text, string[] expected) => Assert.Equal(expected, ArgumentSplitter.Split(text));

    [Theory]
    [InlineData("--data \"unterminated")]
    [InlineData("'open")]
    public void An_unmatched_quote_is_an_error(string text) => Assert.Throws<FormatException>(() => ArgumentSplitter.Split(text));

    /// <summary>The real round trip: a command line built by <see cref="CommandLine.Join"/>, started as a process,
    /// and the child's argv printed back.</summary>
    [Fact]
    public void Quoted_arguments_reach_a_child_process_unchanged()
    {
        string[] args = ["plain", "with space", "quote\"inside", "trailing\\", "back\\\\slashes \\\" mixed", "", "tab\there", "ünïcode"];
        var script = "for a; do printf '[%s]\\n' \"$a\"; done";
        var psi = new ProcessStartInfo("/bin/sh", CommandLine.Join(["-c", script, "sh", .. args]))
        { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(string.Concat(args.Select(a => $"[{a}]\n")), output);
    }
}

using System.Diagnostics;
using System.Text;

using Pfa.Testing;

namespace Pfa.Tests;

/// <summary>
/// Faults a careful user causes: a run killed at each stage, two runs into one folder, an output that cannot be
/// written. The tool runs as a real process (dotnet-pfa.dll), killed by the test when its log reaches a stage.
/// Whatever happens, --out holds one complete set from one run — the previous one or the new one — never a mix.
/// </summary>
public sealed class FaultInjectionTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    string[] CompressArgs(string outDir, string budgetJson, int limit)
    {
        var budget = _dir[$"budget-{Guid.NewGuid():N}.json"];
        File.WriteAllText(budget, budgetJson);
        return ["compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--data", TinyFashionModel.Data,
            "--limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", outDir];
    }

    static (int Code, string Err) Cli(params string[] args)
    {
        var (code, _, err) = TestCli.Cli(args);
        return (code, err);
    }

    /// <summary>Starts the tool and kills it when a stderr line contains <paramref name="stage"/>; returns the
    /// exit code and whether the kill happened before the tool ended by itself.</summary>
    static (int Code, bool Killed, string Log) RunAndKillAt(string stage, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Repository.ToolDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var log = new StringBuilder();
        bool killed = false;
        p.OutputDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        string? line;
        while ((line = p.StandardError.ReadLine()) is not null)
        {
            log.AppendLine(line);
            if (!killed && line.Contains(stage, StringComparison.Ordinal))
            {
                try { p.Kill(entireProcessTree: true); killed = true; } catch (InvalidOperationException) { }
            }
        }
        p.WaitForExit();
        return (p.ExitCode, killed, log.ToString());
    }

    static Dictionary<string, byte[]> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes);

    static void AssertNoLeftovers(string outDir)
    {
        var parent = Path.GetDirectoryName(outDir)!;
        Assert.Empty(Directory.EnumerateDirectories(parent, "." + Path.GetFileName(outDir) + ".pfa-*"));
        Assert.Empty(Directory.EnumerateFiles(outDir, "*.tmp", SearchOption.AllDirectories));
    }

    const string First = """{ "strategy": "energy", "energy": 0.9, "finetune": { "epochs": 1 } }""";
    const string Second = """{ "strategy": "kl", "finetune": { "epochs": 1 } }""";

    [Theory]
    [InlineData("analysing responses")]
    [InlineData("fine-tuning for")]
    [InlineData("  epoch 1:")]            // just after the last epoch: model written? summary not yet
    public void A_run_killed_at_any_stage_leaves_the_previous_complete_set(string stage)
    {
        var outDir = _dir["out"];
        var (code, err) = Cli(CompressArgs(outDir, First, 1000));
        Assert.True(code == 0, err);
        var before = Snapshot(outDir);

        var (exit, killed, log) = RunAndKillAt(stage, CompressArgs(outDir, Second, 3000));
        Assert.True(killed, $"the run ended (exit {exit}) before reaching '{stage}':\n{log}");
        var after = Snapshot(outDir);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[file]), $"{file} changed");

        // The next run clears the killed run's staging folder and publishes its own complete set.
        (code, err) = Cli(CompressArgs(outDir, Second, 1000));
        Assert.True(code == 0, err);
        AssertNoLeftovers(outDir);
        Assert.Contains("\"kl\"", File.ReadAllText(Path.Combine(outDir, "summary.json")));
        Assert.Contains("\"kl\"", File.ReadAllText(Path.Combine(outDir, "recipe.json")));
    }

    [Fact]
    public void Two_runs_into_one_folder_the_second_fails_at_once_naming_the_first()
    {
        var outDir = _dir["shared"];
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Repository.ToolDll);
        foreach (var a in CompressArgs(outDir, First, 3000)) psi.ArgumentList.Add(a);
        using var first = Process.Start(psi)!;
        first.BeginOutputReadLine();
        try
        {
            string? line;
            while ((line = first.StandardError.ReadLine()) is not null && !line.Contains("analysing responses", StringComparison.Ordinal)) { }
            var (code, err) = Cli(CompressArgs(outDir, Second, 500));
            Assert.Equal(2, code);
            Assert.Contains("error PFA0001: another run is writing into", err);
            Assert.Contains($"process {first.Id}", err);
        }
        finally
        {
            first.Kill(entireProcessTree: true);
            first.WaitForExit();
        }
    }

    [Fact]
    public void Two_runs_one_after_the_other_never_mix_their_artifacts()
    {
        var outDir = _dir["seq"];
        Assert.Equal(0, Cli(CompressArgs(outDir, First, 500)).Code);
        Assert.Equal(0, Cli(CompressArgs(outDir, Second, 500)).Code);
        var summary = File.ReadAllText(Path.Combine(outDir, "summary.json"));
        var recipe = File.ReadAllText(Path.Combine(outDir, "recipe.json"));
        Assert.Contains("\"strategy\": \"kl\"", summary);
        Assert.Contains("\"name\": \"kl\"", recipe);
        AssertNoLeftovers(outDir);
    }

    [Theory]
    [InlineData("file", "is a file, not a folder")]
    [InlineData("foreign", "is a folder with other files in it that dotnet pfa did not write")]
    [InlineData("/proc/pfa-out", "")]
    public void An_output_that_cannot_be_written_is_PFA0001_with_exit_2(string where, string expected)
    {
        var outDir = where.StartsWith('/') ? where : _dir[where];
        if (where == "file") File.WriteAllText(outDir, "x");
        if (where == "foreign") { Directory.CreateDirectory(outDir); File.WriteAllText(Path.Combine(outDir, "notes.txt"), "mine"); }
        var (code, err) = Cli(CompressArgs(outDir, First, 300));
        Assert.True(code == 2, err);
        Assert.Contains("error PFA0001: ", err);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("internal error", err);
        if (where == "foreign") Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
    }
}

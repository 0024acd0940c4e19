using Pfa.Testing;

namespace Pfa.Build.Tests;

/// <summary>
/// Pfa.Build.targets under real `dotnet msbuild` with the fake tool: the build gate holds across rebuilds,
/// every setting is an input, state is per item, warnings are coded, and builds that must not compress do not.
/// </summary>
public sealed class TargetsTests
{
    const string UpToDate = "Pfa: compression of model.dat is up to date";

    [Fact]
    public void Runs_once_then_is_up_to_date_and_reruns_when_an_input_file_changes()
    {
        using var p = new TargetsProject();
        var first = p.Build();
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("Pfa: energy: parameters 49.70%, MACs 60.12%", first.Output);
        Assert.Equal(1, p.Calls);

        var second = p.Build();
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains(UpToDate, second.Output);
        Assert.Equal(1, p.Calls);

        p.Touch("pfa.json");
        var third = p.Build();
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.DoesNotContain(UpToDate, third.Output);
        Assert.Equal(2, p.Calls);
    }

    [Fact]
    public void A_later_target_finds_model_onnx_in_PfaCompressed_whether_the_item_ran_or_was_up_to_date()
    {
        using var p = new TargetsProject(extra: """
            <Target Name="ShipOnnx" AfterTargets="PfaCompress">
              <Message Importance="high" Text="ship: @(PfaCompressed->'%(Onnx)')" />
            </Target>
            """);
        var expected = $"ship: {Path.Combine(p.Path, "artifacts", "pfa", "model.onnx")}";
        var first = p.Build();
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains(expected, first.Output);
        var second = p.Build();
        Assert.Contains(UpToDate, second.Output);
        Assert.Contains(expected, second.Output);
    }

    [Fact]
    public void A_failed_gate_fails_every_build_until_the_tolerance_is_raised()
    {
        using var p = new TargetsProject();
        p.FakeEnv("FAKE_DROP=3");
        for (int i = 1; i <= 2; i++)
        {
            var failed = p.Build("-p:PfaTolerance=1");
            Assert.True(failed.ExitCode != 0, failed.ToString());
            Assert.Contains("error PFA1001: accuracy dropped 3 pp", failed.Output);
            Assert.DoesNotContain("up to date", failed.Output);
            Assert.Equal(i, p.Calls);
        }
        var raised = p.Build("-p:PfaTolerance=5");
        Assert.True(raised.ExitCode == 0, raised.ToString());
        Assert.Equal(3, p.Calls);
        var again = p.Build("-p:PfaTolerance=5");
        Assert.Contains(UpToDate, again.Output);
        Assert.Equal(3, p.Calls);
        // Back to the failing tolerance: a setting changed, so it runs, and fails, again.
        Assert.NotEqual(0, p.Build("-p:PfaTolerance=1").ExitCode);
        Assert.Equal(4, p.Calls);
    }

    [Fact]
    public void Recipe_drift_fails_every_build_until_the_baseline_is_updated()
    {
        using var p = new TargetsProject();
        p.Write("pfa.recipe.json", "recipe A\n");
        p.FakeEnv("FAKE_RECIPE='recipe B'");
        for (int i = 1; i <= 2; i++)
        {
            var drift = p.Build();
            Assert.True(drift.ExitCode != 0, drift.ToString());
            Assert.Contains("error PFA1002", drift.Output);
            Assert.Equal(i, p.Calls);
        }
        var update = p.Build("-p:PfaUpdateBaseline=true");
        Assert.True(update.ExitCode == 0, update.ToString());
        Assert.Equal("recipe B\n", File.ReadAllText(p["pfa.recipe.json"]));
        Assert.Contains("--update-baseline", FakeTool.Calls(p.Path)[^1]);
        // The update itself is not a setting: the next ordinary build is up to date.
        var next = p.Build();
        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Contains(UpToDate, next.Output);
        Assert.Equal(3, p.Calls);
    }

    [Fact]
    public void Every_setting_is_an_input_and_nothing_else_is()
    {
        using var p = new TargetsProject("""<PfaCompress Include="runs/model.dat" Model="runs/model.json" Budget="pfa.json" Arguments="$(PfaArgs)" />""");
        Assert.Equal(0, p.Build().ExitCode);
        int calls = 1;
        void Reruns(string why, params string[] args)
        {
            var r = p.Build(args);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.True(p.Calls == ++calls, $"{why}: expected a run\n{r}");
            var same = p.Build(args);
            Assert.True(p.Calls == calls, $"{why}: expected up to date on the second build\n{same}");
        }
        Reruns("tolerance", "-p:PfaTolerance=2");
        Reruns("Arguments metadata", "-p:PfaTolerance=2", "-p:PfaArgs=--limit 10");
        Reruns("output folder", "-p:PfaTolerance=2", "-p:PfaArgs=--limit 10", "-p:PfaOutputDir=out2");
        // A new tool behind PfaToolPath (with `dotnet pfa`, the manifest's version is the setting: PfaResolveItemsTests).
        p.Touch("fake-pfa");
        Reruns("tool", "-p:PfaTolerance=2", "-p:PfaArgs=--limit 10", "-p:PfaOutputDir=out2");
        var copy = p["fake-pfa-copy"];
        File.Copy(p.Tool, copy);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(copy, File.GetUnixFileMode(p.Tool));
        Reruns("PfaToolPath", "-p:PfaTolerance=2", "-p:PfaArgs=--limit 10", "-p:PfaOutputDir=out2", $"-p:PfaToolPath={copy}");
        // An update of the targets (a new package version).
        File.AppendAllText(p["pfa/Pfa.Build.targets"], "<!-- 0.2.1 -->\n");
        Reruns("targets", "-p:PfaTolerance=2", "-p:PfaArgs=--limit 10", "-p:PfaOutputDir=out2", $"-p:PfaToolPath={copy}");
        // An unrelated change to the project file and an unrelated property do nothing.
        File.AppendAllText(p["app.proj"], "<!-- unrelated -->\n");
        var unrelated = p.Build("-p:PfaTolerance=2", "-p:PfaArgs=--limit 10", "-p:PfaOutputDir=out2", $"-p:PfaToolPath={copy}", "-p:SomethingElse=1");
        Assert.True(p.Calls == calls, unrelated.ToString());
    }

    [Fact]
    public void Two_items_run_and_report_separately()
    {
        using var p = new TargetsProject("""
            <PfaCompress Include="runs/model.dat" Model="runs/model.json" OutputDir="out/a" />
            <PfaCompress Include="runs/b.dat" Model="runs/model.json" OutputDir="out/b" />
            """);
        var first = p.Build();
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(2, p.Calls);
        p.Touch("runs/b.dat");
        var second = p.Build();
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(3, p.Calls);
        Assert.Contains("--weights\n" + p["runs/b.dat"], string.Join("\n", FakeTool.Calls(p.Path)[^1]));
        Assert.Contains(UpToDate, second.Output);
        Assert.DoesNotContain("Pfa: compression of b.dat is up to date", second.Output);
        var third = p.Build();
        Assert.Contains(UpToDate, third.Output);
        Assert.Contains("Pfa: compression of b.dat is up to date", third.Output);
    }

    [Fact]
    public void Tool_warnings_are_coded_so_NoWarn_and_warnaserror_work_and_a_clean_run_passes_warnaserror()
    {
        using var p = new TargetsProject();
        var clean = p.Build("-warnaserror");
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.DoesNotContain("warning", clean.Output);

        p.FakeEnv("FAKE_LINES='runs/model.json: warning PFA2002: conv1 has 8 filters but only 5 samples'");
        p.Touch("pfa.json");
        var warned = p.Build();
        Assert.True(warned.ExitCode == 0, warned.ToString());
        Assert.Contains("runs/model.json : warning PFA2002: conv1 has 8 filters", warned.Output);
        p.Touch("pfa.json");
        var silenced = p.Build("-p:NoWarn=PFA2002", "-warnaserror");
        Assert.True(silenced.ExitCode == 0, silenced.ToString());
        Assert.DoesNotContain("PFA2002", silenced.Output);
    }

    [Fact]
    public void Without_the_tool_the_error_says_to_restore_or_install_it()
    {
        using var p = new TargetsProject();
        var none = p.Build("-p:PfaToolPath=");
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("error PFA0010: dotnet-pfa cannot be run", none.Output);
        Assert.Contains("dotnet tool install dotnet-pfa", none.Output);
        Assert.DoesNotContain("MSB6006", none.Output);

        p.Write(".config/dotnet-tools.json", """{ "version": 1, "isRoot": true, "tools": { "dotnet-pfa": { "version": "0.2.0", "commands": ["dotnet-pfa"] } } }""");
        var unrestored = p.Build("-p:PfaToolPath=");
        Assert.NotEqual(0, unrestored.ExitCode);
        Assert.Contains($"Run 'dotnet tool restore' in {p.Path}", unrestored.Output);
        Assert.Equal(0, p.Calls);
    }

    [Fact]
    public void An_older_tool_is_refused_before_it_runs()
    {
        using var p = new TargetsProject();
        p.FakeEnv("FAKE_VERSION=0.0.1");
        var r = p.Build();
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error PFA0011: dotnet-pfa 0.0.1 is older than these Pfa.Build targets need", r.Output);
        Assert.Equal(0, p.Calls);
    }

    [Fact]
    public void Design_time_builds_and_PfaEnabled_false_never_compress()
    {
        using var p = new TargetsProject();
        foreach (var args in new[] { new[] { "-p:DesignTimeBuild=true" }, ["-p:PfaEnabled=false"], ["-p:BuildingInsideVisualStudio=true", "-p:BuildingProject=false"] })
        {
            var r = p.Build(args);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.DoesNotContain("Pfa:", r.Output);
        }
        Assert.Equal(0, p.Calls);
        Assert.False(Directory.Exists(p["obj/pfa"]));
    }

    [Fact]
    public void A_multi_targeted_project_compresses_in_its_outer_build_only()
    {
        using var p = new TargetsProject();
        var inner = p.Build("-p:TargetFrameworks=net10.0%3Bnet9.0", "-p:TargetFramework=net10.0");
        Assert.True(inner.ExitCode == 0, inner.ToString());
        Assert.Equal(0, p.Calls);
        var outer = p.Build("-p:TargetFrameworks=net10.0%3Bnet9.0", "-p:IsCrossTargetingBuild=true");
        Assert.True(outer.ExitCode == 0, outer.ToString());
        Assert.Equal(1, p.Calls);
    }

    [Fact]
    public void Metadata_reaches_the_tool_as_separate_arguments()
    {
        using var p = new TargetsProject("""
            <PfaCompress Include="runs/model.dat" Model="runs/model.json" Budget="pfa.json" Data="my data" EvalData="my data/test.npy"
                         OutputDir="out dir" Tolerance="0.75" Arguments="--limit 100 --note 'two words' --x &quot;a b&quot;" />
            """);
        Directory.CreateDirectory(p["my data"]);
        p.Write("my data/test.npy", "x");
        var r = p.Build("-v:n");
        Assert.True(r.ExitCode == 0, r.ToString());
        var call = Assert.Single(FakeTool.Calls(p.Path));
        Assert.Equal(["compress", "--model", p["runs/model.json"], "--weights", p["runs/model.dat"], "--budget", p["pfa.json"],
            "--data", p["my data"], "--eval-data", p["my data/test.npy"], "--out", p["out dir"], "--tolerance", "0.75",
            "--limit", "100", "--note", "two words", "--x", "a b"], call);   // no pfa.recipe.json yet: no --baseline
        Assert.True(File.Exists(p["out dir/summary.json"]));
        // At normal verbosity nothing that looks like a fault.
        Assert.DoesNotContain("Task assembly was loaded from", r.Output);
        Assert.DoesNotContain("warning", r.Output);
    }
}

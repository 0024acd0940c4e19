using Microsoft.Build.Framework;
using Pfa.Tasks;
using Pfa.Tasks.Tooling;

namespace Pfa.Build.Tests;

/// <summary>
/// The PfaCompress task under a mock build engine, running the fake tool for real: its command line, input
/// validation, and how each way the tool can fail becomes one coded error.
/// </summary>
public sealed class PfaCompressTaskTests : IDisposable
{
    readonly TempFolder _dir = new();
    readonly MockEngine _engine = new();
    public void Dispose() => _dir.Dispose();

    PfaCompress Task(Action<PfaCompress>? configure = null, string? fakeEnv = null)
    {
        if (fakeEnv is not null) _dir.Write("fake.env", fakeEnv);
        var task = new PfaCompress
        {
            BuildEngine = _engine,
            ProjectFile = _dir.Write("app.csproj", "<Project />"),
            Weights = _dir.Write("runs/model.dat", "w"),
            Model = _dir.Write("runs/model.json", "{}"),
            Budget = _dir.Write("pfa.json", "{}"),
            OutputDir = _dir["out"] + "/",
            PfaToolPath = FakeTool.Install(_dir.Path),
        };
        configure?.Invoke(task);
        return task;
    }

    [Fact]
    public void Passes_every_setting_as_separate_arguments_and_reports_the_item_it_compressed()
    {
        var data = Directory.CreateDirectory(_dir["my data"]).FullName;
        var task = Task(t =>
        {
            t.Data = data;
            t.EvalData = data;
            t.Tolerance = "2.5";
            t.Baseline = _dir["pfa.recipe.json"];
            t.ExtraArguments = "--limit 200 --note 'two words'";
        });
        Assert.True(task.Execute(), _engine.Log);
        var call = Assert.Single(FakeTool.Calls(_dir.Path));
        Assert.Equal(["compress", "--model", task.Model, "--weights", task.Weights, "--budget", task.Budget!, "--data", data, "--eval-data", data,
            "--out", _dir["out"], "--tolerance", "2.5", "--baseline", _dir["pfa.recipe.json"], "--limit", "200", "--note", "two words"], call);
        var compressed = Assert.Single(task.Compressed);
        Assert.Equal(task.Weights, compressed.ItemSpec);
        // Where the deployable model and the summary are, for a later target.
        Assert.Equal(Path.GetFullPath(_dir["out/model.onnx"]), compressed.GetMetadata("Onnx"));
        Assert.Equal(Path.GetFullPath(_dir["out/summary.json"]), compressed.GetMetadata("Summary"));
        // One line at the default verbosity; percentages always with two decimals.
        Assert.Contains(_engine.Messages, m => m.Importance == MessageImportance.High && m.Message == "Pfa: energy: parameters 49.70%, MACs 60.12%, accuracy 90.00% → 89.50% (-0.50 pp)");
        Assert.Empty(_engine.Errors);
    }

    [Fact]
    public void Without_model_onnx_the_item_has_no_onnx_metadata()
    {
        var task = Task(fakeEnv: "FAKE_NO_ONNX=1");
        Assert.True(task.Execute(), _engine.Log);
        Assert.Equal("", Assert.Single(task.Compressed).GetMetadata("Onnx"));
    }

    [Fact]
    public void A_failed_gate_is_the_tools_error_with_its_code_and_file_and_nothing_else()
    {
        var task = Task(t => t.Tolerance = "0.1", "FAKE_DROP=3");
        Assert.False(task.Execute());
        var error = Assert.Single(_engine.Errors);
        Assert.Equal("PFA1001", error.Code);
        Assert.Equal(task.Budget, error.File);
        Assert.Empty(task.Compressed);
    }

    [Fact]
    public void Tool_warnings_keep_their_code_and_file()
    {
        var task = Task(fakeEnv: "FAKE_LINES='runs/model.json: warning PFA2002: conv1 has 8 filters but only 5 samples'");
        Assert.True(task.Execute(), _engine.Log);
        var warning = Assert.Single(_engine.Warnings);
        Assert.Equal("PFA2002", warning.Code);
        Assert.Equal("runs/model.json", warning.File);
    }

    [Fact]
    public void An_internal_error_of_the_tool_is_PFA0012_not_MSB6006()
    {
        var task = Task(fakeEnv: "FAKE_LINES='internal error: NullReferenceException: boom'\nFAKE_EXIT=3");
        Assert.False(task.Execute());
        Assert.Equal(["PFA0012: dotnet-pfa internal error: NullReferenceException: boom"], _engine.ErrorLines);
    }

    [Fact]
    public void An_exit_code_without_an_error_line_is_PFA0012()
    {
        var task = Task(fakeEnv: "FAKE_EXIT=7");
        Assert.False(task.Execute());
        var line = Assert.Single(_engine.ErrorLines);
        Assert.StartsWith("PFA0012: dotnet-pfa compress stopped with exit code 7", line);
        Assert.DoesNotContain(_engine.Errors, e => e.Code == "MSB6006");
    }

    [Fact]
    public void A_tool_older_than_the_targets_is_PFA0011_before_any_work()
    {
        var task = Task(t => t.MinimumToolVersion = "0.2.0", "FAKE_VERSION=0.1.9");
        Assert.False(task.Execute());
        var line = Assert.Single(_engine.ErrorLines);
        Assert.StartsWith("PFA0011: dotnet-pfa 0.1.9 is older than these Pfa.Build targets need (0.2.0)", line);
        Assert.Contains("dotnet tool update dotnet-pfa --version 0.2.0", line);
        Assert.Empty(FakeTool.Calls(_dir.Path));
    }

    [Fact]
    public void A_tool_that_cannot_start_is_PFA0010_with_what_it_said()
    {
        var task = Task(fakeEnv: "FAKE_VERSION_EXIT=1");
        Assert.False(task.Execute());
        var line = Assert.Single(_engine.ErrorLines);
        Assert.StartsWith("PFA0010: dotnet-pfa cannot be run", line);
        Assert.Contains("Check PfaToolPath", line);
    }

    [Fact]
    public void Without_dotnet_the_error_says_how_to_point_at_it()
    {
        var task = Task(t => t.PfaToolPath = null);
        task.Environment = name => name == "PATH" ? _dir.Path : null;
        Assert.False(task.Execute());
        var line = Assert.Single(_engine.ErrorLines);
        Assert.StartsWith("PFA0010: cannot find 'dotnet'", line);
        Assert.Contains("DOTNET_HOST_PATH", line);
    }

    [Fact]
    public void Invalid_settings_are_coded_errors_and_the_tool_never_runs()
    {
        var task = Task(t => { t.Tolerance = "NaN"; t.ExtraArguments = "--data \"open"; t.Model = _dir["missing.json"]; });
        Assert.False(task.Execute());
        Assert.Contains(_engine.ErrorLines, l => l.StartsWith("PFA0007: the tolerance 'NaN'", StringComparison.Ordinal));
        Assert.Contains(_engine.ErrorLines, l => l.StartsWith("PFA0009: the Arguments metadata", StringComparison.Ordinal) && l.Contains("unmatched"));
        Assert.Contains(_engine.ErrorLines, l => l.StartsWith("PFA0001: model description", StringComparison.Ordinal));
        Assert.Empty(FakeTool.Calls(_dir.Path));
    }

    [Theory]
    [InlineData(null, "pfa")]            // dotnet pfa: the project's local tool (or a global one)
    [InlineData("/opt/pfa/dotnet-pfa.dll", "/opt/pfa/dotnet-pfa.dll")]
    public void The_host_is_DOTNET_HOST_PATH_not_whatever_dotnet_is_on_PATH(string? toolPath, string prefix)
    {
        var host = _dir.Write("sdk/dotnet", "");
        _dir.Write("elsewhere/dotnet", "");
        var env = new Dictionary<string, string> { ["DOTNET_HOST_PATH"] = host, ["PATH"] = _dir["elsewhere"] };
        var command = ToolCommand.Resolve(toolPath, n => env.GetValueOrDefault(n), out var problem);
        Assert.Null(problem);
        Assert.Equal(host, command.Executable);
        Assert.Equal([prefix], command.Prefix);

        env.Remove("DOTNET_HOST_PATH");
        Assert.Equal(_dir["elsewhere/dotnet"], ToolCommand.Resolve(toolPath, n => env.GetValueOrDefault(n), out _).Executable);
    }
}

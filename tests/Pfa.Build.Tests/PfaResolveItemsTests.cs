using Microsoft.Build.Utilities;
using Pfa.Tasks;

namespace Pfa.Build.Tests;

/// <summary>Per-item resolution: defaults, the settings file that makes every setting an input, and bad items.</summary>
public sealed class PfaResolveItemsTests : IDisposable
{
    readonly TempFolder _dir = new();
    readonly MockEngine _engine = new();
    public void Dispose() => _dir.Dispose();

    PfaResolveItems Resolve(string? tolerance = null, bool updateBaseline = false, params TaskItem[] items)
    {
        var task = new PfaResolveItems
        {
            BuildEngine = _engine,
            Items = items,
            ProjectFile = _dir.Write("app.csproj", "<Project />"),
            OutputDir = _dir["artifacts/pfa/"],
            StateDir = _dir["obj/pfa/"],
            Tolerance = tolerance,
            UpdateBaseline = updateBaseline,
        };
        Assert.True(task.Execute(), _engine.Log);
        return task;
    }

    static TaskItem Item(string weights, params (string Key, string Value)[] metadata)
    {
        var item = new TaskItem(weights);
        item.SetMetadata("Model", "runs/model.json");
        foreach (var (k, v) in metadata) item.SetMetadata(k, v);
        return item;
    }

    [Fact]
    public void Defaults_and_full_paths()
    {
        var r = Assert.Single(Resolve("1.5", items: Item("runs/model.dat", ("Budget", "cfg/pfa.json"))).Resolved);
        Assert.Equal(_dir["runs/model.dat"], r.ItemSpec);
        Assert.Equal(_dir["runs/model.json"], r.GetMetadata("Model"));
        Assert.Equal(_dir["artifacts/pfa/"], r.GetMetadata("OutputDir"));
        Assert.Equal("1.5", r.GetMetadata("Tolerance"));
        Assert.Equal("", r.GetMetadata("Baseline"));   // none committed yet
        _dir.Write("cfg/pfa.recipe.json", "{}");
        var again = Assert.Single(Resolve("1.5", items: Item("runs/model.dat", ("Budget", "cfg/pfa.json"))).Resolved);
        Assert.Equal(_dir["cfg/pfa.recipe.json"], again.GetMetadata("Baseline"));   // next to the budget
        Assert.Contains(_dir["cfg/pfa.recipe.json"], again.GetMetadata("InputFiles").Split(';'));
        Assert.StartsWith(_dir["obj/pfa/model.dat-"], r.GetMetadata("Stamp"));
        Assert.EndsWith(".stamp", r.GetMetadata("Stamp"));
        Assert.Equal("", r.GetMetadata("Force"));
        Assert.Contains(r.GetMetadata("SettingsFile"), r.GetMetadata("InputFiles").Split(';'));
    }

    [Fact]
    public void The_settings_file_changes_exactly_when_a_setting_does()
    {
        _dir.Write("pfa.recipe.json", "{}");   // a committed baseline: updating it changes no setting
        string Settings(string? tolerance, bool update = false, string args = "") =>
            Assert.Single(Resolve(tolerance, update, Item("m.dat", ("Arguments", args))).Resolved).GetMetadata("SettingsFile");
        var file = Settings("1");
        var written = File.GetLastWriteTimeUtc(file);
        File.SetLastWriteTimeUtc(file, written.AddHours(-1));
        Assert.Equal(file, Settings("1"));
        Assert.Equal(written.AddHours(-1), File.GetLastWriteTimeUtc(file));           // unchanged settings: not rewritten
        Assert.Equal(written.AddHours(-1), File.GetLastWriteTimeUtc(Settings("1", update: true))); // the baseline update is not a setting
        Settings("2");
        Assert.Contains("Tolerance=2\n", File.ReadAllText(file));
        Assert.True(File.GetLastWriteTimeUtc(file) > written.AddHours(-1));
        File.SetLastWriteTimeUtc(file, written.AddHours(-1));
        Settings("2", args: "--limit 10");
        Assert.Contains("Arguments=--limit 10\n", File.ReadAllText(file));
        Assert.True(File.GetLastWriteTimeUtc(file) > written.AddHours(-1));
    }

    [Fact]
    public void The_tool_version_from_the_manifest_is_a_setting()
    {
        _dir.Write(".config/dotnet-tools.json", """{ "version": 1, "isRoot": true, "tools": { "dotnet-pfa": { "version": "0.2.0", "commands": ["dotnet-pfa"] } } }""");
        var settings = Assert.Single(Resolve(items: Item("m.dat")).Resolved).GetMetadata("SettingsFile");
        Assert.Contains("ToolVersion=0.2.0\n", File.ReadAllText(settings));
        Assert.Contains($"ToolManifest={_dir[".config/dotnet-tools.json"]}\n", File.ReadAllText(settings));
    }

    [Fact]
    public void Updating_the_baseline_forces_a_run_through_an_output_that_never_exists()
    {
        var r = Assert.Single(Resolve(updateBaseline: true, items: Item("m.dat")).Resolved);
        Assert.NotEqual("", r.GetMetadata("Force"));
        Assert.False(File.Exists(r.GetMetadata("Force")));
    }

    [Fact]
    public void Two_items_get_their_own_state_and_may_not_share_an_output_folder()
    {
        var both = Resolve(items: [Item("a.dat", ("OutputDir", "out/a")), Item("b.dat", ("OutputDir", "out/b"))]).Resolved;
        Assert.Equal(2, both.Length);
        Assert.NotEqual(both[0].GetMetadata("Stamp"), both[1].GetMetadata("Stamp"));

        var task = new PfaResolveItems
        {
            BuildEngine = _engine, Items = [Item("a.dat"), Item("b.dat")], ProjectFile = _dir["app.csproj"],
            OutputDir = _dir["artifacts/pfa/"], StateDir = _dir["obj/pfa/"],
        };
        Assert.False(task.Execute());
        var line = Assert.Single(_engine.ErrorLines);
        Assert.StartsWith("PFA0009: <PfaCompress Include=\"b.dat\"> and <PfaCompress Include=\"a.dat\"> would both write into", line);
    }

    [Fact]
    public void An_item_without_a_model_is_an_error_that_says_what_to_add()
    {
        var task = new PfaResolveItems
        {
            BuildEngine = _engine, Items = [new TaskItem("m.dat")], ProjectFile = _dir.Write("app.csproj", ""),
            OutputDir = _dir["artifacts/pfa/"], StateDir = _dir["obj/pfa/"],
        };
        Assert.False(task.Execute());
        Assert.Equal("PFA0009", Assert.Single(_engine.Errors).Code);
        Assert.Contains("Model=\"runs/model.json\"", _engine.Errors[0].Message);
    }
}

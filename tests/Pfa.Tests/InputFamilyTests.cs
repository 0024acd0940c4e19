using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Pfa.Core.Model;
using Pfa.Core.Model.Modules;
using Pfa.Tool.Cli;
using TorchSharp;

using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// The families of bad input a careful user tried (issue 20): each gives exit 2 with a coded message that says what
/// and where — or the documented behaviour — and leaves every input file as it was. Every file is generated here.
/// </summary>
public sealed class InputFamilyTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const int Samples = 24;

    /// <summary>A tiny batch-norm CNN (exported the user's way), float32 .npy data and labels, and its analysis.</summary>
    (string Model, string Weights, string Data, string Labels) Setup(bool analyse = false)
    {
        if (!File.Exists(_dir["model.json"]))
        {
            torch.manual_seed(3);
            using var seq = torch.nn.Sequential(("c1", torch.nn.Conv2d(1, 4, 3, padding: 1)), ("b1", SafeBatchNorm.BatchNorm2d(4)), ("r1", torch.nn.ReLU()),
                ("p1", torch.nn.MaxPool2d(2)), ("c2", torch.nn.Conv2d(4, 6, 3, padding: 1)), ("r2", torch.nn.ReLU()),
                ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(6 * 3 * 3, 3)));
            PfaModel.Export(seq, [1, 6, 6], null, _dir["model.json"], _dir["model.dat"], "tiny");
            Pixels(_dir["x.npy"], _ => 0.5f);
            DataFiles.Npy(_dir["y.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i % 3)).ToArray());
        }
        if (analyse && !File.Exists(_dir["an/stats.safetensors"]))
        {
            var (code, _, err) = Cli("analyze", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir["x.npy"], "--labels", _dir["y.npy"], "--out", _dir["an"]);
            Assert.True(code == 0, err);
        }
        return (_dir["model.json"], _dir["model.dat"], _dir["x.npy"], _dir["y.npy"]);
    }

    void Pixels(string path, Func<int, float> value)
    {
        var rng = new Random(1);
        var bytes = Enumerable.Range(0, Samples * 36).SelectMany(i => BitConverter.GetBytes(value(i) is var v && v == 0.5f ? (float)rng.NextDouble() : v)).ToArray();
        DataFiles.Npy(path, "<f4", [Samples, 1, 6, 6], bytes);
    }

    /// <summary>Every file under the temp folder with its hash: what a run must not change.</summary>
    Dictionary<string, string> Snapshot() => Directory.EnumerateFiles(_dir.Path, "*", SearchOption.AllDirectories)
        .Where(f => new FileInfo(f).Length > 0 && (File.GetAttributes(f) & FileAttributes.Directory) == 0)
        .ToDictionary(f => f, f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    static void AssertCoded((int Code, string Out, string Err) r, string code, string fragment)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        Assert.True(r.Err.Contains($"error {code}: ", StringComparison.Ordinal) && r.Err.Contains(fragment, StringComparison.Ordinal), $"expected {code} with \"{fragment}\": {r.Err}");
        Assert.DoesNotContain("internal error", r.Err);
        Assert.DoesNotContain("c10::", r.Err);
        Assert.DoesNotContain("System.", r.Err);
        Assert.DoesNotMatch(@"\n\s+at \S+\(", r.Err);
    }

    /// <summary>Runs the CLI and asserts that no input file changed.</summary>
    (int Code, string Out, string Err) Run(params string[] args)
    {
        var before = Snapshot();
        var result = Cli(args);
        var after = Snapshot();
        foreach (var (file, hash) in before)
            Assert.True(after.TryGetValue(file, out var now) && now == hash, $"{file} changed or vanished: {string.Join(' ', args)}\n{result.Err}");
        return result;
    }

    // ---- exit 3 before: inputs the README calls valid, or simply bad ----

    [Theory]
    [InlineData("""{ "strategy": "footprint", "target": 1 }""")]
    [InlineData("""{ "strategy": "flops", "target": 1 }""")]
    [InlineData("""{ "strategy": "footprint", "parameters": 1000000000 }""")]
    public void A_size_target_at_or_above_the_model_keeps_every_filter(string budget)
    {
        var (model, _, _, _) = Setup(analyse: true);
        File.WriteAllText(_dir["b.json"], budget);
        var (code, _, err) = Cli("recipe", "--model", model, "--analysis", _dir["an"], "--budget", _dir["b.json"], "--out", _dir["r.json"]);
        Assert.True(code == 0, err);
        var recipe = JsonNode.Parse(File.ReadAllText(_dir["r.json"]))!;
        Assert.All(recipe["layers"]!.AsArray(), l => Assert.Equal((int)l!["filters_before"]!, (int)l["filters_after"]!));
        Assert.Null(recipe["strategy"]!["kl_scale"]);
    }

    [Theory]
    [InlineData("model.dat", float.NaN)]
    [InlineData("model.safetensors", float.PositiveInfinity)]
    public void Non_finite_weights_are_PFA0004_naming_the_tensor(string file, float bad)
    {
        var (model, weights, data, labels) = Setup();
        var entries = Pfa.Core.Checkpoints.Checkpoint.Read(weights);
        using var value = bad.ToScalar();
        var damaged = entries.Select(e => e.Key == "c2.weight" ? (e.Key, e.Value.clone().index_fill_(0, torch.tensor(new long[] { 1 }), value)) : e).ToList();
        Pfa.Core.Checkpoints.Checkpoint.Write(_dir[file], damaged);
        AssertCoded(Run("eval", "--model", model, "--weights", _dir[file], "--data", data, "--labels", labels), "PFA0004", "tensor 'c2.weight' holds 36 NaN or infinite values (of 216)");
    }

    [Theory]
    [InlineData(float.NaN, "eval")]
    [InlineData(float.NegativeInfinity, "analyze")]
    public void Non_finite_pixels_are_PFA0006_naming_the_sample(float bad, string verb)
    {
        var (model, weights, _, labels) = Setup();
        Pixels(_dir["bad.npy"], i => i == 7 * 36 + 5 ? bad : 0.5f);
        string[] output = verb == "analyze" ? ["--out", _dir["o"]] : [];
        AssertCoded(Run([verb, "--model", model, "--weights", weights, "--data", _dir["bad.npy"], "--labels", labels, .. output]), "PFA0006", "sample 7 holds a non-finite value");
    }

    [Fact]
    public void A_statistics_file_with_NaN_is_refused_by_recipe()
    {
        var (model, _, _, _) = Setup(analyse: true);
        Directory.CreateDirectory(_dir["nan"]);
        File.Copy(_dir["an/spectra.json"], _dir["nan/spectra.json"]);
        var stats = Pfa.Core.Checkpoints.SafetensorsFormat.Read(_dir["an/stats.safetensors"]);
        var (key, _) = stats.First(e => e.Value.is_floating_point() && e.Value.numel() > 1);
        using var nan = double.NaN.ToScalar();
        using (var f = File.Create(_dir["nan/stats.safetensors"]))
            Pfa.Core.Checkpoints.SafetensorsFormat.Write(f, stats.Select(e => e.Key == key ? (e.Key, e.Value.clone().fill_(nan)) : e).ToList());
        AssertCoded(Run("recipe", "--model", model, "--analysis", _dir["nan"], "--out", _dir["r.json"]), "PFA0004", $"tensor '{key}' holds");
    }

    [Fact]
    public void A_safetensors_header_that_is_not_UTF8_is_PFA0004()
    {
        var (model, _, _, _) = Setup();
        var header = Encoding.UTF8.GetBytes("{\"c1.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\xff\":{}}");
        header[^5] = 0xff;
        File.WriteAllBytes(_dir["bad.safetensors"], [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);
        AssertCoded(Run("info", "--model", model, "--weights", _dir["bad.safetensors"]), "PFA0004", "not valid UTF-8");
    }

    [Fact]
    public void A_json_file_or_a_dat_key_that_is_not_UTF8_says_so()
    {
        var (model, _, _, _) = Setup();
        File.WriteAllBytes(_dir["u.json"], [.. "{ \"schema\": \"pfa.model/1\", \"input\": [2], \"layers\": [ { \"name\": \"a"u8, 0xff, .. "\", \"type\": \"linear\", \"out\": 2 } ] }"u8]);
        AssertCoded(Run("info", "--model", _dir["u.json"]), "PFA0002", "is not valid UTF-8");
        File.WriteAllBytes(_dir["bad.dat"], [1, 3, 0xff, 0xfe, 0xfd, 6, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        AssertCoded(Run("info", "--model", model, "--weights", _dir["bad.dat"]), "PFA0004", "is not valid UTF-8");
    }

    [Fact]
    public void Reversed_data_offsets_say_so_not_truncated()
    {
        var (model, _, _, _) = Setup();
        var header = Encoding.UTF8.GetBytes("{\"c1.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}");
        File.WriteAllBytes(_dir["bad.safetensors"], [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);
        var r = Run("info", "--model", model, "--weights", _dir["bad.safetensors"]);
        AssertCoded(r, "PFA0004", "expected [begin, end] with 0 ≤ begin ≤ end");
        Assert.DoesNotContain("truncated", r.Err);
    }

    [Fact]
    public async Task A_folder_an_empty_file_or_a_named_pipe_as_weights_is_PFA0001_without_blocking()
    {
        var (model, _, data, labels) = Setup();
        Directory.CreateDirectory(_dir["w.dat"]);
        AssertCoded(Run("eval", "--model", model, "--weights", _dir["w.dat"], "--data", data, "--labels", labels), "PFA0001", "is a folder, not a file");
        File.WriteAllBytes(_dir["empty.dat"], []);
        AssertCoded(Run("eval", "--model", model, "--weights", _dir["empty.dat"], "--data", data, "--labels", labels), "PFA0001", "is empty, or not a regular file");
        using (var p = System.Diagnostics.Process.Start("mkfifo", [_dir["pipe.safetensors"]])) p.WaitForExit();
        var task = Task.Run(() => Cli("eval", "--model", model, "--weights", _dir["pipe.safetensors"], "--data", data, "--labels", labels));
        Assert.True(await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(60))) == task, "reading a named pipe blocked");
        AssertCoded(await task, "PFA0001", "not a regular file");
        Directory.CreateDirectory(_dir["m.json"]);
        AssertCoded(Run("info", "--model", _dir["m.json"]), "PFA0001", "is a folder");
    }

    [Theory]
    [InlineData("maxpool2d", 8)]
    [InlineData("avgpool2d", 7)]
    public void A_pool_window_larger_than_its_input_is_PFA0003_as_conv_is(string type, int kernel)
    {
        File.WriteAllText(_dir["m.json"], $$"""{ "schema": "pfa.model/1", "input": [1, 6, 6], "layers": [ { "name": "p", "type": "{{type}}", "kernel": {{kernel}}, "stride": 4 }, { "type": "flatten" }, { "name": "l", "type": "linear", "out": 2 } ] }""");
        AssertCoded(Run("info", "--model", _dir["m.json"]), "PFA0003", $"a {kernel} window does not fit its 6x6 input");
        File.WriteAllText(_dir["c.json"], """{ "schema": "pfa.model/1", "input": [1, 5, 5], "layers": [ { "name": "c", "type": "conv2d", "out": 2, "kernel": 7, "stride": 4 }, { "type": "flatten" }, { "name": "l", "type": "linear", "out": 2 } ] }""");
        AssertCoded(Run("info", "--model", _dir["c.json"]), "PFA0003", "does not fit its 5x5 input");
    }

    [Theory]
    [InlineData("--width", "0")]
    [InlineData("--width", "100000")]
    [InlineData("--depth", "60002")]
    [InlineData("--classes", "2000000000")]
    public void Describe_refuses_sizes_before_allocating_them(string option, string value)
    {
        AssertCoded(Run("describe", "resnet", option, value, "-o", _dir["r.json"]), "PFA0009", value);
        Assert.False(File.Exists(_dir["r.json"]));
    }

    // ---- inputs overwritten without a word ----

    [Fact]
    public void Merge_into_one_of_its_shards_is_refused()
    {
        var (model, weights, data, labels) = Setup(analyse: true);
        Assert.Equal(0, Cli("analyze", "--model", model, "--weights", weights, "--data", data, "--labels", labels, "--limit", "10", "--out", _dir["s2"]).Code);
        AssertCoded(Run("merge", _dir["an"], _dir["s2"], "--out", _dir["an"]), "PFA0009", "would overwrite the shard's statistics file");
    }

    [Fact]
    public void Recipe_over_its_model_directly_or_through_a_link_is_refused()
    {
        var (model, _, _, _) = Setup(analyse: true);
        AssertCoded(Run("recipe", "--model", model, "--analysis", _dir["an"], "--out", model), "PFA0009", "would overwrite the model description");
        File.CreateSymbolicLink(_dir["link.json"], model);
        AssertCoded(Run("recipe", "--model", model, "--analysis", _dir["an"], "--out", _dir["link.json"]), "PFA0009", "would overwrite the model description");
    }

    [Fact]
    public void Compress_into_the_folder_that_holds_its_inputs_is_refused()
    {
        var (_, _, data, labels) = Setup();
        Directory.CreateDirectory(_dir["prev"]);
        File.Copy(_dir["model.json"], _dir["prev/model.json"]);
        File.Copy(_dir["model.dat"], _dir["prev/model.dat"]);
        AssertCoded(Run("compress", "--model", _dir["prev/model.json"], "--weights", _dir["prev/model.dat"], "--data", data, "--labels", labels, "--epochs", "0", "--out", _dir["prev"]),
            "PFA0009", "holds the model description");
        AssertCoded(Run("apply", "--model", _dir["prev/model.json"], "--weights", _dir["prev/model.dat"], "--recipe", _dir["nope.json"], "--out", _dir["prev"]), "PFA0009", "holds the model description");
        AssertCoded(Run("finetune", "--model", _dir["prev/model.json"], "--weights", _dir["prev/model.dat"], "--data", data, "--labels", labels, "--out", _dir["prev/model.dat"]), "PFA0009", "would overwrite the weights file");
    }

    // ---- wrong results with exit 0 before ----

    [Theory]
    [InlineData("\"eps\": -1", "'eps' must be a positive number")]
    [InlineData("\"eps\": 0", "'eps' must be a positive number")]
    [InlineData("\"momentum\": 2", "'momentum' must be between 0 and 1")]
    public void Batch_norm_settings_out_of_range_are_PFA0003(string property, string message)
    {
        File.WriteAllText(_dir["m.json"], $$"""{ "schema": "pfa.model/1", "input": [2, 4, 4], "layers": [ { "name": "b", "type": "batchnorm2d", {{property}} }, { "type": "flatten" }, { "name": "l", "type": "linear", "out": 2 } ] }""");
        AssertCoded(Run("info", "--model", _dir["m.json"]), "PFA0003", message);
    }

    [Theory]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "target": 0.9 }""", "'target' appears twice")]
    [InlineData("""{ "layers": { "c1": { "keep": 1 }, "c1": { "keep": 2 } } }""", "'c1' appears twice")]
    [InlineData("""{ "finetune": { "epochs": 1, "epochs": 2 } }""", "'epochs' appears twice")]
    public void Duplicate_keys_in_a_budget_are_PFA0002_at_the_repeat(string budget, string message)
    {
        var (model, _, _, _) = Setup(analyse: true);
        File.WriteAllText(_dir["b.json"], budget);
        var r = Run("recipe", "--model", model, "--analysis", _dir["an"], "--budget", _dir["b.json"], "--out", _dir["r.json"]);
        AssertCoded(r, "PFA0002", message);
        Assert.Contains("(first at line 1, column", r.Err);
    }

    [Fact]
    public void A_layer_named_input_is_PFA0003_since_inputs_lists_mean_the_model_s_input_by_it()
    {
        File.WriteAllText(_dir["m.json"], """{ "schema": "pfa.model/1", "input": [2], "layers": [ { "name": "input", "type": "linear", "out": 2 } ] }""");
        AssertCoded(Run("info", "--model", _dir["m.json"]), "PFA0003", "is named 'input'");
    }

    [Fact]
    public void Duplicate_keys_in_a_model_description_are_PFA0002()
    {
        File.WriteAllText(_dir["m.json"], """{ "schema": "pfa.model/1", "input": [2], "layers": [ { "name": "l", "type": "linear", "out": 2, "out": 3 } ] }""");
        AssertCoded(Run("info", "--model", _dir["m.json"]), "PFA0002", "'out' appears twice");
    }

    [Theory]
    [InlineData("""{ "include": ["c1"], "exclude": ["c1"] }""", "both in 'include' and in 'exclude'")]
    [InlineData("""{ "include": ["c1", "c1"] }""", "listed twice in 'include'")]
    [InlineData("""{ "layers": { "c1": { "keep": 9 } } }""", "'keep' of layer 'c1' is 9, but the layer has 4 filters")]
    [InlineData("""{ "layers": { "c1": { "min_filters": 5 } } }""", "'min_filters' of layer 'c1' is 5, but the layer has 4 filters")]
    public void Contradictory_or_impossible_layer_choices_are_PFA0007(string budget, string message)
    {
        var (model, _, _, _) = Setup(analyse: true);
        File.WriteAllText(_dir["b.json"], budget);
        AssertCoded(Run("recipe", "--model", model, "--analysis", _dir["an"], "--budget", _dir["b.json"], "--out", _dir["r.json"]), "PFA0007", message);
    }

    [Theory]
    [InlineData("init", "randon", "'init' must be \"selected\" or \"random\"")]
    [InlineData("twice", "", "is listed twice")]
    [InlineData("kept", "", "kept indices must be distinct, ascending")]
    [InlineData("after", "", "'filters_after' must be from 1 to filters_before")]
    [InlineData("strategy", "nonsense", "unknown strategy 'nonsense'")]
    public void A_damaged_recipe_is_PFA0015_before_apply_uses_it(string damage, string value, string message)
    {
        var (model, weights, _, _) = Setup(analyse: true);
        Assert.Equal(0, Cli("recipe", "--model", model, "--analysis", _dir["an"], "--out", _dir["r.json"]).Code);
        var recipe = JsonNode.Parse(File.ReadAllText(_dir["r.json"]))!;
        var layers = recipe["layers"]!.AsArray();
        switch (damage)
        {
            case "init": recipe["strategy"]!["init"] = value; break;
            case "strategy": recipe["strategy"]!["name"] = value; break;
            case "twice": layers.Add(layers[0]!.DeepClone()); break;
            case "kept": layers[0]!["kept"]!.AsArray()[0] = 99; break;
            default: layers[0]!["filters_after"] = 0; break;
        }
        File.WriteAllText(_dir["bad.json"], recipe.ToJsonString());
        AssertCoded(Run("apply", "--model", model, "--weights", weights, "--recipe", _dir["bad.json"], "--out", _dir["o"]), "PFA0015", message);
        Assert.False(Directory.Exists(_dir["o"]));
    }

    // ---- options ----

    [Fact]
    public void A_budget_with_data_takes_eval_data_from_the_command_line()
    {
        var (model, weights, data, labels) = Setup();
        Directory.CreateDirectory(_dir["idx"]);
        DataFiles.Idx(_dir["idx/t10k-images-idx3-ubyte"], _dir["idx/t10k-labels-idx1-ubyte"], 9, 6, 6, i => (byte)(i % 3), gzip: false);
        File.WriteAllText(_dir["b.json"], $$"""{ "data": { "path": "{{data}}", "labels": "{{labels}}" }, "finetune": { "epochs": 0 } }""");
        var (code, output, err) = Cli("compress", "--model", model, "--weights", weights, "--budget", _dir["b.json"], "--eval-data", _dir["idx"], "--json", "--out", _dir["out"]);
        Assert.True(code is 0 or 1, err);
        Assert.Contains("accuracy_after", output);
        Assert.Contains("on 9 samples", err);      // the gate ran on --eval-data's test split
    }

    [Fact]
    public void Numbers_too_large_for_an_option_say_the_range_not_a_dotnet_type()
    {
        var (model, weights, data, labels) = Setup();
        var r = Run("eval", "--model", model, "--weights", weights, "--data", data, "--labels", labels, "--limit", "99999999999");
        AssertCoded(r, "PFA0009", "--limit must be a whole number (at most 2147483647); found '99999999999'");
        Assert.DoesNotContain("Nullable", r.Err);
    }

    [Fact]
    public void A_damaged_baseline_is_found_before_any_work()
    {
        var (model, weights, data, labels) = Setup();
        File.WriteAllText(_dir["base.json"], "{ \"schema\": \"pfa.recipe/1\", ");
        var r = Run("compress", "--model", model, "--weights", weights, "--data", data, "--labels", labels, "--baseline", _dir["base.json"], "--out", _dir["out"]);
        AssertCoded(r, "PFA0002", "base.json");
        Assert.DoesNotContain("analysing", r.Err);
        Assert.DoesNotContain("evaluating", r.Err);
    }

    [Fact]
    public void A_closed_standard_output_is_reported_as_such()
    {
        var err = new StringWriter();
        var code = PfaCli.Run(["describe", "resnet", "--depth", "8", "--width", "2", "-o", _dir["d.json"]], new StandardOutput(new ClosedWriter()), err);
        Assert.Equal(2, code);
        Assert.Contains("error PFA0001: cannot write to standard output", err.ToString());
    }

    [Fact]
    public void Labels_beyond_the_model_s_outputs_are_PFA0006_in_training_too()
    {
        var (model, weights, data, _) = Setup();
        DataFiles.Npy(_dir["y9.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i == 5 ? 9 : i % 3)).ToArray());
        foreach (var verb in new[] { "eval", "finetune" })
        {
            string[] output = verb == "finetune" ? ["--out", _dir["ft.dat"], "--epochs", "1"] : [];
            AssertCoded(Run([verb, "--model", model, "--weights", weights, "--data", data, "--labels", _dir["y9.npy"], .. output]), "PFA0006", "has label 9 but the model has only 3 outputs");
        }
    }

    [Theory]
    [InlineData("--out")]
    [InlineData("--weights")]
    public void An_empty_option_value_is_PFA0009(string option)
    {
        var (model, weights, data, labels) = Setup();
        var args = new List<string> { "compress", "--model", model, "--weights", weights, "--data", data, "--labels", labels, "--out", _dir["out"] };
        args[args.IndexOf(option) + 1] = "";
        AssertCoded(Run([.. args]), "PFA0009", $"{option} is empty");
    }

    sealed class ClosedWriter : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => throw new UnauthorizedAccessException("Access to the path is denied.");
        public override void Write(string? value) => throw new UnauthorizedAccessException("Access to the path is denied.");
        public override void WriteLine(string? value) => throw new UnauthorizedAccessException("Access to the path is denied.");
    }
}

using System.Text.Json;
using System.Text.RegularExpressions;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Training;
using TorchSharp;

using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// `dotnet pfa compress` end to end on a tiny CNN trained briefly on a Fashion-MNIST subset (Debian's package),
/// shared by the tests of this class.
/// </summary>
public sealed class TinyFashionModel : IDisposable
{
    public const string Data = "/usr/share/datasets/fashion-mnist";
    public TempDir Dir { get; } = new();
    public string Model => Dir["model.json"];
    public string Weights => Dir["model.dat"];

    public TinyFashionModel()
    {
        if (!File.Exists(Path.Combine(Data, "train-images-idx3-ubyte.gz")) && !File.Exists(Path.Combine(Data, "train-images-idx3-ubyte")))
            throw new InvalidOperationException($"Fashion-MNIST is missing from {Data}: run scripts/setup.sh (it installs Debian's dataset-fashion-mnist).");
        torch.manual_seed(1);
        var normalize = new Normalization { Mean = [0.286], Std = [0.353] };
        using var seq = torch.nn.Sequential(
            ("c1", torch.nn.Conv2d(1, 8, 3, padding: 1)), ("b1", torch.nn.BatchNorm2d(8)), ("r1", torch.nn.ReLU()), ("p1", torch.nn.MaxPool2d(2)),
            ("c2", torch.nn.Conv2d(8, 16, 3, padding: 1)), ("b2", torch.nn.BatchNorm2d(16)), ("r2", torch.nn.ReLU()), ("p2", torch.nn.MaxPool2d(2)),
            ("flat", torch.nn.Flatten()), ("f1", torch.nn.Linear(16 * 7 * 7, 32)), ("r3", torch.nn.ReLU()), ("out", torch.nn.Linear(32, 10)));
        using var train = Dataset.Open(new DataSpec { Path = Data, Split = "train", Limit = 3000 }, normalize);
        Trainer.Train(seq, train, new TrainOptions { Epochs = 1, LearningRate = 0.05, BatchSize = 64 });
        PfaModel.Export(seq, [1, 28, 28], normalize, Model, Weights, "tiny-fashion");
    }

    public void Dispose() => Dir.Dispose();
}

public sealed class CompressEndToEndTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _out = new();
    public void Dispose() => _out.Dispose();


    string Budget(string name, string json)
    {
        File.WriteAllText(_out[name], json);
        return _out[name];
    }

    (int, string, string) Compress(string outDir, string budget, params string[] extra) => Cli(
        ["compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--data", TinyFashionModel.Data,
         "--limit", "1000", "--out", outDir, .. extra]);

    [Fact]
    public void Compress_writes_every_artifact_and_the_result_can_be_compressed_again()
    {
        var budget = Budget("pfa.json", """{ "strategy": "footprint", "target": 0.5, "tolerance": 5, "latency": { "batch": 8 }, "finetune": { "epochs": 1, "batch_size": 32, "learning_rate": 0.05 } }""");
        var (code, stdout, stderr) = Compress(_out["a"], budget);
        Assert.True(code == 0, stderr);
        Assert.Contains("footprint", stdout);
        foreach (var f in new[] { "recipe.json", "model.json", "model.dat", "model.onnx", "summary.json", "summary.md", "report.html", "analysis/stats.safetensors", "analysis/spectra.json" })
            Assert.True(File.Exists(Path.Combine(_out["a"], f)), f);

        var report = File.ReadAllText(Path.Combine(_out["a"], "report.html"));
        Assert.Equal(3, Regex.Matches(report, "<polyline").Count);  // one energy curve per analysed layer
        Assert.Contains("top-1 accuracy", report);
        // Widths of the other strategies at this size, one column each.
        Assert.Contains("Other strategies at this size", report);
        Assert.Matches("<th>footprint \\(this recipe\\)</th><th>footprint-tau</th><th>uniform</th><th>kl</th>", report);
        var summary = Summary.Load(Path.Combine(_out["a"], "summary.json"));
        Assert.True(summary.Passed);
        Assert.Equal(10_000, summary.EvalSamples);
        Assert.Equal(1000, summary.AnalysisSamples);
        Assert.True(summary.ParametersAfter <= 0.5 * summary.ParametersBefore);
        // The numbers the gate decides on: a trained model well above chance (10%), within 5 pp of it after halving
        // the parameters and one fine-tune epoch (measured: 77.39% → 76.71%), the drop exactly before − after, and
        // 'eval' agreeing on the output.
        Assert.True(summary.AccuracyBefore >= 60, $"before: {summary.AccuracyBefore}");
        Assert.True(summary.AccuracyAfter >= 65, $"after: {summary.AccuracyAfter} (before {summary.AccuracyBefore})");
        Assert.Equal(Math.Round(summary.AccuracyBefore - summary.AccuracyAfter, 4), summary.Drop, 6);
        Assert.Equal(summary.Drop <= 5, summary.Passed);
        var evaluated = Cli("eval", "--model", Path.Combine(_out["a"], "model.json"), "--weights", Path.Combine(_out["a"], "model.dat"),
            "--data", TinyFashionModel.Data, "--json");
        Assert.True(evaluated.Code == 0, evaluated.Err);
        Assert.Equal(summary.AccuracyAfter, Math.Round(JsonDocument.Parse(evaluated.Out).RootElement.GetProperty("top1").GetDouble() * 100, 4), 6);
        // Latency is measured, not derived from MACs: both present, positive, with batch, runs and threads stated.
        var latency = summary.Latency!;
        Assert.True(latency.BeforeMs > 0 && latency.AfterMs > 0);
        Assert.Equal(1, latency.Batch);
        Assert.Equal(20, latency.Runs);
        Assert.True(latency.Threads >= 1);
        Assert.Equal(Math.Round(100 * latency.AfterMs / latency.BeforeMs, 2), latency.Percent);
        var markdown = File.ReadAllText(Path.Combine(_out["a"], "summary.md"));
        Assert.Matches(@"\| CPU latency, libtorch \(batch 1, \d+ threads, median of 20\) \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+% \([\d.]+× MACs\) \|\n\| CPU latency, libtorch \(batch 8, \d+ threads, median of 10\) \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+% \([\d.]+× MACs\) \|\n\| CPU latency, ONNX Runtime \(batch 1, \d+ threads, median of 20\) .*\|\n\| CPU latency, ONNX Runtime \(batch 8, \d+ threads, median of 10\) .*\|\n\nAccuracy gate", markdown);
        // Where the model serves: batch 8 as the budget says, each row with its ratio to the MACs ratio.
        Assert.True(summary.ServingLatency is { Batch: 8, Runs: 10 } && summary.OnnxServingLatency is { Batch: 8 });
        Assert.Equal(Math.Round(latency.Percent / summary.MacsPercent, 2), latency.MacsRatio!.Value, 1);

        // The deployable model: model.onnx, run by ONNX Runtime on the raw [0, 1] test pixels, gives the accuracy the gate saw.
        Assert.Equal(Path.Combine(_out["a"], "model.onnx"), summary.OnnxModel);
        Assert.True(summary.OnnxLatency is { BeforeMs: > 0, AfterMs: > 0, Batch: 1, Runs: 20 });
        // (Up to 2 of 10,000 predictions may differ where two logits tie within float rounding.)
        Assert.InRange(OnnxAccuracy(summary.OnnxModel!) - summary.AccuracyAfter, -0.02, 0.02);

        var recipe = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out["a"], "recipe.json"))).RootElement;
        Assert.Equal("pfa.recipe/1", recipe.GetProperty("schema").GetString());
        var layers = recipe.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(["c1", "c2", "f1"], layers.Select(l => l.GetProperty("name").GetString()));
        Assert.All(layers, l => Assert.Equal(l.GetProperty("filters_after").GetInt32(), l.GetProperty("kept").GetArrayLength()));
        // The default footprint measured its candidate shapes; the layers follow the chosen one (α = 1: PFA-KL's).
        var search = recipe.GetProperty("strategy").GetProperty("search").EnumerateArray().ToList();
        Assert.Equal(6, search.Count);   // α = 1, .75, .5, .25, 0 and the uniform + l1 peer
        var chosen = Assert.Single(search, c => c.GetProperty("chosen").GetBoolean());
        double alpha = chosen.GetProperty("exponent").GetDouble();
        Assert.All(layers, l => Assert.Equal(alpha == 1 ? "kl-scaled" : $"kl-scaled^{alpha.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)}", l.GetProperty("rule").GetString()));
        Assert.Equal(chosen.GetProperty("widths").EnumerateArray().Select(w => w.GetInt32()), layers.Select(l => l.GetProperty("filters_after").GetInt32()));

        // The compressed model is an ordinary input: info, eval and a second compression accept it.
        var compressedModel = Path.Combine(_out["a"], "model.json");
        var compressedWeights = Path.Combine(_out["a"], "model.dat");
        Assert.Equal(0, Cli("info", "--model", compressedModel, "--weights", compressedWeights).Code);
        var again = Cli("compress", "--model", compressedModel, "--weights", compressedWeights, "--data", TinyFashionModel.Data,
            "--limit", "500", "--epochs", "0", "--out", _out["b"], "--budget", Budget("no-onnx.json", """{ "onnx": false }"""));
        Assert.True(again.Code == 0, again.Err);
        // "onnx": false: no model.onnx, no ONNX rows.
        Assert.False(File.Exists(Path.Combine(_out["b"], "model.onnx")));
        Assert.True(Summary.Load(Path.Combine(_out["b"], "summary.json")) is { OnnxModel: null, OnnxLatency: null });
    }

    [Fact]
    public void Recipes_are_byte_identical_for_identical_inputs()
    {
        var budget = Budget("pfa.json", """{ "strategy": "footprint", "target": 0.5 }""");
        var (code, _, err) = Cli("analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "800", "--out", _out["an1"]);
        Assert.True(code == 0, err);
        Assert.Equal(0, Cli("analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "800", "--out", _out["an2"]).Code);
        Assert.Equal(File.ReadAllBytes(_out["an1/stats.safetensors"]), File.ReadAllBytes(_out["an2/stats.safetensors"]));

        Assert.Equal(0, Cli("recipe", "--model", model.Model, "--budget", budget, "--analysis", _out["an1"], "--out", _out["r1.json"]).Code);
        Assert.Equal(0, Cli("recipe", "--model", model.Model, "--budget", budget, "--analysis", _out["an2"], "--out", _out["r2.json"]).Code);
        Assert.Equal(File.ReadAllBytes(_out["r1.json"]), File.ReadAllBytes(_out["r2.json"]));
        var totals = JsonDocument.Parse(File.ReadAllText(_out["r1.json"])).RootElement.GetProperty("totals");
        Assert.True(totals.GetProperty("parameters_after").GetInt64() <= 0.5 * totals.GetProperty("parameters_before").GetInt64());

        // apply turns the recipe into a model with exactly the recipe's widths.
        Assert.Equal(0, Cli("apply", "--model", model.Model, "--weights", model.Weights, "--recipe", _out["r1.json"], "--out", _out["applied"]).Code);
        var applied = ModelDescription.Load(_out["applied/model.json"]);
        var recipeLayers = JsonDocument.Parse(File.ReadAllText(_out["r1.json"])).RootElement.GetProperty("layers").EnumerateArray()
            .ToDictionary(l => l.GetProperty("name").GetString()!, l => l.GetProperty("filters_after").GetInt32());
        foreach (var (name, after) in recipeLayers)
            Assert.Equal(after, applied.Layers.First(l => l.Name == name).Out);
    }

    [Fact]
    public void Merged_shards_give_the_same_recipe_as_one_analysis()
    {
        string[] common = ["--model", model.Model, "--weights", model.Weights];
        Assert.Equal(0, Cli(["analyze", .. common, "--data", TinyFashionModel.Data, "--split", "test", "--classes", "0,1,2,3,4", "--out", _out["s1"]]).Code);
        Assert.Equal(0, Cli(["analyze", .. common, "--data", TinyFashionModel.Data, "--split", "test", "--classes", "5,6,7,8,9", "--out", _out["s2"]]).Code);
        Assert.Equal(0, Cli(["analyze", .. common, "--data", TinyFashionModel.Data, "--split", "test", "--out", _out["all"]]).Code);
        var (code, _, err) = Cli("merge", _out["s1"], _out["s2"], "--out", _out["merged"]);
        Assert.True(code == 0, err);
        var merged = Pfa.Core.Spectra.SpectraFile.Load(_out["merged/spectra.json"]).Layers;
        var whole = Pfa.Core.Spectra.SpectraFile.Load(_out["all/spectra.json"]).Layers;
        Assert.Equal(whole.Select(l => l.Samples), merged.Select(l => l.Samples));
        for (int i = 0; i < whole.Count; i++)
            for (int k = 0; k < whole[i].Filters; k++)
                Assert.Equal(whole[i].Eigenvalues[k], merged[i].Eigenvalues[k], 5);

        // The same shard twice, or a copy of it, would double its samples: refused, naming both.
        Directory.CreateDirectory(_out["copy"]);
        foreach (var f in Directory.GetFiles(_out["s1"])) File.Copy(f, Path.Combine(_out["copy"], Path.GetFileName(f)));
        foreach (var twice in new[] { new[] { _out["s1"], _out["s2"], _out["s1"] }, [_out["s1"], _out["copy"]] })
        {
            var (c, _, e) = Cli(["merge", .. twice, "--out", _out["twice"]]);
            Assert.Equal(2, c);
            Assert.Contains("error PFA0009: shards", e);
            Assert.Contains("hold the same statistics", e);
        }
    }

    [Fact]
    public void A_harsh_budget_with_zero_tolerance_fails_the_gate_with_both_numbers()
    {
        var budget = Budget("harsh.json", """{ "strategy": "footprint", "target": 0.05, "tolerance": 0, "finetune": { "epochs": 0 } }""");
        var (code, _, err) = Compress(_out["h"], budget);
        Assert.Equal(1, code);
        Assert.Contains("PFA1001", err);
        var summary = Summary.Load(_out["h/summary.json"]);
        Assert.False(summary.Passed);
        Assert.Contains(summary.AccuracyBefore.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), err);
        Assert.Contains(summary.AccuracyAfter.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), err);
    }

    [Fact]
    public void Bad_budgets_exit_2_with_line_and_column()
    {
        var budget = Budget("bad.json", "{\n  \"strategy\": \"energy\",\n  \"energy\": 2\n}");
        var (code, _, err) = Compress(_out["x"], budget);
        Assert.Equal(2, code);
        Assert.Contains("bad.json(3,", err);
        Assert.Contains("PFA0007", err);
        Assert.False(Directory.Exists(_out["x"]) && Directory.EnumerateFiles(_out["x"], "*", SearchOption.AllDirectories).Any());
    }

    /// <summary>A diverged fine-tune (learning rate 1e30) stops with PFA1003 and exit 1, with the hint, and leaves
    /// no summary that claims to have passed — even with no tolerance set.</summary>
    [Fact]
    public void A_diverged_fine_tune_is_a_coded_failure_never_a_pass()
    {
        var budget = Budget("nan.json", """{ "strategy": "energy", "energy": 0.9, "finetune": { "epochs": 1, "learning_rate": 1e30, "schedule": "constant" } }""");
        var (code, _, err) = Compress(_out["nan"], budget);
        Assert.True(code == 1, err);
        Assert.Contains("error PFA1003: fine-tuning diverged: the loss became", err);
        Assert.Contains("Lower 'finetune.learning_rate'", err);
        Assert.False(File.Exists(_out["nan/summary.json"]));
        Assert.False(File.Exists(_out["nan/model.dat"]));
    }

    /// <summary>The command line follows pfa.json's rules, before any work is done.</summary>
    [Theory]
    [InlineData("--tolerance", "NaN", "PFA0009: --tolerance must be a finite number")]
    [InlineData("--tolerance", "Infinity", "PFA0009: --tolerance must be a finite number")]
    [InlineData("--tolerance", "-1", "PFA0009: --tolerance must be a finite number")]
    [InlineData("--epochs", "-1", "PFA0009: --epochs must be ≥ 0")]
    [InlineData("--baseline", "no-such-recipe.json", "PFA0001: the baseline recipe 'no-such-recipe.json' does not exist")]
    public void Bad_command_line_values_are_input_errors_before_any_work(string option, string value, string expected)
    {
        var (code, _, err) = Compress(_out["bad"], Budget("b.json", "{}"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.False(Directory.Exists(_out["bad"]));
    }

    /// <summary>The baseline users compare with, through the CLI: uniform widths at 30% of the parameters with L1
    /// selection; the kept filters are those with the largest weight norms in the trained weights file.</summary>
    [Fact]
    public void Uniform_with_l1_selection_compresses_end_to_end()
    {
        var budget = Budget("uniform.json", """{ "strategy": "uniform", "target": 0.3, "select": "l1", "finetune": { "epochs": 0 } }""");
        var (code, _, err) = Compress(_out["u"], budget);
        Assert.True(code == 0, err);
        var recipe = Pfa.Core.Recipes.Recipe.Load(_out["u/recipe.json"]);
        Assert.Equal("l1", recipe.Strategy.Select);
        Assert.NotNull(recipe.Strategy.KeepRatio);
        Assert.True(recipe.Totals.ParametersAfter <= 0.3 * recipe.Totals.ParametersBefore);
        var weights = Pfa.Core.Checkpoints.Checkpoint.Read(model.Weights).ToDictionary(e => e.Key, e => e.Value);
        foreach (var layer in recipe.Layers)
        {
            Assert.Equal("uniform", layer.Rule);
            var w = weights[layer.Name + ".weight"];
            var norms = Enumerable.Range(0, (int)w.shape[0]).Select(i => w[i].abs().sum().item<float>()).ToArray();
            var expected = Enumerable.Range(0, norms.Length).OrderByDescending(i => norms[i]).ThenBy(i => i).Take(layer.FiltersAfter).Order();
            Assert.Equal(expected, layer.Kept);
        }
        foreach (var t in weights.Values) t.Dispose();
    }

    /// <summary>Fine-tuning does something, and 'seed' is what decides it: accuracy after surgery rises with one
    /// epoch; the same seed gives the same weights byte for byte, another seed other weights. Energy 0.9 keeps a
    /// trainable network (10% of the parameters); 0.5 kept 1, 2 and 2 filters, and whether one epoch on 1,000 samples
    /// moved that off chance depended on the CPU's convolution path (18% on oneDNN, 10% without).</summary>
    [Fact]
    public void Fine_tuning_raises_accuracy_after_surgery_and_the_seed_decides_the_weights()
    {
        string Run(string name, int epochs, int seed)
        {
            var budget = Budget(name + ".json", $$"""{ "strategy": "energy", "energy": 0.9, "seed": {{seed}}, "finetune": { "epochs": {{epochs}}, "batch_size": 64 } }""");
            var (code, _, err) = Compress(_out[name], budget);
            Assert.True(code == 0, err);
            return _out[name];
        }
        var none = Summary.Load(Path.Combine(Run("none", 0, 1), "summary.json"));
        var one = Summary.Load(Path.Combine(Run("one", 1, 1), "summary.json"));
        Assert.True(one.AccuracyAfter > none.AccuracyAfter + 1, $"fine-tuning: {none.AccuracyAfter}% → {one.AccuracyAfter}%");
        Run("again", 1, 1);
        Run("other", 1, 2);
        var bytes = File.ReadAllBytes(_out["one/model.dat"]);
        Assert.Equal(bytes, File.ReadAllBytes(_out["again/model.dat"]));
        Assert.NotEqual(bytes, File.ReadAllBytes(_out["other/model.dat"]));
    }

    /// <summary>An independent surgery oracle: the compressed weights are sliced here by hand from the original ones
    /// with the recipe's kept indices (no ChannelSpaces; the flatten mapping written out: channel c owns inputs
    /// c·49 … c·49 + 48 of f1), compared tensor by tensor with `apply`, and the applied model's logits on 256 real
    /// test images compared with a float64 forward of the hand-sliced weights.</summary>
    [Fact]
    public void Apply_equals_a_hand_sliced_model_on_real_data()
    {
        Assert.Equal(0, Cli("analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "1000", "--out", _out["an"]).Code);
        var budget = Budget("e.json", """{ "strategy": "energy", "energy": 0.8 }""");
        Assert.Equal(0, Cli("recipe", "--model", model.Model, "--budget", budget, "--analysis", _out["an"], "--out", _out["r.json"]).Code);
        Assert.Equal(0, Cli("apply", "--model", model.Model, "--weights", model.Weights, "--recipe", _out["r.json"], "--out", _out["ap"]).Code);
        var recipe = Pfa.Core.Recipes.Recipe.Load(_out["r.json"]).Layers.ToDictionary(l => l.Name, l => l.Kept);
        var (k1, k2, k3) = (recipe["c1"], recipe["c2"], recipe["f1"]);
        Assert.True(k1.Length < 8 || k2.Length < 16 || k3.Length < 32, "the recipe removes something");

        var original = Pfa.Core.Checkpoints.Checkpoint.Read(model.Weights).Where(e => e.Value.dtype == TorchSharp.torch.ScalarType.Float32).ToList();
        var w = original.ToDictionary(e => e.Key, e => e.Value.contiguous().data<float>().ToArray());
        var shapes = original.ToDictionary(e => e.Key, e => e.Value.shape);
        float[] Rows(string key, int[] rows)
        {
            int per = (int)(w[key].Length / shapes[key][0]);
            return rows.SelectMany(r => w[key].Skip(r * per).Take(per)).ToArray();
        }
        float[] Cols(float[] matrix, int rows, int cols, int[] keep) =>
            Enumerable.Range(0, rows).SelectMany(r => keep.Select(c => matrix[r * cols + c])).ToArray();
        float[] Conv(string key, int[] outKeep, int[] inKeep, int cin)
        {
            var rowsOnly = Rows(key, outKeep);                 // [out', cin, 3, 3]
            return Enumerable.Range(0, outKeep.Length).SelectMany(o => inKeep.SelectMany(c => rowsOnly.Skip((o * cin + c) * 9).Take(9))).ToArray();
        }
        var flatKeep = k2.SelectMany(c => Enumerable.Range(c * 49, 49)).ToArray();
        var expected = new Dictionary<string, float[]>
        {
            ["c1.weight"] = Rows("c1.weight", k1), ["c1.bias"] = Rows("c1.bias", k1),
            ["c2.weight"] = Conv("c2.weight", k2, k1, 8), ["c2.bias"] = Rows("c2.bias", k2),
            ["f1.weight"] = Cols(Rows("f1.weight", k3), k3.Length, 16 * 49, flatKeep), ["f1.bias"] = Rows("f1.bias", k3),
            ["out.weight"] = Cols(w["out.weight"], 10, 32, k3), ["out.bias"] = w["out.bias"],
        };
        foreach (var (bn, keep) in new[] { ("b1", k1), ("b2", k2) })
            foreach (var part in new[] { "weight", "bias", "running_mean", "running_var" })
                expected[$"{bn}.{part}"] = Rows($"{bn}.{part}", keep);

        var applied = Pfa.Core.Checkpoints.Checkpoint.Read(_out["ap/model.dat"]).ToDictionary(e => e.Key, e => e.Value);
        foreach (var (key, values) in expected)
            Assert.True(values.SequenceEqual(applied[key].contiguous().data<float>().ToArray()), $"{key} differs from the hand-sliced weights");

        // Logits on real data, batch 256, against the float64 forward of the hand-sliced weights.
        var description = ModelDescription.Load(_out["ap/model.json"]);
        using var data = Dataset.Open(new DataSpec { Path = TinyFashionModel.Data, Split = "test", Limit = 256 }, description.Normalize);
        using var batch = data.Batches(256).First();
        var x = batch.X.contiguous().data<float>().Select(v => (double)v).ToArray();
        var reference = Float64Forward.Run(description, expected, x, 256);
        using var network = PfaModel.Load(description, _out["ap/model.dat"]);
        float[] logits;
        using (TorchSharp.torch.no_grad()) logits = network.forward(batch.X).contiguous().data<float>().ToArray();
        double scale = reference.Max(Math.Abs);
        for (int i = 0; i < logits.Length; i++) Assert.True(Math.Abs(logits[i] - reference[i]) <= 1e-4 * scale, $"logit {i}: {logits[i]} vs {reference[i]}");
    }

    /// <summary>init: random (the paper's ablation) end to end: the same widths, but the kept filters lose their
    /// trained weights, so before any fine-tuning the compressed model is near chance while init: selected is not.</summary>
    [Fact]
    public void Random_init_keeps_the_widths_and_loses_what_selection_preserved()
    {
        Summary Run(string name, string init)
        {
            var budget = Budget(name + ".json", $$"""{ "strategy": "energy", "energy": 0.999, "init": "{{init}}", "finetune": { "epochs": 0 } }""");
            var (code, _, err) = Compress(_out[name], budget);
            Assert.True(code == 0, err);
            return Summary.Load(_out[$"{name}/summary.json"]);
        }
        var selected = Run("sel", "selected");
        var random = Run("rnd", "random");
        Assert.Equal(selected.ParametersAfter, random.ParametersAfter);
        Assert.True(random.AccuracyAfter < 25, $"random init before fine-tuning: {random.AccuracyAfter}% (selected {selected.AccuracyAfter}%, before {selected.AccuracyBefore}%, params {selected.ParametersPercent}%)");
        Assert.True(selected.AccuracyAfter > random.AccuracyAfter + 20, $"selected {selected.AccuracyAfter}% vs random {random.AccuracyAfter}%");
        Assert.Contains("\"init\": \"random\"", File.ReadAllText(_out["rnd/recipe.json"]));
    }

    /// <summary>The finetune verb trains the given weights with the budget's settings and writes new weights.</summary>
    [Fact]
    public void The_finetune_verb_writes_weights_that_differ_and_load()
    {
        var budget = Budget("ft.json", """{ "finetune": { "epochs": 1, "batch_size": 64, "learning_rate": 0.01 } }""");
        var (code, output, err) = Cli("finetune", "--model", model.Model, "--weights", model.Weights, "--budget", budget,
            "--data", TinyFashionModel.Data, "--limit", "500", "--out", _out["tuned.dat"]);
        Assert.True(code == 0, err);
        Assert.Contains("epoch 1: loss", err);
        Assert.Contains("tuned.dat", output);
        Assert.NotEqual(File.ReadAllBytes(model.Weights), File.ReadAllBytes(_out["tuned.dat"]));
        var (evalCode, _, evalErr) = Cli("eval", "--model", model.Model, "--weights", _out["tuned.dat"], "--data", TinyFashionModel.Data, "--limit", "200");
        Assert.True(evalCode == 0, evalErr);
    }

    /// <summary>Top-1 (%) of an exported model in ONNX Runtime on the 10k test images as raw [0, 1] pixels, as README's deploy section does it.</summary>
    internal static double OnnxAccuracy(string onnxPath)
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnxPath);
        using var test = Dataset.Open(new DataSpec { Path = TinyFashionModel.Data, Split = "test" }, null);
        long correct = 0;
        foreach (var batch in test.Batches(500))
            using (batch)
            {
                int n = (int)batch.Size;
                var input = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(batch.X.data<float>().ToArray(), [n, 1, 28, 28]);
                using var results = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor("input", input)]);
                var logits = results.First(r => r.Name == "logits").AsTensor<float>();
                var labels = batch.Y.data<long>().ToArray();
                for (int i = 0; i < n; i++)
                {
                    int best = 0;
                    for (int c = 1; c < 10; c++) if (logits[i, c] > logits[i, best]) best = c;
                    if (best == labels[i]) correct++;
                }
            }
        return Math.Round(100.0 * correct / test.Count, 4);
    }
}

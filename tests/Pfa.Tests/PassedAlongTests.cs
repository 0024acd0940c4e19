using System.Reflection;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Model.Modules;
using Pfa.Core.Pipeline;
using Pfa.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Values the product only passes along — settings, options, metadata, timings — each with a test that fails when
/// one is dropped or swapped on its way. Where a type lists the values (FinetuneBudget, TrainOptions), the test
/// walks its properties by reflection, so a field added later is covered or the test names it.
/// </summary>
public sealed class PassedAlongTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const int Samples = 32;

    (string X, string Y) Npy()
    {
        if (!File.Exists(_dir["x.npy"]))
        {
            var rng = new Random(6);
            DataFiles.Npy(_dir["x.npy"], "<f4", [Samples, 2, 4, 4], Enumerable.Range(0, Samples * 32).SelectMany(_ => BitConverter.GetBytes((float)rng.NextDouble())).ToArray());
            DataFiles.Npy(_dir["y.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i % 3)).ToArray());
        }
        return (_dir["x.npy"], _dir["y.npy"]);
    }

    /// <summary>A small conv net exported as model.json + model.dat.</summary>
    void ExportConvNet()
    {
        manual_seed(2);
        using var seq = nn.Sequential(("c", nn.Conv2d(2, 8, 3, padding: 1)), ("r", nn.ReLU()), ("f", nn.Flatten()), ("l", nn.Linear(128, 3)));
        PfaModel.Export(seq, [2, 4, 4], null, _dir["model.json"], _dir["model.dat"]);
    }

    /// <summary>A value of the property's type other than <paramref name="current"/> that the budget accepts.</summary>
    static object Changed(PropertyInfo p, object? current) => (Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType) switch
    {
        var t when t == typeof(OptimizerKind) => current is OptimizerKind.Adam ? OptimizerKind.Sgd : OptimizerKind.Adam,
        var t when t == typeof(ScheduleKind) => current is ScheduleKind.Step ? ScheduleKind.Constant : ScheduleKind.Step,
        var t when t == typeof(bool) => !(current as bool? ?? false),
        var t when t == typeof(DistillOptions) => new DistillOptions { Temperature = 3, Alpha = 0.7 },
        var t when t == typeof(int) => (current as int? ?? 0) + (p.Name == nameof(TrainOptions.Epochs) ? 1 : 2),
        var t when t == typeof(double) => p.Name switch
        {
            nameof(TrainOptions.Momentum) or nameof(TrainOptions.StepGamma) => (current as double? ?? 0.5) * 0.5,
            _ => (current as double? ?? 0.01) * 3,
        },
        var t => throw new InvalidOperationException($"PassedAlongTests has no second value for {t} ({p.Name})"),
    };

    [Fact]
    public void Every_finetune_setting_of_the_budget_reaches_the_train_options()
    {
        var defaults = PfaBudget.Parse("{}").Budget.TrainOptions();
        foreach (var p in typeof(FinetuneBudget).GetProperties())
        {
            var target = typeof(TrainOptions).GetProperty(p.Name) ?? throw new InvalidOperationException($"finetune.{p.Name} has no TrainOptions field");
            var value = Changed(target, target.GetValue(defaults));
            var json = value switch
            {
                bool v => v ? "true" : "false",
                DistillOptions d => $$"""{ "temperature": {{d.Temperature}}, "alpha": {{d.Alpha}} }""",
                Enum e => $"\"{System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(e.ToString())}\"",
                IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                _ => throw new InvalidOperationException(),
            };
            var name = System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
            var options = PfaBudget.Parse($$"""{ "finetune": { "{{name}}": {{json}} } }""").Budget.TrainOptions();
            Assert.True(Equals(value, target.GetValue(options)), $"finetune.{name} = {json} became {target.GetValue(options)}");
        }
        Assert.Equal(7, PfaBudget.Parse("""{ "seed": 7 }""").Budget.TrainOptions().Seed);
    }

    const string SmallNet = """
        { "schema": "pfa.model/1", "input": [2, 4, 4], "layers": [
          { "name": "c", "type": "conv2d", "out": 3, "kernel": 3, "padding": 1 }, { "name": "b", "type": "batchnorm2d" }, { "name": "r", "type": "relu" },
          { "name": "f", "type": "flatten" }, { "name": "l", "type": "linear", "out": 3 } ] }
        """;

    static float[] Train(TrainOptions o, Dataset data)
    {
        manual_seed(6);
        using var teacher = new PfaNetwork(ModelDescription.Parse(SmallNet));   // used only when o.Distill is set
        manual_seed(5);
        using var net = new PfaNetwork(ModelDescription.Parse(SmallNet));
        Trainer.Train(net, data, o, teacher: teacher);
        return net.state_dict().Values.Where(t => t.is_floating_point()).SelectMany(t => t.flatten().data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void Every_train_option_changes_the_trained_weights()
    {
        var (x, y) = Npy();
        using var data = Dataset.Open(new DataSpec { Path = x, Labels = y }, null);
        // Non-default everywhere the default would hide a setting (no step decay within 2 epochs, no weight decay…).
        var base_ = new TrainOptions { Epochs = 2, BatchSize = 8, LearningRate = 0.05, Momentum = 0.9, Nesterov = true, WeightDecay = 0.01,
            Schedule = ScheduleKind.Step, StepEpochs = 1, StepGamma = 0.5, CropPadding = 1, HorizontalFlip = true, Seed = 3 };
        var reference = Train(base_, data);
        Assert.Equal(reference, Train(base_, data));   // deterministic: any difference below comes from the option
        foreach (var p in typeof(TrainOptions).GetProperties().Where(p => p.SetMethod is not null && p.Name != "EqualityContract"))
        {
            var changed = base_ with { };
            p.SetValue(changed, Changed(p, p.GetValue(base_)));
            if (p.Name == nameof(TrainOptions.Optimizer)) changed = changed with { LearningRate = 0.01 };
            Assert.False(reference.SequenceEqual(Train(changed, data)), $"TrainOptions.{p.Name} = {p.GetValue(changed)} did not change the trained weights");
        }
    }

    [Fact]
    public void Float32_npy_samples_are_normalised_as_x_minus_mean_over_std_per_channel()
    {
        var (x, y) = Npy();
        var norm = new Normalization { Mean = [0.25, 0.5], Std = [2.0, 0.5] };
        using var data = Dataset.Open(new DataSpec { Path = x, Labels = y }, norm);
        using var raw = Dataset.Open(new DataSpec { Path = x, Labels = y }, null);
        var batch = data.Batches(Samples).Single();
        var plain = raw.Batches(Samples).Single();
        var got = batch.X.data<float>().ToArray();
        var pixels = plain.X.data<float>().ToArray();
        for (int i = 0; i < got.Length; i++)
        {
            int channel = i / 16 % 2;
            Assert.Equal((pixels[i] - norm.Mean[channel]) / norm.Std[channel], got[i], 5);
        }
    }

    [Fact]
    public void A_run_that_stops_before_publishing_removes_its_staging_folder_itself()
    {
        var (x, y) = Npy();
        manual_seed(2);
        using (var seq = nn.Sequential(("c", nn.Conv2d(2, 4, 3, padding: 1)), ("b", SafeBatchNorm.BatchNorm2d(4)), ("r", nn.ReLU()), ("f", nn.Flatten()), ("l", nn.Linear(64, 3))))
            PfaModel.Export(seq, [2, 4, 4], null, _dir["model.json"], _dir["model.dat"]);
        // The target cannot be met (PFA0007): the run stops after its staging folder holds the analysis.
        File.WriteAllText(_dir["b.json"], """{ "strategy": "footprint", "parameters": 10 }""");
        var (code, _, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--budget", _dir["b.json"],
            "--data", x, "--labels", y, "--eval-data", x, "--eval-labels", y, "--out", _dir["out"]);
        Assert.True(code == 2 && err.Contains("PFA0007", StringComparison.Ordinal) && err.Contains("analysing", StringComparison.Ordinal), err);
        Assert.Empty(Directory.EnumerateDirectories(_dir.Path, ".out.pfa-*"));   // removed by this run, not left for the next one's sweep
        Assert.False(Directory.Exists(_dir["out"]));
    }

    [Fact]
    public void The_summary_s_latencies_are_measured_on_the_original_and_on_the_compressed_model()
    {
        var (x, y) = Npy();
        ExportConvNet();
        var measured = new List<long>();
        // A recorder: "latency" = parameters / 1000, so each number says which model it was measured on.
        LatencyResult Record(PfaNetwork n)
        {
            long parameters = n.parameters().Sum(p => p.numel());
            measured.Add(parameters);
            return new LatencyResult(parameters / 1000.0, parameters / 1000.0, 1, 1, 1);
        }
        var summary = Compressor.Run(new CompressRequest
        {
            ModelPath = _dir["model.json"], WeightsPath = _dir["model.dat"], Budget = PfaBudget.Parse("""{ "strategy": "uniform", "target": 0.5, "finetune": { "epochs": 0 } }"""),
            TrainData = new DataSpec { Path = x, Labels = y }, EvalData = new DataSpec { Path = x, Labels = y }, OutDir = _dir["out"], MeasureLatency = Record,
        }, _ => { });
        Assert.Equal([summary.ParametersBefore, summary.ParametersAfter], measured);
        Assert.Equal(summary.ParametersBefore / 1000.0, summary.Latency!.BeforeMs);
        Assert.Equal(summary.ParametersAfter / 1000.0, summary.Latency.AfterMs);
        Assert.Equal(Math.Round(100.0 * summary.ParametersAfter / summary.ParametersBefore, 2), summary.Latency.Percent);
    }

    [Fact]
    public void The_recipe_records_the_budget_s_settings()
    {
        var (x, y) = Npy();
        ExportConvNet();
        Assert.Equal(0, TestCli.Cli("analyze", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", x, "--labels", y, "--out", _dir["an"]).Code);
        File.WriteAllText(_dir["b.json"], """{ "strategy": "footprint", "target": 0.6, "seed": 9, "min_filters": 2, "round_to": 2, "init": "random", "select": "l1" }""");
        var (code, _, err) = TestCli.Cli("recipe", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--analysis", _dir["an"], "--budget", _dir["b.json"], "--out", _dir["r.json"]);
        Assert.True(code == 0, err);
        var strategy = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(_dir["r.json"]))!["strategy"]!;
        Assert.Equal("footprint", (string)strategy["name"]!);
        Assert.Equal(0.6, (double)strategy["target"]!);
        Assert.Equal(9, (int)strategy["seed"]!);
        Assert.Equal(2, (int)strategy["min_filters"]!);
        Assert.Equal(2, (int)strategy["round_to"]!);
        Assert.Equal("random", (string)strategy["init"]!);
        Assert.Equal("l1", (string)strategy["select"]!);
    }

    [Fact]
    public void Compress_distils_from_the_original_model_when_the_budget_asks()
    {
        var (x, y) = Npy();
        ExportConvNet();
        File.WriteAllText(_dir["b.json"], """{ "strategy": "uniform", "target": 0.5, "finetune": { "epochs": 1, "batch_size": 8, "distill": { "temperature": 2, "alpha": 0.9 } } }""");
        var (code, _, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--budget", _dir["b.json"],
            "--data", x, "--labels", y, "--eval-data", x, "--eval-labels", y, "--out", _dir["out"]);
        Assert.True(code == 0, err);
        Assert.Contains("distilling the original model (T = 2, α = 0.9)", err);
    }
}

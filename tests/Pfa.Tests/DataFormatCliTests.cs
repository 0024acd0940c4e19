using System.Text.Json;
using Pfa.Core.Data;
using Pfa.Core.Model;
using TorchSharp;
using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// Every data layout README lists, generated small in its real format and read through the CLI as a user would;
/// multi-channel normalisation by hand values; and budget data paths relative to pfa.json.
/// </summary>
public sealed class DataFormatCliTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    string Model(string name, int[] input, int classes)
    {
        torch.manual_seed(2);
        int features = input.Aggregate(1, (a, b) => a * b);
        using var seq = torch.nn.Sequential(("f", torch.nn.Flatten()), ("l", torch.nn.Linear(features, classes)));
        PfaModel.Export(seq, input, null, _dir[$"{name}.json"], _dir[$"{name}.dat"], name);
        return name;
    }

    int EvalSamples(string model, params string[] data)
    {
        var (code, output, err) = Cli(["eval", "--model", _dir[$"{model}.json"], "--weights", _dir[$"{model}.dat"], "--json", .. data]);
        Assert.True(code == 0, err);
        return JsonDocument.Parse(output).RootElement.GetProperty("samples").GetInt32();
    }

    [Fact]
    public void Cifar10_train_split_is_the_five_batch_files_together()
    {
        var folder = Directory.CreateDirectory(_dir["cifar10"]).FullName;
        int[] counts = [2, 3, 1, 2, 2];
        for (int i = 0; i < 5; i++) DataFiles.Cifar(Path.Combine(folder, $"data_batch_{i + 1}.bin"), counts[i], false, k => (byte)(k % 10));
        DataFiles.Cifar(Path.Combine(folder, "test_batch.bin"), 4, false, k => (byte)k);
        var m = Model("c10", [3, 32, 32], 10);
        Assert.Equal(10, EvalSamples(m, "--data", folder, "--split", "train"));
        Assert.Equal(4, EvalSamples(m, "--data", folder, "--split", "test"));
    }

    [Fact]
    public void Cifar100_is_read_with_its_fine_labels()
    {
        var folder = Directory.CreateDirectory(_dir["cifar100"]).FullName;
        DataFiles.Cifar(Path.Combine(folder, "train.bin"), 5, true, k => (byte)(95 + k));   // labels 95…99: need 100 outputs
        var m = Model("c100", [3, 32, 32], 100);
        Assert.Equal(5, EvalSamples(m, "--data", folder, "--split", "train"));
        var small = Model("c100small", [3, 32, 32], 10);
        var (code, _, err) = Cli("eval", "--model", _dir["c100small.json"], "--weights", _dir["c100small.dat"], "--data", folder, "--split", "train");
        Assert.Equal(2, code);
        Assert.Contains("has label 99 but the model has only 10 outputs", err);
    }

    [Fact]
    public void Npy_folder_layout_with_NxHxW_uint8_samples()
    {
        var folder = Directory.CreateDirectory(_dir["npy"]).FullName;
        DataFiles.Npy(Path.Combine(folder, "train-images.npy"), "|u1", [6, 5, 4], Enumerable.Range(0, 120).Select(i => (byte)i).ToArray());
        DataFiles.Npy(Path.Combine(folder, "train-labels.npy"), "<i8", [6], Enumerable.Range(0, 6).SelectMany(i => BitConverter.GetBytes((long)(i % 3))).ToArray());
        var m = Model("npy", [1, 5, 4], 3);
        Assert.Equal(6, EvalSamples(m, "--data", folder, "--split", "train"));
        using var d = Dataset.Open(new DataSpec { Path = folder, Split = "train" }, null);
        Assert.Equal([1, 5, 4], d.SampleShape);
        using var batch = d.Batches(6).First();
        Assert.Equal(20 / 255f, batch.X[1, 0, 0, 0].item<float>(), 6);   // sample 1 starts at byte 20
    }

    [Fact]
    public void Multi_channel_normalisation_uses_each_channels_mean_and_std()
    {
        DataFiles.Cifar(_dir["test_batch.bin"], 2, false, k => 0);
        var normalize = new Normalization { Mean = [0.1, 0.2, 0.3], Std = [0.5, 0.25, 0.2] };
        using var d = Dataset.Open(new DataSpec { Path = _dir.Path, Split = "test" }, normalize);
        using var batch = d.Batches(2).First();
        for (int c = 0; c < 3; c++)
            foreach (var (r, q) in new[] { (0, 0), (7, 19), (31, 31) })
            {
                double pixel = DataFiles.Pixel(1, c * 1024 + r * 32 + q) / 255.0;
                Assert.Equal((pixel - normalize.Mean[c]) / normalize.Std[c], batch.X[1, c, r, q].item<float>(), 5);
            }
    }

    [Fact]
    public void Budget_data_paths_are_relative_to_the_budget_file()
    {
        var project = Directory.CreateDirectory(_dir["project"]).FullName;
        var data = Directory.CreateDirectory(Path.Combine(project, "data")).FullName;
        DataFiles.Idx(Path.Combine(data, "train-images-idx3-ubyte"), Path.Combine(data, "train-labels-idx1-ubyte"), 12, 6, 6, i => (byte)(i % 4), gzip: false);
        File.WriteAllText(Path.Combine(project, "pfa.json"), """{ "data": { "path": "data" } }""");
        torch.manual_seed(4);
        using (var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3, padding: 1)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(108, 4))))
            PfaModel.Export(seq, [1, 6, 6], null, _dir["m.json"], _dir["m.dat"], "m");
        // The working folder is elsewhere: "data" must be found next to pfa.json, not here.
        var (code, output, err) = Cli("analyze", "--model", _dir["m.json"], "--weights", _dir["m.dat"], "--budget", Path.Combine(project, "pfa.json"), "--out", _dir["an"]);
        Assert.True(code == 0, err);
        Assert.Contains("(12 samples)", output);
    }

    [Theory]
    [InlineData("""{ "data": { "path": "data", "limit": 10 } }""", new string[0], 10, 9)]                                   // test split, all of it
    [InlineData("""{ "data": { "path": "data" }, "eval_data": { "limit": 4 } }""", new string[0], 20, 4)]                   // eval_data without a path
    [InlineData("""{ "data": { "path": "data" }, "eval_data": { "split": "train", "limit": 5 } }""", new string[0], 20, 5)]
    [InlineData("""{ "eval_data": { "limit": 3 } }""", new[] { "--data", "DATA", "--limit", "10" }, 10, 3)]                  // --data keeps eval_data
    [InlineData("""{ "eval_data": { "limit": 3 } }""", new[] { "--data", "DATA", "--eval-data", "DATA", "--eval-split", "train" }, 20, 20)]
    public void Eval_data_defaults_follow_the_readme(string budget, string[] extra, int analysed, int evaluated)
    {
        var project = Directory.CreateDirectory(_dir["evalproject"]).FullName;
        var data = Directory.CreateDirectory(Path.Combine(project, "data")).FullName;
        DataFiles.Idx(Path.Combine(data, "train-images-idx3-ubyte"), Path.Combine(data, "train-labels-idx1-ubyte"), 20, 6, 6, i => (byte)(i % 4), gzip: false);
        DataFiles.Idx(Path.Combine(data, "t10k-images-idx3-ubyte"), Path.Combine(data, "t10k-labels-idx1-ubyte"), 9, 6, 6, i => (byte)(i % 4), gzip: false);
        File.WriteAllText(Path.Combine(project, "pfa.json"), budget);
        torch.manual_seed(4);
        using (var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3, padding: 1)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(108, 4))))
            PfaModel.Export(seq, [1, 6, 6], null, _dir["e.json"], _dir["e.dat"], "e");
        var (code, output, err) = Cli(["compress", "--model", _dir["e.json"], "--weights", _dir["e.dat"], "--budget", Path.Combine(project, "pfa.json"),
            "--epochs", "0", "--json", "--out", _dir["eout"], .. extra.Select(a => a == "DATA" ? data : a)]);
        Assert.True(code == 0, err);
        var summary = JsonDocument.Parse(output).RootElement;
        Assert.Equal(analysed, summary.GetProperty("analysis_samples").GetInt32());
        Assert.Equal(evaluated, summary.GetProperty("eval_samples").GetInt32());
    }
}

using System.Text;
using System.Text.Json;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Training;
using TorchSharp;
using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// Residual networks end to end through <c>dotnet pfa</c>: a ResNet exported from TorchSharp in one call compresses
/// in both residual modes and its trunk shrinks (projection) or stays with channel_scatter layers (padding); a
/// PyTorch ResNet state_dict (torchvision's key names, written here as safetensors by this test's own writer)
/// loads into the description <c>dotnet pfa describe</c> writes, and compresses.
/// </summary>
public sealed class ResidualCompressTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();
    const string Data = TinyFashionModel.Data;

    void TrainResNet(string model, string weights)
    {
        torch.manual_seed(1);
        var normalize = new Normalization { Mean = [0.286], Std = [0.353] };
        using var resnet = ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 8 });
        using var train = Dataset.Open(new DataSpec { Path = Data, Split = "train", Limit = 2000 }, normalize);
        Trainer.Train(resnet, train, new TrainOptions { Epochs = 1, LearningRate = 0.05, BatchSize = 64 });
        PfaModel.Export(resnet, train, model, weights, "resnet8");
    }

    [Theory]
    [InlineData("projection")]
    [InlineData("padding")]
    public void A_resnet_exported_in_one_call_compresses_in_both_residual_modes(string mode)
    {
        TrainResNet(_dir["model.json"], _dir["model.dat"]);
        File.WriteAllText(_dir["pfa.json"], $$"""{ "strategy": "footprint", "target": 0.5, "residual": "{{mode}}", "finetune": { "epochs": 1 } }""");
        var (code, stdout, stderr) = Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--budget", _dir["pfa.json"],
            "--data", Data, "--limit", "1500", "--eval-data", Data, "--out", _dir["out"]);
        Assert.True(code == 0, stderr + stdout);
        var recipe = JsonNode(_dir["out/recipe.json"]);
        Assert.Equal(mode, (string)recipe["strategy"]!["residual"]!);
        var compressed = ModelGraph.Build(ModelDescription.Load(_dir["out/model.json"]));
        var original = ModelGraph.Build(ModelDescription.Load(_dir["model.json"]));
        int Width(ModelGraph g, string layer) => g.Nodes.Single(n => n.Name == layer).OutShape[0];
        Assert.True(JsonNode(_dir["out/summary.json"])["parameters_percent"]!.GetValue<double>() <= 50.0 + 1e-9);
        if (mode == "projection")
        {
            // One group per stage: the stem and layer1's last conv shrink together, and so does the trunk (the sum).
            var group = recipe["layers"]!.AsArray().Single(l => (string)l!["name"]! == "layer1.0.add")!;
            Assert.Equal(["conv1", "layer1.0.conv2"], group["shared"]!.AsArray().Select(v => (string)v!));
            Assert.Equal(Width(compressed, "conv1"), Width(compressed, "layer1.0.conv2"));
            Assert.True(Width(compressed, "layer1.0.add") < Width(original, "layer1.0.add"));
            Assert.DoesNotContain(compressed.Nodes, n => n.Type == "channel_scatter");
        }
        else
        {
            // The trunk keeps its width; shrunk inputs of a sum are scattered back first (C.2).
            Assert.All(original.Nodes.Where(n => n.Type == "add"), a => Assert.Equal(a.OutShape[0], Width(compressed, a.Name)));
            Assert.Contains(compressed.Nodes, n => n.Type == "channel_scatter");
            Assert.Contains(recipe["layers"]!.AsArray(), l => (string)l!["name"]! == "layer1.0.conv2");
        }
        var (evalCode, evalOut, _) = Cli("eval", "--model", _dir["out/model.json"], "--weights", _dir["out/model.dat"], "--data", Data, "--split", "test", "--limit", "1500", "--json");
        Assert.Equal(0, evalCode);
        Assert.Equal(JsonNode(_dir["out/summary.json"])["accuracy_after"]!.GetValue<double>(), System.Text.Json.Nodes.JsonNode.Parse(evalOut)!["top1"]!.GetValue<double>() * 100, 2);
    }

    /// <summary>torchvision's ResNet key names for a CIFAR-style ResNet-20 (basic blocks, 16/32/64, projection
    /// shortcuts), written from the naming convention, not from the product's blocks.</summary>
    static List<(string Key, long[] Shape)> TorchvisionResNet20Keys(int inChannels, int classes)
    {
        var keys = new List<(string, long[])>();
        void Bn(string p, int c)
        {
            foreach (var s in new[] { "weight", "bias", "running_mean", "running_var" }) keys.Add(($"{p}.{s}", [c]));
            keys.Add(($"{p}.num_batches_tracked", []));
        }
        keys.Add(("conv1.weight", [16, inChannels, 3, 3]));
        Bn("bn1", 16);
        int inPlanes = 16;
        for (int stage = 1; stage <= 3; stage++)
        {
            int planes = 16 << (stage - 1);
            for (int b = 0; b < 3; b++)
            {
                string p = $"layer{stage}.{b}";
                keys.Add(($"{p}.conv1.weight", [planes, inPlanes, 3, 3])); Bn($"{p}.bn1", planes);
                keys.Add(($"{p}.conv2.weight", [planes, planes, 3, 3])); Bn($"{p}.bn2", planes);
                if (b == 0 && stage > 1) { keys.Add(($"{p}.downsample.0.weight", [planes, inPlanes, 1, 1])); Bn($"{p}.downsample.1", planes); }
                inPlanes = planes;
            }
        }
        keys.Add(("fc.weight", [classes, 64]));
        keys.Add(("fc.bias", [classes]));
        return keys;
    }

    /// <summary>A safetensors file as PyTorch's save_file writes it: little-endian header length, JSON header
    /// (dtype, shape, data_offsets), raw data; F32 tensors and I64 counters.</summary>
    static void WriteSafetensors(string path, List<(string Key, long[] Shape)> keys, Random rng)
    {
        var header = new Dictionary<string, object>();
        using var data = new MemoryStream();
        foreach (var (key, shape) in keys)
        {
            long start = data.Length;
            long count = shape.Aggregate(1L, (a, b) => a * b);
            bool counter = key.EndsWith("num_batches_tracked");
            for (long i = 0; i < count; i++)
            {
                if (counter) data.Write(BitConverter.GetBytes(100L));
                else data.Write(BitConverter.GetBytes((float)(key.EndsWith("running_var") ? 0.5 + rng.NextDouble() : (rng.NextDouble() - 0.5) * 0.2)));
            }
            header[key] = new { dtype = counter ? "I64" : "F32", shape, data_offsets = new[] { start, data.Length } };
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        data.Position = 0;
        data.CopyTo(f);
    }

    [Fact]
    public void A_pytorch_resnet_state_dict_loads_into_the_described_model_and_compresses()
    {
        WriteSafetensors(_dir["model.safetensors"], TorchvisionResNet20Keys(1, 10), new Random(4));
        var (code, stdout, stderr) = Cli("describe", "resnet", "--depth", "20", "--input", "1,28,28", "--classes", "10", "--mean", "0.286", "--std", "0.353", "-o", _dir["model.json"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("272,", stdout);   // 272,474 parameters: ResNet-20 with projection shortcuts
        var (evalCode, _, evalErr) = Cli("eval", "--model", _dir["model.json"], "--weights", _dir["model.safetensors"], "--data", Data, "--split", "test", "--limit", "200");
        Assert.True(evalCode == 0, evalErr);
        File.WriteAllText(_dir["pfa.json"], """{ "finetune": { "epochs": 0 } }""");
        var (compress, cOut, cErr) = Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.safetensors"], "--budget", _dir["pfa.json"],
            "--data", Data, "--limit", "500", "--eval-data", Data, "--out", _dir["out"], "--weights-format", "safetensors");
        Assert.True(compress == 0, cErr + cOut);
        var recipe = JsonNode(_dir["out/recipe.json"]);
        Assert.Equal(["layer1.0.add", "layer2.0.add", "layer3.0.add"], recipe["layers"]!.AsArray().Where(l => l!["shared"] is not null).Select(l => (string)l!["name"]!));
    }

    [Theory]
    [InlineData(new[] { "describe", "resnet", "--depth", "21", "-o", "m.json" }, "ResNet depth 21")]
    [InlineData(new[] { "describe", "resnet", "--shortcut", "zero", "-o", "m.json" }, "--shortcut must be projection or padding")]
    [InlineData(new[] { "describe", "vgg", "-o", "m.json" }, "unknown network 'vgg'")]
    [InlineData(new[] { "describe", "resnet", "--input", "1,28", "-o", "m.json" }, "--input must be C,H,W")]
    public void Describe_refuses_what_it_cannot_build(string[] args, string message)
    {
        var (code, _, err) = Cli(args.Select(a => a == "m.json" ? _dir["m.json"] : a).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.False(File.Exists(_dir["m.json"]));
    }

    static System.Text.Json.Nodes.JsonNode JsonNode(string path) => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
}

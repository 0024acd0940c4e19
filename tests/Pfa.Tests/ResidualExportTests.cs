using Pfa.Core.Checkpoints;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Residual networks exported in one call: the description of a TorchSharp ResNet/MobileNet built from blocks
/// computes what the module computes (same weights, batch 64, trained-looking batch-norm statistics), its keys
/// are the module's own state_dict keys (torchvision's names), and a state_dict written as safetensors under
/// those names (as PyTorch's <c>save_file(model.state_dict())</c> writes it) loads into the description.
/// </summary>
public class ResidualExportTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Networks => new()
    {
        "resnet20-projection", "resnet20-padding", "resnet20-preact-projection", "resnet20-preact-padding", "resnet50-narrow", "mobilenet",
    };

    internal static Sequential Build(string name) => name switch
    {
        "resnet20-projection" => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8 }),
        "resnet20-padding" => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8, Shortcut = Shortcut.Padding }),
        "resnet20-preact-projection" => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8, PreActivation = true }),
        "resnet20-preact-padding" => ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8, PreActivation = true, Shortcut = Shortcut.Padding }),
        "resnet50-narrow" => ResidualNets.ResNet(new ResNetOptions { Depth = 50, InChannels = 1, Width = 4 }),
        _ => ResidualNets.MobileNet(inChannels: 1, stem: 8, head: 32, settings: [(1, 8, 1, 1), (3, 12, 2, 2), (3, 16, 2, 2)]),
    };


    [Theory]
    [MemberData(nameof(Networks))]
    public void The_exported_description_computes_what_the_module_computes(string name)
    {
        torch.manual_seed(3);
        var module = Build(name);
        TrainedLooking.Apply(module);
        module.eval();
        var description = PfaModel.Export(module, [1, 20, 20], null, _dir["model.json"], _dir["model.safetensors"], name);
        Assert.Equal(module.state_dict().Keys.Order(), Checkpoint.Read(_dir["model.safetensors"]).Select(e => e.Key).Order());
        using var network = PfaModel.Load(_dir["model.json"], _dir["model.safetensors"]);
        var x = randn(64, 1, 20, 20);
        using (no_grad())
        {
            var expected = module.call(x);
            var actual = network.call(x);
            Assert.Equal(expected.shape, actual.shape);
            var diff = (expected - actual).abs().max().item<float>();
            Assert.True(diff < 1e-4, $"{name}: max difference {diff}");
        }
        if (name.StartsWith("resnet20"))
            Assert.Contains(description.Layers, l => l.Name == "layer2.0.add" && l.Type == "add");
    }

    [Fact]
    public void Torchvision_keys_are_the_layer_names()
    {
        var d = SequentialExporter.Describe(ResidualNets.ResNet(new ResNetOptions { Depth = 18, Width = 8 }), [3, 32, 32]);
        var names = d.Layers.Select(l => l.Name).ToList();
        Assert.Contains("layer1.0.conv1", names);
        Assert.Contains("layer2.0.downsample.0", names);
        Assert.Contains("layer2.0.downsample.1", names);
        Assert.Contains("maxpool", names);
        Assert.Equal("fc", names[^1]);
    }
}

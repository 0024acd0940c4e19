using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Exactness of pruning through additions (PFA appendix C) for every block kind, against a float64 reference:
/// before any fine-tune, the compressed network (libtorch, float32) computes what the original computes in float64
/// (<see cref="Float64Graph"/>) when the removed channels are zeroed at every layer's inputs, at batch 64. Which
/// channels are removed where is this test's own walk over the layer types (<see cref="Kept"/>): in projection
/// mode a sum keeps what its inputs keep (they are one group); in padding mode a sum keeps all its channels and
/// each input loses its own.
/// </summary>
public class ResidualSurgeryTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var net in Networks.Keys)
            foreach (var mode in new[] { "projection", "padding" })
                data.Add(net, mode);
        return data;
    }

    /// <summary>Small instances of every block kind (input [1, 12, 12]).</summary>
    internal static readonly Dictionary<string, Func<ModelDescription>> Networks = new()
    {
        ["basic, identity + projection shortcuts"] = () => Export(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5 })),
        ["basic, padding shortcuts (option A)"] = () => Export(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5, Shortcut = Shortcut.Padding })),
        ["basic, pre-activation, projection"] = () => Export(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5, PreActivation = true })),
        ["basic, pre-activation, padding"] = () => Export(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5, PreActivation = true, Shortcut = Shortcut.Padding })),
        ["bottleneck, projection"] = () => Export(nn.Sequential(("conv1", nn.Conv2d(1, 8, 3, padding: 1)), ("relu", nn.ReLU()),
            ("b0", new Bottleneck(8, 2)), ("b1", new Bottleneck(8, 4, 2)), ("b2", new Bottleneck(16, 4)),
            ("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(16, 5)))),
        ["inverted residual, depthwise"] = () => Export(ResidualNets.MobileNet(inChannels: 1, classes: 5, stem: 6, head: 16, settings: [(1, 6, 1, 1), (2, 8, 2, 2), (3, 8, 1, 1)])),
        ["grouped convolution"] = () => ModelDescription.Parse("""
            { "schema": "pfa.model/1", "input": [1, 12, 12], "layers": [
              { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
              { "name": "g", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1, "groups": 4 }, { "name": "bg", "type": "batchnorm2d" }, { "type": "relu" },
              { "name": "c2", "type": "conv2d", "out": 6, "kernel": 1 },
              { "type": "adaptive_avgpool2d", "output_size": 1 }, { "type": "flatten" }, { "name": "fc", "type": "linear", "out": 5 } ] }
            """),
    };

    static ModelDescription Export(TorchSharp.Modules.Sequential m) => SequentialExporter.Describe(m, [1, 12, 12]);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Compressed_equals_the_float64_original_with_removed_channels_zeroed(string network, string mode)
    {
        var description = Networks[network]();
        Check(description, ResidualModes.Parse(mode), $"{network}, {mode}", out var compressed);
        // A model compressed in padding mode holds channel_scatter layers; compressing it again renumbers them.
        if (mode == "padding") Check(compressed, ResidualMode.Padding, $"{network}, {mode}, compressed again", out _);
    }

    static void Check(ModelDescription description, ResidualMode mode, string what, out ModelDescription compressedDescription)
    {
        torch.manual_seed(5);
        using var original = new PfaNetwork(description);
        TrainedLooking.Apply(original);
        var spaces = original.Graph.SpacesFor(mode);
        var rng = new Random(9);
        // Random halves; a space read by a grouped conv loses whole groups (Granule channels each).
        var kept = spaces.Prunable.ToDictionary(s => s.Id,
            s => Enumerable.Range(0, s.Channels / s.Granule).OrderBy(_ => rng.Next()).Take(Math.Max(1, s.Channels / s.Granule / 2))
                .SelectMany(j => Enumerable.Range(j * s.Granule, s.Granule)).Order().ToArray());
        Assert.NotEmpty(kept);
        var (d, compressed) = ChannelSurgery.Apply(original, spaces, kept, randomInit: false, seed: 1);
        compressedDescription = d;
        using var _ = compressed;

        var graph = original.Graph;
        var keptOf = new Dictionary<int, int[]?>();
        foreach (var node in graph.Nodes) keptOf[node.Index] = Kept(graph, node, keptOf, kept, spaces, mode);
        IReadOnlyCollection<int>? Zeroed(LayerNode node, int k)
        {
            int j = node.Inputs[k];
            if (j == LayerNode.ModelInput || keptOf[j] is not { } keep) return null;
            return Enumerable.Range(0, graph.Nodes[j].OutShape[0]).Except(keep).ToList();
        }

        const int n = 64;
        var x = randn(n, description.Input[0], description.Input[1], description.Input[2]);
        var weights = original.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray());
        var expected = Float64Graph.Run(description, weights, x.to_type(ScalarType.Float64).data<double>().ToArray(), n, Zeroed);
        double[] actual;
        using (no_grad())
        {
            compressed.eval();
            actual = compressed.call(x).to_type(ScalarType.Float64).data<double>().ToArray();
        }
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        double diff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff <= 1e-5 * Math.Max(1, scale), $"{what}: max difference {diff} (outputs up to {scale})");
    }

    /// <summary>This test's own answer to "which channels of node n's output survive" (null: all), by layer type.</summary>
    static int[]? Kept(ModelGraph g, LayerNode n, Dictionary<int, int[]?> keptOf, Dictionary<int, int[]> kept, ChannelSpaces spaces, ResidualMode mode)
    {
        int[]? Input(int k) => n.Inputs[k] == LayerNode.ModelInput ? null : keptOf[n.Inputs[k]];
        int groups = n.Spec.Groups ?? 1;
        switch (n.Type)
        {
            case LayerType.Conv2d when groups > 1:
            {
                // Whole groups: output group j survives with input group j.
                if (Input(0) is not { } inKept) return null;
                int inPer = n.InShape[0] / groups, outPer = n.OutShape[0] / groups;
                return inKept.Select(c => c / inPer).Distinct().SelectMany(j => Enumerable.Range(j * outPer, outPer)).ToArray();
            }
            case LayerType.Conv2d or LayerType.Linear:
                // A producer's own kept set (the product's spaces are used only to find it by the producer's id).
                return kept.GetValueOrDefault(spaces.OutputOf(n.Index).Id);
            case LayerType.Add:
                if (mode == ResidualMode.Padding) return null;
                Assert.Equal(Input(0), Input(1));   // one group: both inputs keep the same channels
                return Input(0);
            case "channel_pad":
                Assert.Null(Input(0));   // its input stays whole
                return null;
            case "channel_scatter":
                return null;   // every position stays; a removed input channel's position is zero
            case LayerType.Flatten when n.InShape.Length == 3:
                return Input(0)?.SelectMany(c => Enumerable.Range(c * n.InShape[1] * n.InShape[2], n.InShape[1] * n.InShape[2])).ToArray();
            default:
                return Input(0);
        }
    }

    /// <summary>A grouped conv is pruned per group: the recipe keeps whole groups of its input (a multiple of
    /// in/groups channels, picked whole), and the grouped conv loses the matching output groups.</summary>
    [Fact]
    public void A_grouped_convolution_keeps_whole_groups_through_the_recipe()
    {
        var description = ModelDescription.Parse("""
            { "schema": "pfa.model/1", "input": [1, 28, 28], "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
              { "name": "c1", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
              { "name": "g", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 4 }, { "name": "bg", "type": "batchnorm2d" }, { "type": "relu" },
              { "type": "adaptive_avgpool2d", "output_size": 1 }, { "type": "flatten" }, { "name": "fc", "type": "linear", "out": 10 } ] }
            """);
        torch.manual_seed(2);
        using var network = new PfaNetwork(description);
        TrainedLooking.Apply(network);
        Assert.Equal(3, network.Graph.Spaces.Prunable.Single(s => s.Name == "c1").Granule);
        using var data = Pfa.Core.Data.Dataset.Open(new Pfa.Core.Data.DataSpec { Path = TinyFashionModel.Data, Split = "train", Limit = 300 }, description.Normalize);
        var budget = Pfa.Core.Budget.PfaBudget.Parse("""{ "strategy": "uniform", "target": 0.6 }""");
        using var analysis = Pfa.Core.Pipeline.AnalysisResult.Run(network, data, budget, 100);
        var recipe = Pfa.Core.Pipeline.RecipeMaker.Make(network.Graph, analysis, budget, [], PfaModel.WeightsOf(network));
        var c1 = recipe.Layers.Single(l => l.Name == "c1");
        Assert.Equal(0, c1.FiltersAfter % 3);
        Assert.True(c1.FiltersAfter < 12);
        var groups = c1.Kept.Select(c => c / 3).Distinct().ToList();
        Assert.Equal(c1.FiltersAfter, groups.Count * 3);   // every kept group is whole
        var (compressed, net) = ChannelSurgery.Apply(network, recipe);
        using var _ = net;
        var g = compressed.Layers.Single(l => l.Name == "g");
        Assert.Equal(groups.Count, g.Groups);
        Assert.Equal(groups.Count * 2, g.Out);
    }

    [Fact]
    public void Projection_mode_shares_one_group_per_stage_and_padding_mode_frees_every_conv()
    {
        var graph = ModelGraph.Build(Export(ResidualNets.ResNet(new ResNetOptions { Depth = 14, InChannels = 1, Width = 4, Classes = 5 })));
        var projection = graph.SpacesFor(ResidualMode.Projection).Prunable.ToList();
        // Stage 1: the stem and both blocks' conv2; stage 2: its downsample and both conv2; inner conv1s alone.
        var groups = projection.Where(s => s.Shared).Select(s => (s.Name, Members: string.Join(",", s.Producers.Select(p => graph.Nodes[p].Name)))).ToList();
        Assert.Equal([("layer1.0.add", "conv1,layer1.0.conv2,layer1.1.conv2"), ("layer2.0.add", "layer2.0.conv2,layer2.0.downsample.0,layer2.1.conv2"),
            ("layer3.0.add", "layer3.0.conv2,layer3.0.downsample.0,layer3.1.conv2")], groups);
        Assert.Equal(["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.1.conv1", "layer3.0.conv1", "layer3.1.conv1"], projection.Where(s => !s.Shared).Select(s => s.Name).Order());
        // A group's responses are its sums' outputs (C.3), one sample per sum and input.
        Assert.Equal(["layer1.0.add", "layer1.1.add"], projection.First(s => s.Shared).Observed.Select(i => graph.Nodes[i].Name));
        var padding = graph.SpacesFor(ResidualMode.Padding).Prunable.Select(s => s.Name).Order().ToList();
        Assert.Equal(["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2", "layer2.0.conv1", "layer2.0.conv2", "layer2.0.downsample.0",
            "layer2.1.conv1", "layer2.1.conv2", "layer3.0.conv1", "layer3.0.conv2", "layer3.0.downsample.0", "layer3.1.conv1", "layer3.1.conv2"], padding);
    }
}

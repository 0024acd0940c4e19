using System.Text.Json.Nodes;
using Pfa.Core.Layers;
using Pfa.Core.Model;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Exactness of surgery: before any fine-tune, the compressed network's outputs equal the original network's
/// outputs when the removed channels are zeroed at each consumer's input (here: the consumers' weight columns
/// of removed channels are zeroed, which is the same thing). Which columns those are is worked out by this
/// test's own walk over the layer types (<see cref="KeptColumns"/>), not by the product's channel spaces, so a
/// wrong index map cannot cancel out. Every registered layer rule must appear in a topology.
/// </summary>
public class SurgeryTests
{
    public static TheoryData<string, string> Topologies => new()
    {
        { "conv chain, batch norm, pooling, flatten into linear, linear into batch norm 1d", """
          { "schema": "pfa.model/1", "input": [3, 10, 10], "layers": [
            { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 },
            { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
            { "name": "c2", "type": "conv2d", "out": 10, "kernel": 3, "stride": 2, "padding": 1, "bias": false },
            { "name": "b2", "type": "batchnorm2d" }, { "type": "leaky_relu", "negative_slope": 0.1 }, { "type": "maxpool2d", "kernel": 2 },
            { "type": "flatten" },
            { "name": "f1", "type": "linear", "out": 16 }, { "name": "b3", "type": "batchnorm1d" }, { "type": "gelu" }, { "type": "dropout", "p": 0.3 },
            { "name": "out", "type": "linear", "out": 5 } ] }
          """ },
        { "depthwise convolution tied to its producer", """
          { "schema": "pfa.model/1", "input": [2, 8, 8], "layers": [
            { "name": "c1", "type": "conv2d", "out": 6, "kernel": 1 },
            { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
            { "name": "dw", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1, "groups": 6 },
            { "name": "b2", "type": "batchnorm2d" }, { "type": "relu" },
            { "name": "c2", "type": "conv2d", "out": 7, "kernel": 1 },
            { "type": "adaptive_avgpool2d", "output_size": 1 }, { "type": "flatten" },
            { "name": "out", "type": "linear", "out": 3 } ] }
          """ },
        { "residual block: the trunk stays, the block's inner conv shrinks", """
          { "schema": "pfa.model/1", "input": [3, 6, 6], "layers": [
            { "name": "stem", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "name": "r0", "type": "relu" },
            { "name": "a", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1 }, { "name": "ba", "type": "batchnorm2d" }, { "type": "relu" },
            { "name": "b", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "name": "bb", "type": "batchnorm2d" },
            { "name": "sum", "type": "add", "inputs": ["r0", "bb"] }, { "type": "relu" },
            { "type": "avgpool2d", "kernel": 2 }, { "type": "flatten" },
            { "name": "out", "type": "linear", "out": 4 } ] }
          """ },
        { "concatenation: of two branches, of a concatenation, into a conv and through a flatten", """
          { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
            { "name": "a", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1 }, { "name": "ta", "type": "tanh" },
            { "name": "b", "type": "conv2d", "out": 5, "kernel": 1, "inputs": ["input"] }, { "name": "sb", "type": "sigmoid" },
            { "name": "cat", "type": "concat", "inputs": ["ta", "sb"] },
            { "name": "c", "type": "conv2d", "out": 7, "kernel": 3, "padding": 1 }, { "name": "rc", "type": "relu" },
            { "name": "cat2", "type": "concat", "inputs": ["rc", "cat"] },
            { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
            { "name": "out", "type": "linear", "out": 4 } ] }
          """ },
    };

    [Fact]
    public void Every_layer_rule_has_a_surgery_topology()
    {
        var covered = Topologies.SelectMany(row => JsonNode.Parse(row[1].ToString()!)!["layers"]!.AsArray().Select(l => (string)l!["type"]!)).ToHashSet();
        // Residual, grouped and depthwise networks (and channel_scatter, which their compression in padding mode creates).
        foreach (var network in ResidualSurgeryTests.Networks.Values) covered.UnionWith(network().Layers.Select(l => l.Type));
        covered.Add(ChannelScatterRule.Name);
        var missing = LayerRules.Types.Where(t => !covered.Contains(t)).ToList();
        Assert.True(missing.Count == 0, $"layer types without a surgery topology in SurgeryTests: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Concatenated_inputs_stay_prunable_and_the_concatenation_itself_is_not()
    {
        var graph = ModelGraph.Build(ModelDescription.Parse(Topologies.Skip(3).First()[1].ToString()!));
        var names = graph.Spaces.Prunable.Select(s => graph.Nodes[s.Producer].Name).ToList();
        Assert.Equal(["a", "b", "c"], names);
    }

    [Theory]
    [MemberData(nameof(Topologies))]
    public void Compressed_outputs_equal_the_original_with_removed_channels_zeroed(string topology, string json)
    {
        torch.manual_seed(5);
        var description = ModelDescription.Parse(json);
        using var original = new PfaNetwork(description);
        Randomize(original);
        var spaces = original.Graph.Spaces;
        var rng = new Random(9);
        var kept = spaces.Prunable.ToDictionary(s => s.Id,
            s => Enumerable.Range(0, s.Channels).OrderBy(_ => rng.Next()).Take(Math.Max(1, s.Channels / 2)).Order().ToArray());
        Assert.NotEmpty(kept);

        var (compressedDescription, compressed) = ChannelSurgery.Apply(original, kept, randomInit: false, seed: 1);
        using var disposeCompressed = compressed;
        // The classifier never changes width.
        Assert.Equal(original.Graph.OutputShape, ModelGraph.Build(compressedDescription).OutputShape);

        ZeroRemovedInputs(original, spaces, kept);
        var x = randn(64, description.Input[0], description.Input[1], description.Input[2]);
        using (no_grad())
        {
            original.eval();
            compressed.eval();
            var expected = original.call(x);
            var actual = compressed.call(x);
            var diff = (expected - actual).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"{topology}: max difference {diff}");
        }
    }

    [Fact]
    public void A_residual_trunk_is_one_group_in_projection_mode_and_stays_whole_in_padding_mode()
    {
        var graph = ModelGraph.Build(ModelDescription.Parse(Topologies.Skip(2).First()[1].ToString()!));
        var projection = graph.SpacesFor(ResidualMode.Projection).Prunable.ToList();
        Assert.Equal(["sum", "a"], projection.Select(s => s.Name));
        Assert.Equal(["stem", "b"], projection[0].Producers.Select(p => graph.Nodes[p].Name));
        var padding = graph.SpacesFor(ResidualMode.Padding);
        Assert.Equal(["stem", "a", "b"], padding.Prunable.Select(s => s.Name));
        Assert.NotNull(padding.OutputOf(graph.Nodes.Single(n => n.Name == "sum").Index).Fixed);
    }

    [Fact]
    public void Random_init_builds_the_same_architecture_with_fresh_seeded_weights()
    {
        var description = ModelDescription.Parse(Topologies.First()[1].ToString()!);
        using var original = new PfaNetwork(description);
        var spaces = original.Graph.Spaces;
        var kept = spaces.Prunable.ToDictionary(s => s.Id, s => Enumerable.Range(0, s.Channels / 2).ToArray());
        var (d1, selected) = ChannelSurgery.Apply(original, kept, randomInit: false, seed: 3);
        var (d2, random) = ChannelSurgery.Apply(original, kept, randomInit: true, seed: 3);
        var (_, random2) = ChannelSurgery.Apply(original, kept, randomInit: true, seed: 3);
        using (selected) using (random) using (random2)
        {
            Assert.Equal(d1.ToJson(), d2.ToJson());
            var w = original.state_dict()["c1.weight"].index_select(0, tensor(kept[spaces.OutputOf(0).Id].Select(v => (long)v).ToArray()));
            Assert.True(selected.state_dict()["c1.weight"].allclose(w, 0, 0));
            Assert.False(random.state_dict()["c1.weight"].allclose(w, 1e-3, 1e-3));
            Assert.True(random.state_dict()["c1.weight"].allclose(random2.state_dict()["c1.weight"], 0, 0));
        }
    }

    static void Randomize(PfaNetwork net) => TrainedLooking.Apply(net);

    /// <summary>Zeroes, in every consumer (a non-depthwise conv or a linear), the input columns of removed channels.</summary>
    static void ZeroRemovedInputs(PfaNetwork net, ChannelSpaces spaces, Dictionary<int, int[]> kept)
    {
        using var _ = no_grad();
        var sd = net.state_dict();
        // The product's spaces are used only to look up each producer's own kept set (an identity).
        var keptOfProducer = net.Graph.Nodes.Where(n => LayerType.HasFilters(n.Type)).ToDictionary(n => n.Index, n => kept.GetValueOrDefault(spaces.OutputOf(n.Index).Id));
        foreach (var n in net.Graph.Nodes)
        {
            if (!LayerType.HasFilters(n.Type) || IsDepthwise(n)) continue;
            var keptColumns = KeptColumns(net.Graph, n.Inputs[0], keptOfProducer);
            if (keptColumns is null) continue;
            var w = sd[n.Name + ".weight"];
            foreach (var c in Enumerable.Range(0, n.InShape[0]).Except(keptColumns)) w.narrow(1, c, 1).zero_();
        }
    }

    static bool IsDepthwise(LayerNode n) => n.Type == LayerType.Conv2d && n.Spec.Groups is > 1 && n.Spec.Groups == n.InShape[0];

    /// <summary>This test's own answer to "which channels of node i's output survive" (null: all), by layer type.</summary>
    static int[]? KeptColumns(ModelGraph g, int i, Dictionary<int, int[]?> keptOfProducer)
    {
        if (i == LayerNode.ModelInput) return null;
        var n = g.Nodes[i];
        int[] All(int input) => Enumerable.Range(0, input == LayerNode.ModelInput ? g.InputShape[0] : g.Nodes[input].OutShape[0]).ToArray();
        switch (n.Type)
        {
            case LayerType.Conv2d when IsDepthwise(n):
                return KeptColumns(g, n.Inputs[0], keptOfProducer);
            case LayerType.Conv2d or LayerType.Linear:
                return keptOfProducer[i];
            case LayerType.Flatten when n.InShape.Length == 3:
            {
                int positions = n.InShape[1] * n.InShape[2];
                return KeptColumns(g, n.Inputs[0], keptOfProducer)?.SelectMany(c => Enumerable.Range(c * positions, positions)).ToArray();
            }
            case ConcatRule.Name:
            {
                var parts = n.Inputs.Select(j => KeptColumns(g, j, keptOfProducer)).ToList();
                if (parts.All(p => p is null)) return null;
                var result = new List<int>();
                int offset = 0;
                for (int k = 0; k < n.Inputs.Count; k++)
                {
                    result.AddRange((parts[k] ?? All(n.Inputs[k])).Select(c => c + offset));
                    offset += All(n.Inputs[k]).Length;
                }
                return [.. result];
            }
            default: // per-channel layers and add (whose inputs keep the same channels)
                return KeptColumns(g, n.Inputs[0], keptOfProducer);
        }
    }
}

using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Removing whole identity residual blocks (the depth lever for latency): which blocks are removable, and
/// exactness against the float64 oracle — the model without the blocks computes what the original computes with
/// each removed block's branch output zeroed at its sum.
/// </summary>
public sealed class BlockRemovalTests
{
    static ModelDescription ResNet(Shortcut shortcut, bool preActivation = false) => SequentialExporter.Describe(
        ResidualNets.ResNet(new ResNetOptions { Depth = 14, InChannels = 1, Width = 4, Classes = 5, Shortcut = shortcut, PreActivation = preActivation }), [1, 12, 12]);

    [Theory]
    [InlineData(Shortcut.Projection, false)]
    [InlineData(Shortcut.Padding, false)]
    [InlineData(Shortcut.Projection, true)]
    public void Every_block_reduces_to_its_shortcut_and_its_branch_is_the_longer_path(Shortcut shortcut, bool preActivation)
    {
        var graph = ModelGraph.Build(ResNet(shortcut, preActivation));
        var sums = graph.Nodes.Where(n => n.Type == LayerType.Add).ToList();
        var blocks = BlockRemoval.Blocks(graph);
        // ResNet-14: 3 stages of 2 blocks; the first of stages 2 and 3 keeps its shortcut layers (projection or padding).
        Assert.Equal(sums.Select(n => n.Name), blocks.Select(b => b.Sum));
        foreach (var b in blocks)
        {
            var sum = graph.Nodes.Single(n => n.Name == b.Sum);
            var input = graph.Nodes.Single(n => n.Name == b.Input);
            Assert.Contains(input.Index, sum.Inputs);
            Assert.Equal(input.OutShape, sum.OutShape);
            Assert.Equal(2, b.Branch.Count(name => graph.Nodes.Single(n => n.Name == name).Type == LayerType.Conv2d));   // conv1, conv2: never the 1×1 projection
        }
    }

    public static TheoryData<Shortcut, bool, int[]> Removals() => new()
    {
        { Shortcut.Projection, false, [0] },
        { Shortcut.Projection, false, [0, 2, 3] },
        { Shortcut.Padding, false, [1, 3] },
        { Shortcut.Padding, false, [0, 1, 2, 3] },
        { Shortcut.Projection, true, [0, 3] },   // pre-activation: the sum is read by the next block's batch norm, no ReLU to drop
    };

    [Theory]
    [MemberData(nameof(Removals))]
    public void The_model_without_the_blocks_equals_the_float64_original_with_their_branches_zeroed(Shortcut shortcut, bool preActivation, int[] which)
    {
        var description = ResNet(shortcut, preActivation);
        torch.manual_seed(3);
        using var original = new PfaNetwork(description);
        TrainedLooking.Apply(original);
        var blocks = BlockRemoval.Blocks(original.Graph);
        var removed = which.Select(i => blocks[i]).ToList();
        var (d, smaller) = BlockRemoval.Apply(original, removed.Select(b => b.Sum).ToList());
        using var _ = smaller;
        Assert.Equal(ModelGraph.Build(d).Nodes.Count, smaller.Graph.Nodes.Count);
        Assert.All(removed.SelectMany(b => b.Branch.Append(b.Sum)), name => Assert.DoesNotContain(smaller.Graph.Nodes, n => n.Name == name));
        Assert.True(Pfa.Core.Metrics.ModelCost.Of(smaller.Graph).Parameters < Pfa.Core.Metrics.ModelCost.Of(original.Graph).Parameters);

        // The oracle: at each removed block's sum, the branch's input zeroed (all its channels).
        var graph = original.Graph;
        var sums = removed.Select(b => b.Sum).ToHashSet();
        var branchEnd = removed.ToDictionary(b => b.Sum, b => b.Branch[^1]);
        IReadOnlyCollection<int>? Zeroed(LayerNode node, int k) =>
            sums.Contains(node.Name) && graph.Nodes[node.Inputs[k]].Name == branchEnd[node.Name] ? Enumerable.Range(0, node.OutShape[0]).ToList() : null;
        const int n = 16;
        var x = randn(n, 1, 12, 12);
        var weights = original.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray());
        var expected = Float64Graph.Run(description, weights, x.to_type(ScalarType.Float64).data<double>().ToArray(), n, Zeroed);
        double[] actual;
        using (no_grad()) actual = smaller.call(x).to_type(ScalarType.Float64).data<double>().ToArray();
        double scale = expected.Max(Math.Abs);
        double diff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff <= 1e-5 * Math.Max(1, scale), $"max difference {diff} (outputs up to {scale})");
        // And the described model round-trips: written, read back, same layers and inputs.
        var again = ModelDescription.Parse(d.ToJson());
        Assert.Equal(ModelGraph.Build(d).Nodes.Select(n => (n.Name, string.Join(",", n.Inputs))), ModelGraph.Build(again).Nodes.Select(n => (n.Name, string.Join(",", n.Inputs))));
    }

    [Fact]
    public void A_ReLU_reading_a_ReLU_goes_with_the_block()
    {
        var description = ResNet(Shortcut.Padding);
        var graph = ModelGraph.Build(description);
        var block = BlockRemoval.Blocks(graph)[0];
        var d = BlockRemoval.Apply(description, [block.Sum]);
        var sum = graph.Nodes.Single(n => n.Name == block.Sum);
        var after = graph.Nodes.Single(n => n.Inputs.SequenceEqual([sum.Index]));
        Assert.Equal(LayerType.ReLU, after.Type);
        Assert.DoesNotContain(d.Layers, l => l.Name == after.Name);
        Assert.Equal(graph.Nodes.Count - block.Branch.Count - 2, d.Layers.Count);
    }

    [Fact]
    public void A_sum_that_is_not_a_removable_block_is_a_coded_error()
    {
        var description = ResNet(Shortcut.Projection);
        var graph = ModelGraph.Build(description);
        foreach (var name in new[] { "layer1.0.conv1", "no.such.layer" })
        {
            var e = Assert.Throws<PfaException>(() => BlockRemoval.Apply(description, [name]));
            Assert.Equal(ErrorCodes.InvalidRecipe, e.Code);
            Assert.Contains("not the sum of a removable residual block", e.Message);
        }
    }

    [Fact]
    public void The_order_puts_first_a_block_whose_removal_changes_nothing()
    {
        // A block whose branch ends in a batch norm with zero scale and shift adds nothing: without it the model is the
        // same function, also after recalibration (every other batch norm sees the same inputs). Labelled by that
        // model's own predictions, its removal scores every sample; the order is by score, the graph's among equals.
        using var dir = new TempDir();
        var description = ResNet(Shortcut.Padding);
        torch.manual_seed(2);
        using var network = new PfaNetwork(description);
        TrainedLooking.Apply(network);
        var blocks = BlockRemoval.Blocks(network.Graph);
        var harmless = blocks[2];
        using (no_grad())
            foreach (var part in new[] { "weight", "bias" }) network.state_dict()[$"{harmless.Branch[^1]}.{part}"].zero_();

        const int n = 64;
        var rng = new Random(4);
        var pixels = Enumerable.Range(0, n * 144).Select(_ => (float)rng.NextDouble()).ToArray();
        DataFiles.Npy(dir["x.npy"], "<f4", [n, 1, 12, 12], pixels.SelectMany(BitConverter.GetBytes).ToArray());
        DataFiles.Npy(dir["y.npy"], "|u1", [n], new byte[n]);
        int[] labels;
        {
            using var unlabelled = Dataset.Open(new DataSpec { Path = dir["x.npy"], Labels = dir["y.npy"] }, null);
            var (_, reference) = BlockRemoval.Apply(network, [harmless.Sum]);
            using var _r = reference;
            BatchNormRecalibration.Run(reference, unlabelled, 4, 16, 1);
            using (no_grad())
                labels = reference.call(tensor(pixels).reshape(n, 1, 12, 12)).argmax(1).data<long>().Select(v => (int)v).ToArray();
        }
        DataFiles.Npy(dir["y.npy"], "|u1", [n], labels.Select(v => (byte)v).ToArray());
        using var data = Dataset.Open(new DataSpec { Path = dir["x.npy"], Labels = dir["y.npy"] }, null);

        var order = BlockOrder.Measure(network, data, data, 4, 16, 1);
        Assert.Equal(blocks.Select(b => b.Sum).Order(), order.Select(s => s.Block.Sum).Order());
        Assert.Equal(n, order.Single(s => s.Block.Sum == harmless.Sum).Correct);
        Assert.Equal(n, order[0].Correct);
        for (int i = 1; i < order.Count; i++)
        {
            Assert.True(order[i - 1].Correct >= order[i].Correct);
            if (order[i - 1].Correct == order[i].Correct)   // equals keep the graph's order
                Assert.True(blocks.ToList().FindIndex(b => b.Sum == order[i - 1].Block.Sum) < blocks.ToList().FindIndex(b => b.Sum == order[i].Block.Sum));
        }
        Assert.True(order[^1].Correct < n, "removing some real block changes predictions");
    }

    [Theory]
    [InlineData(Shortcut.Projection, "projection")]
    [InlineData(Shortcut.Padding, "padding")]
    [InlineData(Shortcut.Padding, "projection")]
    public void A_recipe_s_removed_blocks_go_after_its_channel_surgery(Shortcut shortcut, string mode)
    {
        var description = ResNet(shortcut);
        torch.manual_seed(6);
        using var original = new PfaNetwork(description);
        TrainedLooking.Apply(original);
        var spaces = original.Graph.SpacesFor(ResidualModes.Parse(mode));
        var layers = spaces.Prunable.Select(s => new RecipeLayer
        {
            Name = s.Name, FiltersBefore = s.Channels, FiltersAfter = Math.Max(s.Granule, s.Channels / 2),
            Kept = Enumerable.Range(0, Math.Max(s.Granule, s.Channels / 2)).Select(i => s.Channels - 1 - 2 * i).Where(i => i >= 0).Order().ToArray(),
        }).Select(l => l with { FiltersAfter = l.Kept.Length }).ToList();
        var removed = BlockRemoval.Blocks(original.Graph).Where((_, i) => i % 2 == 1).Select(b => b.Sum).ToList();
        var narrowOnly = new Recipe { Strategy = new RecipeStrategy { Name = "footprint", Residual = mode }, Layers = layers };
        var both = narrowOnly with { RemovedBlocks = removed };

        var (_, narrowed) = ChannelSurgery.Apply(original, narrowOnly);
        using var _n = narrowed;
        // The narrowed graph keeps every block removable (padding mode's channel layers sit inside the branch).
        Assert.Equal(BlockRemoval.Blocks(original.Graph).Select(b => b.Sum), BlockRemoval.Blocks(narrowed.Graph).Select(b => b.Sum));
        var (_, expected) = BlockRemoval.Apply(narrowed, removed);
        using var _e = expected;
        var (d, actual) = ChannelSurgery.Apply(original, both);
        using var _a = actual;
        Assert.DoesNotContain(d.Layers, l => removed.Contains(l.Name!));
        var x = randn(8, 1, 12, 12);
        using (no_grad())
        {
            var diff = (actual.call(x) - expected.call(x)).abs().max().item<float>();
            Assert.Equal(0f, diff);
        }
    }
}

using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Pipeline;
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
    public void Only_identity_blocks_are_removable(Shortcut shortcut, bool preActivation)
    {
        var graph = ModelGraph.Build(ResNet(shortcut, preActivation));
        var sums = graph.Nodes.Where(n => n.Type == LayerType.Add).ToList();
        var blocks = BlockRemoval.Blocks(graph);
        // ResNet-14: 3 stages of 2 blocks; the first block of stages 2 and 3 changes shape (its shortcut is a layer).
        Assert.Equal(6, sums.Count);
        Assert.Equal(4, blocks.Count);
        foreach (var b in blocks)
        {
            var sum = graph.Nodes.Single(n => n.Name == b.Sum);
            var input = graph.Nodes.Single(n => n.Name == b.Input);
            Assert.Contains(input.Index, sum.Inputs);
            Assert.Equal(input.OutShape, sum.OutShape);
            Assert.Contains(b.Branch, name => graph.Nodes.Single(n => n.Name == name).Type == LayerType.Conv2d);
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
        var notRemovable = graph.Nodes.First(n => n.Type == LayerType.Add && BlockRemoval.Blocks(graph).All(b => b.Sum != n.Name));
        foreach (var name in new[] { notRemovable.Name, "no.such.layer" })
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
}

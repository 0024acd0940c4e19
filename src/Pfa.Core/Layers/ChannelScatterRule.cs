using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>
/// channel_scatter: puts input channel i at output channel <c>index[i]</c> of <c>out</c>, zeros elsewhere. The
/// compressed form of a residual block in padding mode (PFA appendix C.2: "instead of padding the
/// skip-connection we pad the output of the block before the combination"): the block's last conv keeps only
/// its selected filters and this layer puts them back at their trunk positions before the sum.
/// Compressing such a model again renumbers the index to the channels that remain.
/// </summary>
public sealed class ChannelScatterRule : LayerRule
{
    public const string Name = "channel_scatter";
    public override string Type => Name;
    public override IReadOnlyList<string> Properties => ["out", "index"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        var x = inputs[0];
        if (s.Out is not { } o || o < x[0]) throw check.Fail("out", $" needs 'out' ≥ its input's {x[0]} channels.");
        if (s.Index is not { } index || index.Count != x[0])
            throw check.Fail("index", $" needs 'index': one output position per input channel ({x[0]}).");
        for (int i = 0; i < index.Count; i++)
            if (index[i] < 0 || index[i] >= o || (i > 0 && index[i] <= index[i - 1]))
                throw check.Fail($"index[{i}]", $": 'index' must ascend strictly within [0, {o}); found {index[i]}.");
        return [o, .. x.Skip(1)];
    }

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => new Scatter(n.OutShape[0], n.Spec.Index!.Select(v => (long)v).ToArray());

    /// <summary>Exact, with no arithmetic: one zero channel appended to the input, then a Gather on the channel axis
    /// that takes input channel i for output index[i] and the zero channel everywhere else.</summary>
    public override string ToOnnx(OnnxLayer x)
    {
        int rank = x.Node.InShape.Length + 1, channels = x.Node.InShape[0];
        var pads = new long[2 * rank];
        pads[rank + 1] = 1;
        var padded = x.Graph.Node("Pad", [x.Inputs[0], x.Graph.Int64s($"{x.Node.Name}/pads", pads, pads.Length)], x.Temp("padded"), OnnxGraph.Text("mode", "constant"));
        var from = Enumerable.Repeat((long)channels, x.Node.OutShape[0]).ToArray();
        for (int i = 0; i < x.Spec.Index!.Count; i++) from[x.Spec.Index[i]] = i;
        return x.Graph.Node("Gather", [padded, x.Graph.Int64s($"{x.Node.Name}/from", from, from.Length)], x.Output, OnnxGraph.Int("axis", 1));
    }

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) =>
        spaces.Closed(n.OutShape[0], $"{n.Name} scatters its input to fixed positions");

    public override IEnumerable<LayerSpec> Rewrite(LayerNode n, LayerSpec resized, IReadOnlyList<int[]?> keptInputs, ChannelSpaces spaces) =>
        [keptInputs[0] is { } kept ? resized with { Index = kept.Select(i => resized.Index![i]).ToList() } : resized];

    sealed class Scatter(long channels, long[] index) : nn.Module<Tensor, Tensor>("channel_scatter")
    {
        public override Tensor forward(Tensor x)
        {
            var shape = x.shape.ToArray();
            shape[1] = channels;
            // Made per call: a Tensor field of a module is registered as a buffer, i.e. a state_dict key.
            using var at = tensor(index, device: x.device);
            return zeros(shape, x.dtype, x.device).index_copy_(1, at, x);
        }
    }
}

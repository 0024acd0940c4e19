using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>
/// channel_pad: widens its input to <c>out</c> channels with zeros, <c>offset</c> of them before the input's
/// channels — the parameter-free shortcut of the CIFAR ResNets ("option A", He et al. 2016 §4.2:
/// <c>F.pad(x, (0, 0, 0, 0, planes // 4, planes // 4))</c>; the spatial step is a 1×1 max pool of stride 2).
/// Its input keeps its channels: which of them arrive where is fixed by the offset.
/// </summary>
public sealed class ChannelPadRule : LayerRule
{
    public const string Name = "channel_pad";
    public override string Type => Name;
    public override IReadOnlyList<string> Properties => ["out", "offset"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        var x = inputs[0];
        int offset = s.Offset ?? 0;
        if (offset < 0) throw check.Fail("offset", ": 'offset' must be ≥ 0.");
        if (s.Out is not { } o || o < x[0] + offset)
            throw check.Fail("out", $" needs 'out' ≥ its input's {x[0]} channels + offset {offset}.");
        return [o, .. x.Skip(1)];
    }

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => new PadChannels(n.Spec.Offset ?? 0, n.OutShape[0] - n.InShape[0] - (n.Spec.Offset ?? 0));

    /// <summary>Pad on the channel axis (pads: every axis's begin, then every axis's end), zeros.</summary>
    public override string ToOnnx(OnnxLayer x)
    {
        int rank = x.Node.InShape.Length + 1;
        var pads = new long[2 * rank];
        pads[1] = x.Spec.Offset ?? 0;
        pads[rank + 1] = x.Node.OutShape[0] - x.Node.InShape[0] - pads[1];
        return x.Graph.Node("Pad", [x.Inputs[0], x.Graph.Int64s($"{x.Node.Name}/pads", pads, pads.Length)], x.Output, OnnxGraph.Text("mode", "constant"));
    }

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces)
    {
        string why = $"{n.Name} zero-pads them to {n.OutShape[0]} channels";
        spaces.Fix(inputs[0], why);
        return spaces.Closed(n.OutShape[0], why);
    }

    sealed class PadChannels(long before, long after) : nn.Module<Tensor, Tensor>("channel_pad")
    {
        public override Tensor forward(Tensor x)
        {
            var pad = new long[2 * (x.dim() - 1)];   // (last dim left, right, …, channels before, after)
            pad[^2] = before; pad[^1] = after;
            return nn.functional.pad(x, pad);
        }
    }
}

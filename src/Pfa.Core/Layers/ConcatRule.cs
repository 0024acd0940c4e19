using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>concat: joins two or more tensors along the channels (image inputs of one H×W) or features
/// (vectors), as <c>torch.cat(inputs, 1)</c>. Its output is a mapped space (<see cref="ConcatMap"/>): each
/// input's channels keep their own space, shifted by the channels before them, so every input can still shrink.</summary>
public sealed class ConcatRule : LayerRule
{
    public const string Name = "concat";
    public override string Type => Name;
    public override int MinInputs => 2;
    public override int MaxInputs => int.MaxValue;

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        var first = inputs[0];
        for (int i = 1; i < inputs.Count; i++)
            if (inputs[i].Length != first.Length || !inputs[i].Skip(1).SequenceEqual(first.Skip(1)))
                throw check.Fail("inputs", $" joins tensors of shapes {ShapeCheck.Shape(first)} and {ShapeCheck.Shape(inputs[i])}; all but the channels must match.");
        return [inputs.Sum(x => x[0]), .. first.Skip(1)];
    }

    public override nn.Module<Tensor, Tensor>? CreateModule(LayerNode n) => null;
    public override string ToOnnx(OnnxLayer x) => x.Single("Concat", OnnxGraph.Int("axis", 1));

    public override Tensor Forward(nn.Module<Tensor, Tensor>? module, IReadOnlyList<Tensor> inputs) => cat(inputs.ToList(), 1);

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) =>
        spaces.Mapped(n.OutShape[0], new ConcatMap(inputs, inputs.Select(spaces.ChannelsOf).ToList()), "concatenated channels follow their inputs");
}

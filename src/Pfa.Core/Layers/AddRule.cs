using Pfa.Core.Model;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>add: the element-wise sum of two tensors of one shape (a residual connection). Its inputs' spaces
/// merge into one: every layer writing into the sum keeps or drops the same channels.</summary>
public sealed class AddRule : LayerRule
{
    public override string Type => LayerType.Add;
    public override int MinInputs => 2;
    public override int MaxInputs => 2;

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) => inputs[0].SequenceEqual(inputs[1])
        ? inputs[0]
        : throw check.Fail("inputs", $" adds tensors of different shapes {ShapeCheck.Shape(inputs[0])} and {ShapeCheck.Shape(inputs[1])}.");

    public override nn.Module<Tensor, Tensor>? CreateModule(LayerNode n) => null;
    public override Tensor Forward(nn.Module<Tensor, Tensor>? module, IReadOnlyList<Tensor> inputs) => inputs[0] + inputs[1];
    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) => spaces.Union(inputs[0], inputs[1]);
}

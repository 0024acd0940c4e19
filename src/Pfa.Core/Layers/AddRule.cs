using Pfa.Core.Native;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>
/// add: the element-wise sum of two tensors of one shape (a residual connection). What it does to channels is
/// the model's residual mode (<see cref="ResidualMode"/>, PFA appendix C): projection ties its inputs' spaces into
/// one (every layer writing into the sum keeps the same channels); padding keeps the sum at its width and lets
/// each input shrink on its own, scattered back before the addition.
/// </summary>
public sealed class AddRule : LayerRule
{
    public override string Type => LayerType.Add;
    public override int MinInputs => 2;
    public override int MaxInputs => 2;

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) => inputs[0].SequenceEqual(inputs[1])
        ? inputs[0]
        : throw check.Fail("inputs", $" adds tensors of different shapes {ShapeCheck.Shape(inputs[0])} and {ShapeCheck.Shape(inputs[1])}.");

    public override nn.Module<Tensor, Tensor>? CreateModule(LayerNode n) => null;
    public override string ToOnnx(OnnxLayer x) => x.Single("Add");
    public override Tensor Forward(nn.Module<Tensor, Tensor>? module, IReadOnlyList<Tensor> inputs) => inputs[0].add(inputs[1], KeptScalars.One);

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) => spaces.Residual == ResidualMode.Padding
        ? spaces.Closed(n.OutShape[0], $"the residual sum {n.Name} keeps its width (residual: padding)")
        : spaces.Union(inputs[0], inputs[1]);

    /// <summary>Padding mode (C.2): each shrunk input goes through a channel_scatter back to the sum's width.</summary>
    public override IEnumerable<LayerSpec> Rewrite(LayerNode n, LayerSpec resized, IReadOnlyList<int[]?> keptInputs, ChannelSpaces spaces)
    {
        if (spaces.Residual != ResidualMode.Padding || keptInputs.All(k => k is null)) return [resized];
        var inputs = resized.Inputs!.ToList();
        var layers = new List<LayerSpec>();
        for (int k = 0; k < inputs.Count; k++)
        {
            if (keptInputs[k] is not { } kept) continue;
            var scatter = new LayerSpec { Name = $"{n.Name}_scatter{k}", Type = ChannelScatterRule.Name, Inputs = [inputs[k]], Out = n.OutShape[0], Index = [.. kept] };
            layers.Add(scatter);
            inputs[k] = scatter.Name!;
        }
        layers.Add(resized with { Inputs = inputs });
        return layers;
    }
}

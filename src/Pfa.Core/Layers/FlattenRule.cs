using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>flatten: [C, H, W] → [C·H·W]. The features are a mapped space: channel c owns features c·H·W … (c+1)·H·W − 1
/// (<see cref="FlattenMap"/>). A vector passes through.</summary>
public sealed class FlattenRule : LayerRule
{
    public override string Type => LayerType.Flatten;

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) => [inputs[0].Aggregate(1, (a, b) => a * b)];

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Flatten();

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) => n.InShape.Length == 3
        ? spaces.Mapped(n.OutShape[0], new FlattenMap(inputs[0], n.InShape[1] * n.InShape[2]), "flattened features follow the channels before the flatten")
        : inputs[0];

    public override string ExportNote => "Flatten (start_dim 1)";
    public override string ToOnnx(OnnxLayer x) => x.Single("Flatten", OnnxGraph.Int("axis", 1));
    public override LayerSpec? Describe(string name, nn.Module m) => m is Flatten f && f.start_dim == 1 && f.end_dim == -1 ? new LayerSpec { Name = name, Type = Type } : null;
    public override string? UnsupportedDetail(nn.Module m) => m is Flatten ? " with start_dim other than 1" : null;
}

using Pfa.Core.Model;
using Pfa.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>dropout: identity at inference; the channel space passes through.</summary>
public sealed class DropoutRule : LayerRule
{
    public override string Type => LayerType.Dropout;
    public override IReadOnlyList<string> Properties => ["p"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) =>
        s.P is { } p && !(p >= 0 && p < 1) ? throw check.Fail("p", $": 'p' must be in [0, 1); found {p}.") : inputs[0];

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Dropout(n.Spec.P ?? 0.5);
    public override string ExportNote => "Dropout";
    /// <summary>Inference: the identity.</summary>
    public override string ToOnnx(OnnxLayer x) => x.Single("Identity");
    public override LayerSpec? Describe(string name, nn.Module m) => m is Dropout d ? new LayerSpec { Name = name, Type = Type, P = d.p } : null;
}

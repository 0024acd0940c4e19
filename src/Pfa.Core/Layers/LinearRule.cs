using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>linear: its output features open a space of filters.</summary>
public sealed class LinearRule : LayerRule
{
    public override string Type => LayerType.Linear;
    public override IReadOnlyList<string> Properties => ["out", "bias"];
    public override bool HasFilters => true;

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        check.NeedVector(inputs[0]);
        if (s.Out is not > 0) throw check.Fail("out", " needs 'out' (the number of output features) > 0.");
        return [s.Out.Value];
    }

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Linear(n.InShape[0], n.Spec.Out!.Value, hasBias: n.Spec.Bias ?? true);

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces) => spaces.Open(n, n.OutShape[0]);

    static readonly Dictionary<string, Slice> Slices = new() { ["weight"] = Slice.OutIn, ["bias"] = Slice.Out };
    public override IReadOnlyDictionary<string, Slice> Parameters(LayerNode n) => Slices;

    public override LayerSpec Resize(LayerNode n, int width) => n.Spec with { Out = width };

    public override LayerCost Cost(LayerNode n)
    {
        long weights = (long)n.InShape[0] * n.OutShape[0];
        return new LayerCost(n.Name, n.Type, n.OutShape, weights + ((n.Spec.Bias ?? true) ? n.OutShape[0] : 0), weights);
    }

    public override string ExportNote => "Linear";
    public override string ToOnnx(OnnxLayer x)
    {
        var inputs = new List<string> { x.Inputs[0], x.Parameter("weight")! };
        if (x.Parameter("bias") is { } bias) inputs.Add(bias);
        return x.Graph.Node("Gemm", inputs, x.Output, OnnxGraph.Int("transB", 1));
    }
    public override LayerSpec? Describe(string name, nn.Module m) =>
        m is Linear l ? new LayerSpec { Name = name, Type = Type, Out = (int)l.out_features, Bias = l.bias is null ? false : null } : null;
    public override long? DeclaredInput(nn.Module m) => m is Linear l ? l.in_features : null;
}

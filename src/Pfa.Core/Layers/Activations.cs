using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>Element-wise activations: any input shape, no parameters, the channel space passes through.</summary>
public abstract class ActivationRule : LayerRule
{
    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) => inputs[0];
}

public sealed class ReLURule : ActivationRule
{
    public override string Type => LayerType.ReLU;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.ReLU();
    public override string ExportNote => "ReLU";
    public override string ToOnnx(OnnxLayer x) => x.Single("Relu");
    public override LayerSpec? Describe(string name, nn.Module m) => m is ReLU ? new LayerSpec { Name = name, Type = Type } : null;
}

/// <summary>relu6: min(max(x, 0), 6), MobileNet's activation.</summary>
public sealed class ReLU6Rule : ActivationRule
{
    public override string Type => LayerType.ReLU6;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.ReLU6();
    public override string ExportNote => "ReLU6";
    public override string ToOnnx(OnnxLayer x) =>
        x.Graph.Node("Clip", [x.Inputs[0], x.Graph.Floats($"{x.Node.Name}/min", [0f]), x.Graph.Floats($"{x.Node.Name}/max", [6f])], x.Output);
    public override LayerSpec? Describe(string name, nn.Module m) => m is ReLU6 ? new LayerSpec { Name = name, Type = Type } : null;
}

public sealed class LeakyReLURule : ActivationRule
{
    public override string Type => LayerType.LeakyReLU;
    public override IReadOnlyList<string> Properties => ["negative_slope"];
    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) =>
        s.NegativeSlope is { } v && !double.IsFinite(v) ? throw check.Fail("negative_slope", ": 'negative_slope' must be a finite number.") : inputs[0];
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => new SafeLeakyReLU(n.Spec.NegativeSlope ?? 0.01);
    public override string ExportNote => "LeakyReLU";
    public override string ToOnnx(OnnxLayer x) => x.Single("LeakyRelu", OnnxGraph.Float("alpha", x.Spec.NegativeSlope ?? 0.01));
    public override LayerSpec? Describe(string name, nn.Module m) => m switch
    {
        LeakyReLU r => new LayerSpec { Name = name, Type = Type, NegativeSlope = r.negative_slope },
        SafeLeakyReLU r => new LayerSpec { Name = name, Type = Type, NegativeSlope = r.NegativeSlope },
        _ => null,
    };
}

public sealed class GELURule : ActivationRule
{
    public override string Type => LayerType.GELU;
    public override IReadOnlyList<string> Properties => ["approximate"];
    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check) =>
        s.Approximate is null or "none" or "tanh" ? inputs[0] : throw check.Fail("approximate", ": 'approximate' must be \"none\" or \"tanh\".");
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.GELU(n.Spec.Approximate == "tanh" ? GELU.Approximate.tanh : GELU.Approximate.none);
    public override string ExportNote => "GELU";
    /// <summary>Written with opset-13 operators (Gelu is opset 20): x·Φ(x) = ½x(1 + erf(x/√2)), or the tanh form.</summary>
    public override string ToOnnx(OnnxLayer x)
    {
        var g = x.Graph;
        string C(string what, double v) => g.Floats($"{x.Node.Name}/{what}", [(float)v]);
        string inner;
        if (x.Spec.Approximate == "tanh")
        {
            // tanh(√(2/π)·(x + 0.044715·x³))
            var cube = g.Node("Mul", [g.Node("Mul", [x.Inputs[0], x.Inputs[0]], x.Temp("x2")), x.Inputs[0]], x.Temp("x3"));
            var sum = g.Node("Add", [x.Inputs[0], g.Node("Mul", [cube, C("k", 0.044715)], x.Temp("kx3"))], x.Temp("sum"));
            inner = g.Node("Tanh", [g.Node("Mul", [sum, C("s", Math.Sqrt(2 / Math.PI))], x.Temp("scaled"))], x.Temp("tanh"));
        }
        else inner = g.Node("Erf", [g.Node("Mul", [x.Inputs[0], C("r", 1 / Math.Sqrt(2))], x.Temp("scaled"))], x.Temp("erf"));
        var half = g.Node("Mul", [x.Inputs[0], C("half", 0.5)], x.Temp("half"));
        return g.Node("Mul", [half, g.Node("Add", [inner, C("one", 1)], x.Temp("onep"))], x.Output);
    }
    public override LayerSpec? Describe(string name, nn.Module m) =>
        m is GELU g ? new LayerSpec { Name = name, Type = Type, Approximate = g.approximate == GELU.Approximate.tanh ? "tanh" : null } : null;
}

public sealed class SigmoidRule : ActivationRule
{
    public override string Type => LayerType.Sigmoid;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Sigmoid();
    public override string ExportNote => "Sigmoid";
    public override string ToOnnx(OnnxLayer x) => x.Single("Sigmoid");
    public override LayerSpec? Describe(string name, nn.Module m) => m is Sigmoid ? new LayerSpec { Name = name, Type = Type } : null;
}

public sealed class TanhRule : ActivationRule
{
    public override string Type => LayerType.Tanh;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Tanh();
    public override string ExportNote => "Tanh";
    public override string ToOnnx(OnnxLayer x) => x.Single("Tanh");
    public override LayerSpec? Describe(string name, nn.Module m) => m is Tanh ? new LayerSpec { Name = name, Type = Type } : null;
}

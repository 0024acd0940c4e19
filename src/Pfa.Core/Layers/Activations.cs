using Pfa.Core.Model;
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
    public override LayerSpec? Describe(string name, nn.Module m) => m is ReLU ? new LayerSpec { Name = name, Type = Type } : null;
}

/// <summary>relu6: min(max(x, 0), 6), MobileNet's activation.</summary>
public sealed class ReLU6Rule : ActivationRule
{
    public override string Type => LayerType.ReLU6;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.ReLU6();
    public override string ExportNote => "ReLU6";
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
    public override LayerSpec? Describe(string name, nn.Module m) =>
        m is GELU g ? new LayerSpec { Name = name, Type = Type, Approximate = g.approximate == GELU.Approximate.tanh ? "tanh" : null } : null;
}

public sealed class SigmoidRule : ActivationRule
{
    public override string Type => LayerType.Sigmoid;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Sigmoid();
    public override string ExportNote => "Sigmoid";
    public override LayerSpec? Describe(string name, nn.Module m) => m is Sigmoid ? new LayerSpec { Name = name, Type = Type } : null;
}

public sealed class TanhRule : ActivationRule
{
    public override string Type => LayerType.Tanh;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.Tanh();
    public override string ExportNote => "Tanh";
    public override LayerSpec? Describe(string name, nn.Module m) => m is Tanh ? new LayerSpec { Name = name, Type = Type } : null;
}

using Pfa.Core.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>Max and average pooling: per channel, no parameters; the default stride is the kernel.</summary>
public abstract class PoolRule : LayerRule
{
    public override IReadOnlyList<string> Properties => ["kernel", "stride", "padding"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        var x = inputs[0];
        check.NeedImage(x);
        if (s.Kernel is not { } k || k.H <= 0 || k.W <= 0) throw check.Fail("", " needs a positive 'kernel'.");
        var st = s.Stride ?? k; var p = s.Padding ?? 0;
        if (st.H <= 0 || st.W <= 0) throw check.Fail("stride", ": stride must be positive.");
        if (p.H < 0 || p.W < 0 || 2 * p.H > k.H || 2 * p.W > k.W) throw check.Fail("padding", ": padding must be between 0 and half the kernel.");
        int h = ShapeCheck.Spatial(x[1], k.H, st.H, p.H, 1), w = ShapeCheck.Spatial(x[2], k.W, st.W, p.W, 1);
        if (h <= 0 || w <= 0) throw check.Fail("kernel", $": a {k} window does not fit its {x[1]}x{x[2]} input.");
        return [x[0], h, w];
    }

    protected static (long, long) Kernel(LayerSpec s) => (s.Kernel!.Value.H, s.Kernel.Value.W);
    protected static (long, long) Stride(LayerSpec s) => ((s.Stride ?? s.Kernel!.Value).H, (s.Stride ?? s.Kernel!.Value).W);
    protected static (long, long) Padding(LayerSpec s) => ((s.Padding ?? 0).H, (s.Padding ?? 0).W);
    public override string? UnsupportedDetail(nn.Module m) => m is MaxPool2d or AvgPool2d ? " with ceil_mode or another non-default option" : null;
}

public sealed class MaxPool2dRule : PoolRule
{
    public override string Type => LayerType.MaxPool2d;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.MaxPool2d(kernel_size: Kernel(n.Spec), stride: Stride(n.Spec), padding: Padding(n.Spec));
    public override string ExportNote => "MaxPool2d (no ceil_mode)";
    public override LayerSpec? Describe(string name, nn.Module m) => m is MaxPool2d p && !p.ceil_mode && (p.dilation is null || p.dilation.All(v => v == 1))
        ? new LayerSpec
        {
            Name = name, Type = Type, Kernel = Export.Pair(p.kernel_size, 1),
            Stride = p.stride is null || p.stride.SequenceEqual(p.kernel_size) ? null : Export.Pair(p.stride, 1), Padding = Export.Optional(Export.Pair(p.padding, 0), 0),
        }
        : null;
}

public sealed class AvgPool2dRule : PoolRule
{
    public override string Type => LayerType.AvgPool2d;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.AvgPool2d(kernel_size: Kernel(n.Spec), stride: Stride(n.Spec), padding: Padding(n.Spec));
    public override string ExportNote => "AvgPool2d (no ceil_mode)";
    public override LayerSpec? Describe(string name, nn.Module m) => m is AvgPool2d p && !p.ceil_mode && p.count_include_pad && p.divisor_override is null
        ? new LayerSpec
        {
            Name = name, Type = Type, Kernel = Export.Pair(p.kernel_size, 1),
            Stride = p.stride is null || p.stride.Length == 0 || p.stride.SequenceEqual(p.kernel_size) ? null : Export.Pair(p.stride, 1),
            Padding = p.padding is null || p.padding.Length == 0 ? null : Export.Optional(Export.Pair(p.padding, 0), 0),
        }
        : null;
}

/// <summary>adaptive_avgpool2d: per channel, to a fixed output size.</summary>
public sealed class AdaptiveAvgPool2dRule : LayerRule
{
    public override string Type => LayerType.AdaptiveAvgPool2d;
    public override IReadOnlyList<string> Properties => ["output_size"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        check.NeedImage(inputs[0]);
        if (s.OutputSize is not { } o || o.H <= 0 || o.W <= 0) throw check.Fail("output_size", " needs a positive 'output_size'.");
        return [inputs[0][0], o.H, o.W];
    }

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.AdaptiveAvgPool2d((n.Spec.OutputSize!.Value.H, n.Spec.OutputSize.Value.W));
    public override string ExportNote => "AdaptiveAvgPool2d";
    public override LayerSpec? Describe(string name, nn.Module m) =>
        m is AdaptiveAvgPool2d a ? new LayerSpec { Name = name, Type = Type, OutputSize = Export.Pair(a.output_size, 1) } : null;
}

using Pfa.Core.Model;
using Pfa.Core.Onnx;
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

    protected static global::Onnx.AttributeProto[] Window(LayerSpec s)
    {
        var (kh, kw) = Kernel(s); var (sh, sw) = Stride(s); var (ph, pw) = Padding(s);
        return [OnnxGraph.Ints("kernel_shape", kh, kw), OnnxGraph.Ints("strides", sh, sw), OnnxGraph.Ints("pads", ph, pw, ph, pw)];
    }
    public override string? UnsupportedDetail(nn.Module m) => m is MaxPool2d or AvgPool2d ? " with ceil_mode or another non-default option" : null;
}

public sealed class MaxPool2dRule : PoolRule
{
    public override string Type => LayerType.MaxPool2d;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => nn.MaxPool2d(kernel_size: Kernel(n.Spec), stride: Stride(n.Spec), padding: Padding(n.Spec));
    public override string ExportNote => "MaxPool2d (no ceil_mode)";
    public override string ToOnnx(OnnxLayer x) => x.Single("MaxPool", Window(x.Spec));
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
    /// <summary>PyTorch's default count_include_pad = true.</summary>
    public override string ToOnnx(OnnxLayer x) => x.Single("AveragePool", [.. Window(x.Spec), OnnxGraph.Int("count_include_pad", 1)]);
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

    /// <summary>PyTorch's windows: output cell i of n over a size-s axis averages [⌊i·s/n⌋, ⌈(i+1)·s/n⌉). 1×1 is a
    /// global average; equal windows (s divisible by n) an AveragePool; otherwise, since a window is a rectangle,
    /// one mean per row window then one per column window, concatenated.</summary>
    public override string ToOnnx(OnnxLayer x)
    {
        var (h, w) = (x.Node.InShape[1], x.Node.InShape[2]);
        var (oh, ow) = (x.Spec.OutputSize!.Value.H, x.Spec.OutputSize.Value.W);
        if (oh == 1 && ow == 1) return x.Single("GlobalAveragePool");
        if (h % oh == 0 && w % ow == 0)
            return x.Single("AveragePool", OnnxGraph.Ints("kernel_shape", h / oh, w / ow), OnnxGraph.Ints("strides", h / oh, w / ow));
        var rows = Windows(x, x.Inputs[0], axis: 2, h, oh, "rows");
        return Windows(x, rows, axis: 3, w, ow, "cols", x.Output);
    }

    static string Windows(OnnxLayer x, string input, int axis, int size, int n, string what, string? output = null)
    {
        var g = x.Graph;
        var parts = new List<string>();
        for (int i = 0; i < n; i++)
        {
            long start = (long)i * size / n, end = ((long)(i + 1) * size + n - 1) / n;
            var slice = g.Node("Slice", [input, g.Int64s($"{x.Node.Name}/{what}{i}_start", [start], 1), g.Int64s($"{x.Node.Name}/{what}{i}_end", [end], 1),
                g.Int64s($"{x.Node.Name}/{what}{i}_axis", [axis], 1)], x.Temp($"{what}{i}"));
            parts.Add(g.Node("ReduceMean", [slice], x.Temp($"{what}{i}_mean"), OnnxGraph.Ints("axes", axis), OnnxGraph.Int("keepdims", 1)));
        }
        return g.Node("Concat", parts, output ?? x.Temp(what), OnnxGraph.Int("axis", axis));
    }
    public override LayerSpec? Describe(string name, nn.Module m) =>
        m is AdaptiveAvgPool2d a ? new LayerSpec { Name = name, Type = Type, OutputSize = Export.Pair(a.output_size, 1) } : null;
}

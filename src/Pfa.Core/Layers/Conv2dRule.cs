using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>
/// conv2d. Dense (groups = 1): opens a space of filters. Depthwise (groups = in = out): acts per channel, so it
/// passes its input's space on and follows it. Other grouped convs are pruned per group: their input space keeps
/// whole groups, and output group j stays exactly when input group j does (<see cref="GroupMap"/>).
/// </summary>
public sealed class Conv2dRule : LayerRule
{
    public override string Type => LayerType.Conv2d;
    public override IReadOnlyList<string> Properties => ["out", "kernel", "stride", "padding", "dilation", "groups", "bias"];
    public override bool HasFilters => true;

    /// <summary>A conv whose every group is one input channel producing one output channel.</summary>
    public static bool IsDepthwise(LayerNode n) =>
        n.Type == LayerType.Conv2d && (n.Spec.Groups ?? 1) > 1 && n.Spec.Groups == n.InShape[0] && n.OutShape[0] == n.InShape[0];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        var x = inputs[0];
        check.NeedImage(x);
        if (s.Out is not > 0) throw check.Fail("out", " needs 'out' (the number of filters) > 0.");
        if (s.Kernel is not { } k) throw check.Fail("", " needs 'kernel'.");
        var st = s.Stride ?? 1; var p = s.Padding ?? 0; var dl = s.Dilation ?? 1; int g = s.Groups ?? 1;
        if (k.H <= 0 || k.W <= 0 || st.H <= 0 || st.W <= 0 || dl.H <= 0 || dl.W <= 0 || p.H < 0 || p.W < 0)
            throw check.Fail("", ": kernel, stride and dilation must be positive and padding non-negative.");
        if (g <= 0 || x[0] % g != 0 || s.Out.Value % g != 0)
            throw check.Fail("groups", $": groups = {g} must divide both the input channels ({x[0]}) and 'out' ({s.Out}).");
        int h = ShapeCheck.Spatial(x[1], k.H, st.H, p.H, dl.H), w = ShapeCheck.Spatial(x[2], k.W, st.W, p.W, dl.W);
        if (h <= 0 || w <= 0) throw check.Fail("kernel", $": a {k} kernel does not fit its {x[1]}x{x[2]} input.");
        return [s.Out.Value, h, w];
    }

    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n)
    {
        var s = n.Spec;
        return nn.Conv2d(n.InShape[0], s.Out!.Value,
            kernel_size: (s.Kernel!.Value.H, s.Kernel.Value.W),
            stride: ((s.Stride ?? 1).H, (s.Stride ?? 1).W),
            padding: ((s.Padding ?? 0).H, (s.Padding ?? 0).W),
            dilation: ((s.Dilation ?? 1).H, (s.Dilation ?? 1).W),
            groups: s.Groups ?? 1, bias: s.Bias ?? true);
    }

    /// <summary>On the convolution path that is right for this layer and shape (<see cref="Native.ConvolutionRouting"/>).</summary>
    public override Tensor Forward(nn.Module<Tensor, Tensor>? module, IReadOnlyList<Tensor> inputs) => Native.ConvolutionRouting.Forward(module!, inputs[0]);

    public override int Channels(LayerNode n, IReadOnlyList<int> inputs, SpaceBuilder spaces)
    {
        if (IsDepthwise(n)) return inputs[0];
        int g = n.Spec.Groups ?? 1;
        if (g == 1) return spaces.Open(n, n.OutShape[0]);
        int inPer = n.InShape[0] / g, outPer = n.OutShape[0] / g;
        spaces.Group(inputs[0], inPer);
        return spaces.Mapped(n.OutShape[0], new GroupMap(inputs[0], inPer, outPer), $"{n.Name}'s groups follow its input's");
    }

    public override IReadOnlyDictionary<string, Slice> Parameters(LayerNode n) => new Dictionary<string, Slice>
    {
        // A grouped conv keeps whole groups: its per-group input dimension never changes.
        ["weight"] = (n.Spec.Groups ?? 1) > 1 ? Slice.Out : Slice.OutIn,
        ["bias"] = Slice.Out,
    };

    public override LayerSpec Resize(LayerNode n, int width) => (n.Spec.Groups ?? 1) > 1
        ? n.Spec with { Out = width, Groups = width / (n.OutShape[0] / n.Spec.Groups!.Value) }   // whole groups of out/groups
        : n.Spec with { Out = width };

    public override LayerCost Cost(LayerNode n)
    {
        var s = n.Spec;
        long cin = n.InShape[0], cout = n.OutShape[0], g = s.Groups ?? 1;
        long kernel = (long)s.Kernel!.Value.H * s.Kernel.Value.W;
        long weights = cout * (cin / g) * kernel;
        return new LayerCost(n.Name, n.Type, n.OutShape, weights + ((s.Bias ?? true) ? cout : 0), weights * n.OutShape[1] * n.OutShape[2]);
    }

    public override string ExportNote => "Conv2d (zero padding)";
    public override string ToOnnx(OnnxLayer x)
    {
        var s = x.Spec;
        var k = s.Kernel!.Value; var st = s.Stride ?? 1; var p = s.Padding ?? 0; var d = s.Dilation ?? 1;
        var inputs = new List<string> { x.Inputs[0], x.Parameter("weight")! };
        if (x.Parameter("bias") is { } bias) inputs.Add(bias);
        return x.Graph.Node("Conv", inputs, x.Output, OnnxGraph.Ints("kernel_shape", k.H, k.W), OnnxGraph.Ints("strides", st.H, st.W),
            OnnxGraph.Ints("pads", p.H, p.W, p.H, p.W), OnnxGraph.Ints("dilations", d.H, d.W), OnnxGraph.Int("group", s.Groups ?? 1));
    }

    public override LayerSpec? Describe(string name, nn.Module m) => m is Conv2d c && c.padding_type is null && c.padding_mode == PaddingModes.Zeros
        ? new LayerSpec
        {
            Name = name, Type = Type, Out = (int)c.out_channels,
            Kernel = Export.Pair(c.kernel_size, 1), Stride = Export.Optional(Export.Pair(c.stride, 1), 1), Padding = Export.Optional(Export.Pair(c.padding, 0), 0),
            Dilation = Export.Optional(Export.Pair(c.dilation, 1), 1), Groups = c.groups == 1 ? null : (int)c.groups,
            Bias = c.bias is null ? false : null,
        }
        : null;

    public override string? UnsupportedDetail(nn.Module m) => m is Conv2d ? " with a non-zero padding mode or string padding" : null;

    public override long? DeclaredInput(nn.Module m) => m is Conv2d c ? c.in_channels : null;
}

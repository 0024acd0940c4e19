using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>Batch norm: per channel — it passes its input's space on and every vector it holds follows it.</summary>
public abstract class BatchNormRule : LayerRule
{
    protected abstract bool Image { get; }
    public override IReadOnlyList<string> Properties => ["eps", "momentum"];

    public override int[] OutShape(LayerSpec s, IReadOnlyList<int[]> inputs, ShapeCheck check)
    {
        if (Image) check.NeedImage(inputs[0]); else check.NeedVector(inputs[0]);
        if (s.Eps is { } eps && !(eps > 0 && double.IsFinite(eps)))
            throw check.Fail("eps", $": 'eps' must be a positive number (PyTorch's default is 1e-5); found {eps.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        if (s.Momentum is { } m && !(m >= 0 && m <= 1))
            throw check.Fail("momentum", $": 'momentum' must be between 0 and 1 (PyTorch's default is 0.1); found {m.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        return inputs[0];
    }

    static readonly Dictionary<string, Slice> Slices = new()
    {
        ["weight"] = Slice.Out, ["bias"] = Slice.Out, ["running_mean"] = Slice.Out, ["running_var"] = Slice.Out, ["num_batches_tracked"] = Slice.Whole,
    };
    public override IReadOnlyDictionary<string, Slice> Parameters(LayerNode n) => Slices;

    /// <summary>Inference form: the running statistics (ONNX BatchNormalization takes [N, C] and [N, C, H, W]).</summary>
    public override string ToOnnx(OnnxLayer x) =>
        x.Graph.Node("BatchNormalization", [x.Inputs[0], x.Parameter("weight")!, x.Parameter("bias")!, x.Parameter("running_mean")!, x.Parameter("running_var")!],
            x.Output, OnnxGraph.Float("epsilon", x.Spec.Eps ?? 1e-5));

    /// <summary>Scale and shift are trainable; running statistics are buffers (PFA appendix B counts trainable variables).</summary>
    public override LayerCost Cost(LayerNode n) => new(n.Name, n.Type, n.OutShape, 2L * n.InShape[0], 0);

    public override string? UnsupportedDetail(nn.Module m) => m is BatchNorm ? " without affine parameters or running statistics" : null;
    public override long? DeclaredInput(nn.Module m) => m is BatchNorm b ? b.num_features : null;

    protected LayerSpec Spec(string name, BatchNorm b) =>
        new() { Name = name, Type = Type, Eps = b.eps == 1e-5 ? null : b.eps, Momentum = b.momentum is null or 0.1 ? null : b.momentum };
}

public sealed class BatchNorm2dRule : BatchNormRule
{
    public override string Type => LayerType.BatchNorm2d;
    protected override bool Image => true;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => SafeBatchNorm.BatchNorm2d(n.InShape[0], n.Spec.Eps ?? 1e-5, n.Spec.Momentum ?? 0.1);
    public override string ExportNote => "BatchNorm2d (affine, running stats)";
    public override LayerSpec? Describe(string name, nn.Module m) => m is BatchNorm2d or SafeBatchNorm { Image: true } && m is BatchNorm b && b.affine && b.track_running_stats ? Spec(name, b) : null;
}

public sealed class BatchNorm1dRule : BatchNormRule
{
    public override string Type => LayerType.BatchNorm1d;
    protected override bool Image => false;
    public override nn.Module<Tensor, Tensor> CreateModule(LayerNode n) => SafeBatchNorm.BatchNorm1d(n.InShape[0], n.Spec.Eps ?? 1e-5, n.Spec.Momentum ?? 0.1);
    public override string ExportNote => "BatchNorm1d (affine, running stats)";
    public override LayerSpec? Describe(string name, nn.Module m) => m is BatchNorm1d or SafeBatchNorm { Image: false } && m is BatchNorm b && b.affine && b.track_running_stats ? Spec(name, b) : null;
}

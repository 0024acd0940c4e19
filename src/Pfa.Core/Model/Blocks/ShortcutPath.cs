using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Blocks;

/// <summary>The shortcut of a block whose output differs from its input in width or resolution.</summary>
static class ShortcutPath
{
    /// <summary>torchvision's downsample: 1×1 conv without bias, then batch norm (none for pre-activation blocks).</summary>
    public static Sequential Projection(int inPlanes, int outPlanes, int stride, bool batchNorm) => batchNorm
        ? nn.Sequential(("0", nn.Conv2d(inPlanes, outPlanes, 1, stride: stride, bias: false)), ("1", SafeBatchNorm.BatchNorm2d(outPlanes)))
        : nn.Sequential(("0", nn.Conv2d(inPlanes, outPlanes, 1, stride: stride, bias: false)));

    /// <summary>Option A: x[:, :, ::s, ::s] padded with (out − in)/2 zero channels before (the rest after).</summary>
    public static Tensor Pad(Tensor x, int outPlanes, int stride)
    {
        var sub = stride == 1 ? x : x[.., .., TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
        long before = PadBefore((int)x.shape[1], outPlanes), after = outPlanes - x.shape[1] - before;
        return nn.functional.pad(sub, [0, 0, 0, 0, before, after]);
    }

    public static int PadBefore(int inPlanes, int outPlanes) => (outPlanes - inPlanes) / 2;

    /// <summary>The description of option A reading <paramref name="input"/>: a strided 1×1 max pool (when s > 1), then channel_pad.</summary>
    static IEnumerable<LayerSpec> DescribePad(string prefix, string input, int inPlanes, int outPlanes, int stride)
    {
        string last = input;
        if (stride > 1)
        {
            yield return new LayerSpec { Name = $"{prefix}.shortcut_pool", Type = LayerType.MaxPool2d, Inputs = [input], Kernel = 1, Stride = stride };
            last = $"{prefix}.shortcut_pool";
        }
        yield return new LayerSpec { Name = $"{prefix}.shortcut_pad", Type = Layers.ChannelPadRule.Name, Inputs = [last], Out = outPlanes, Offset = PadBefore(inPlanes, outPlanes) };
    }

    /// <summary>The shortcut's output: the projection of <paramref name="projectionInput"/>, option A of
    /// <paramref name="x"/>, or <paramref name="x"/> itself (identity).</summary>
    public static Tensor Forward(Tensor x, Tensor projectionInput, Sequential? downsample, bool pad, int outPlanes, int stride) =>
        downsample is not null ? downsample.call(projectionInput) : pad ? Pad(x, outPlanes, stride) : x;

    /// <summary>Adds the shortcut's layers to <paramref name="layers"/> and returns the name of its output: the
    /// projection reads <paramref name="projectionInput"/>, option A and the identity read <paramref name="input"/>.</summary>
    public static string DescribeInto(List<LayerSpec> layers, string prefix, string input, string projectionInput, Sequential? downsample, bool pad,
        int inPlanes, int outPlanes, int stride, Func<string, nn.Module, LayerSpec> describe)
    {
        if (downsample is not null) layers.AddRange(DescribeProjection(prefix, projectionInput, downsample, describe));
        else if (pad) layers.AddRange(DescribePad(prefix, input, inPlanes, outPlanes, stride));
        else return input;
        return layers[^1].Name!;
    }

    /// <summary>The description of a projection Sequential reading <paramref name="input"/>.</summary>
    static IEnumerable<LayerSpec> DescribeProjection(string prefix, string input, Sequential downsample, Func<string, nn.Module, LayerSpec> describe)
    {
        bool first = true;
        foreach (var (name, m) in downsample.named_children())
        {
            var spec = describe($"{prefix}.downsample.{name}", m);
            yield return first ? spec with { Inputs = [input] } : spec;
            first = false;
        }
    }
}

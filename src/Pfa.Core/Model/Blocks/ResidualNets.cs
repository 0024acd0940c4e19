using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Blocks;

/// <summary>The shape of a ResNet: block kind, blocks and width per stage, stem, shortcut, activation order.</summary>
public sealed record ResNetOptions
{
    /// <summary>CIFAR ResNets (He et al. §4.2): depth 6n + 2 (20, 32, 44, 56, 110): basic blocks, n per stage, widths
    /// 16/32/64, a 3×3 stem. torchvision: 18, 34 (basic), 50, 101, 152 (bottleneck), widths 64…512, a 7×7 stride-2
    /// stem and a max pool.</summary>
    public int Depth { get; init; } = 20;
    /// <summary>Where width or resolution changes (identity elsewhere).</summary>
    public Shortcut Shortcut { get; init; } = Shortcut.Projection;
    /// <summary>Pre-activation basic blocks (He et al. 2016b); CIFAR depths only.</summary>
    public bool PreActivation { get; init; }
    public int InChannels { get; init; } = 3;
    public int Classes { get; init; } = 10;
    /// <summary>Width of the first stage (16 for CIFAR, 64 for torchvision); later stages double it.</summary>
    public int? Width { get; init; }
}

/// <summary>
/// Residual networks built from <see cref="IPfaBlock"/> blocks, as TorchSharp Sequentials whose state_dict keys
/// are the ones PyTorch writes for the same network (torchvision's names: conv1, bn1, layer1.0.conv1, …,
/// layer2.0.downsample.0, fc): train one in TorchSharp and export it with <see cref="PfaModel.Export(Sequential,
/// Data.Dataset, string, string, string?)"/>, or describe one to load a PyTorch state_dict saved as safetensors.
/// </summary>
public static class ResidualNets
{
    public static Sequential ResNet(ResNetOptions o)
    {
        bool cifar = (o.Depth - 2) % 6 == 0 && o.Depth is not (18 or 34 or 50 or 101 or 152);
        (bool bottleneck, int[] blocks) = cifar ? (false, Enumerable.Repeat((o.Depth - 2) / 6, 3).ToArray()) : o.Depth switch
        {
            18 => (false, new[] { 2, 2, 2, 2 }),
            34 => (false, [3, 4, 6, 3]),
            50 => (true, [3, 4, 6, 3]),
            101 => (true, [3, 4, 23, 3]),
            152 => (true, [3, 8, 36, 3]),
            _ => throw new ArgumentException($"ResNet depth {o.Depth}: expected 6n + 2 (CIFAR: 20, 32, 44, 56, 110) or 18, 34, 50, 101, 152 (torchvision)."),
        };
        if (o.PreActivation && (!cifar)) throw new ArgumentException("pre-activation ResNets are built for the CIFAR depths (6n + 2).");
        int width = o.Width ?? (cifar ? 16 : 64);
        // Bounds before any weight is allocated: a typo (--width 100000) would otherwise ask libtorch for hundreds of GB.
        if (cifar && o.Depth > 1202) throw new ArgumentException($"ResNet depth {o.Depth}: the CIFAR depths go up to 1202 (He et al.'s deepest).");
        if (cifar && o.Depth < 8) throw new ArgumentException($"ResNet depth {o.Depth}: a CIFAR ResNet needs at least one block per stage (depth 8 or more).");
        if (width is < 1 or > 1024) throw new ArgumentException($"ResNet width {width}: the first stage's width must be from 1 to 1024.");
        if (o.InChannels is < 1 or > 1024) throw new ArgumentException($"ResNet input channels {o.InChannels}: must be from 1 to 1024.");
        if (o.Classes is < 1 or > 100_000) throw new ArgumentException($"ResNet classes {o.Classes}: must be from 1 to 100000.");
        var children = new List<(string, nn.Module<Tensor, Tensor>)>();
        if (cifar) children.Add(("conv1", nn.Conv2d(o.InChannels, width, 3, padding: 1, bias: false)));
        else children.Add(("conv1", nn.Conv2d(o.InChannels, width, 7, stride: 2, padding: 3, bias: false)));
        if (!o.PreActivation)
        {
            children.Add(("bn1", SafeBatchNorm.BatchNorm2d(width)));
            children.Add(("relu", nn.ReLU()));
        }
        if (!cifar) children.Add(("maxpool", nn.MaxPool2d(3, stride: 2, padding: 1)));
        int inPlanes = width;
        for (int stage = 0; stage < blocks.Length; stage++)
        {
            int planes = width << stage;
            var stageBlocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int b = 0; b < blocks[stage]; b++)
            {
                int stride = b == 0 && stage > 0 ? 2 : 1;
                nn.Module<Tensor, Tensor> block = bottleneck
                    ? new Bottleneck(inPlanes, planes, stride, o.Shortcut)
                    : new BasicBlock(inPlanes, planes, stride, o.Shortcut, o.PreActivation);
                stageBlocks.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
                inPlanes = bottleneck ? planes * Bottleneck.Expansion : planes;
            }
            children.Add(($"layer{stage + 1}", nn.Sequential(stageBlocks)));
        }
        if (o.PreActivation)
        {
            children.Add(("bn", SafeBatchNorm.BatchNorm2d(inPlanes)));
            children.Add(("relu", nn.ReLU()));
        }
        children.Add(("avgpool", nn.AdaptiveAvgPool2d(1)));
        children.Add(("flatten", nn.Flatten()));
        children.Add(("fc", nn.Linear(inPlanes, o.Classes)));
        return nn.Sequential(children);
    }

    /// <summary>A small MobileNetV2-style network for small images: a 3×3 stem, inverted residual blocks
    /// (expansion t, width c, repeats n, first stride s), a 1×1 head conv, average pool and a linear classifier.</summary>
    public static Sequential MobileNet(int inChannels = 1, int classes = 10, int stem = 16, int head = 128,
        (int T, int C, int N, int S)[]? settings = null)
    {
        settings ??= [(1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 1)];
        if (inChannels is < 1 or > 1024) throw new ArgumentException($"MobileNet input channels {inChannels}: must be from 1 to 1024.");
        if (classes is < 1 or > 100_000) throw new ArgumentException($"MobileNet classes {classes}: must be from 1 to 100000.");
        var children = new List<(string, nn.Module<Tensor, Tensor>)>
        {
            ("stem", nn.Conv2d(inChannels, stem, 3, padding: 1, bias: false)), ("stem_bn", SafeBatchNorm.BatchNorm2d(stem)), ("stem_relu", nn.ReLU6()),
        };
        var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
        int inPlanes = stem;
        foreach (var (t, c, n, s) in settings)
            for (int i = 0; i < n; i++)
            {
                blocks.Add((blocks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), new InvertedResidual(inPlanes, c, i == 0 ? s : 1, t)));
                inPlanes = c;
            }
        children.Add(("features", nn.Sequential(blocks)));
        children.Add(("head", nn.Conv2d(inPlanes, head, 1, bias: false)));
        children.Add(("head_bn", SafeBatchNorm.BatchNorm2d(head)));
        children.Add(("head_relu", nn.ReLU6()));
        children.Add(("avgpool", nn.AdaptiveAvgPool2d(1)));
        children.Add(("flatten", nn.Flatten()));
        children.Add(("classifier", nn.Linear(head, classes)));
        return nn.Sequential(children);
    }
}

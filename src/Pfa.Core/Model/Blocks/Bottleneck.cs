using Pfa.Core.Native;
using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Blocks;

/// <summary>
/// ResNet's bottleneck block as torchvision builds it (ResNet-50 v1.5: the stride on the 3×3 conv):
/// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)), output width planes·4.
/// </summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>, IPfaBlock
{
    public const int Expansion = 4;
    readonly Conv2d conv1, conv2, conv3;
    readonly SafeBatchNorm bn1, bn2, bn3;
    readonly Sequential? downsample;
    readonly int _in, _out, _stride;
    readonly bool _pad;

    public Bottleneck(int inPlanes, int planes, int stride = 1, Shortcut shortcut = Shortcut.Projection) : base("Bottleneck")
    {
        (_in, _out, _stride) = (inPlanes, planes * Expansion, stride);
        conv1 = nn.Conv2d(inPlanes, planes, 1, bias: false);
        bn1 = SafeBatchNorm.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = SafeBatchNorm.BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, _out, 1, bias: false);
        bn3 = SafeBatchNorm.BatchNorm2d(_out);
        bool changes = stride != 1 || inPlanes != _out;
        _pad = changes && shortcut == Shortcut.Padding;
        if (changes && shortcut == Shortcut.Projection) downsample = ShortcutPath.Projection(inPlanes, _out, stride, batchNorm: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.relu(bn1.call(conv1.call(x)));
        y = nn.functional.relu(bn2.call(conv2.call(y)));
        y = bn3.call(conv3.call(y));
        var s = ShortcutPath.Forward(x, x, downsample, _pad, _out, _stride);
        return nn.functional.relu(y.add(s, KeptScalars.One)).MoveToOuterDisposeScope();
    }

    public IEnumerable<LayerSpec> Describe(string p, string input, Func<string, nn.Module, LayerSpec> describe)
    {
        var layers = new List<LayerSpec>
        {
            describe($"{p}.conv1", conv1) with { Inputs = [input] }, describe($"{p}.bn1", bn1), new() { Name = $"{p}.relu1", Type = LayerType.ReLU },
            describe($"{p}.conv2", conv2), describe($"{p}.bn2", bn2), new() { Name = $"{p}.relu2", Type = LayerType.ReLU },
            describe($"{p}.conv3", conv3), describe($"{p}.bn3", bn3),
        };
        string shortcut = ShortcutPath.DescribeInto(layers, p, input, input, downsample, _pad, _in, _out, _stride, describe);
        layers.Add(new LayerSpec { Name = $"{p}.add", Type = LayerType.Add, Inputs = [$"{p}.bn3", shortcut] });
        layers.Add(new LayerSpec { Name = $"{p}.relu", Type = LayerType.ReLU });
        return layers;
    }
}

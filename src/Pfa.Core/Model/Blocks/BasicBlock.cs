using Pfa.Core.Native;
using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Blocks;

/// <summary>
/// ResNet's basic block (He et al. 2016): two 3×3 convs. Post-activation (the original, torchvision's):
/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). Pre-activation (He et al. 2016b, "full pre-activation"):
/// conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut, where a projection reads relu(bn1(x)). The shortcut is the
/// identity when width and resolution stay, else <see cref="Shortcut"/>. Submodule names are torchvision's
/// (conv1, bn1, conv2, bn2, downsample.0/1), so a PyTorch state_dict's keys match.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>, IPfaBlock
{
    readonly Conv2d conv1, conv2;
    readonly SafeBatchNorm bn1, bn2;
    readonly Sequential? downsample;
    readonly int _in, _out, _stride;
    readonly bool _pad, _pre;

    public BasicBlock(int inPlanes, int planes, int stride = 1, Shortcut shortcut = Shortcut.Projection, bool preActivation = false) : base("BasicBlock")
    {
        (_in, _out, _stride, _pre) = (inPlanes, planes, stride, preActivation);
        bn1 = SafeBatchNorm.BatchNorm2d(preActivation ? inPlanes : planes);
        conv1 = nn.Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = SafeBatchNorm.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, padding: 1, bias: false);
        bool changes = stride != 1 || inPlanes != planes;
        _pad = changes && shortcut == Shortcut.Padding;
        if (changes && shortcut == Shortcut.Projection) downsample = ShortcutPath.Projection(inPlanes, planes, stride, batchNorm: !preActivation);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (_pre)
        {
            var a = nn.functional.relu(bn1.call(x));
            var s = ShortcutPath.Forward(x, a, downsample, _pad, _out, _stride);
            y = conv2.call(nn.functional.relu(bn2.call(conv1.call(a)))).add(s, KeptScalars.One);
        }
        else
        {
            var s = ShortcutPath.Forward(x, x, downsample, _pad, _out, _stride);
            y = nn.functional.relu(bn2.call(conv2.call(nn.functional.relu(bn1.call(conv1.call(x))))).add(s, KeptScalars.One));
        }
        return y.MoveToOuterDisposeScope();
    }

    public IEnumerable<LayerSpec> Describe(string p, string input, Func<string, nn.Module, LayerSpec> describe)
    {
        var layers = new List<LayerSpec>();
        if (_pre)
        {
            layers.Add(describe($"{p}.bn1", bn1) with { Inputs = [input] });
            layers.Add(new LayerSpec { Name = $"{p}.relu1", Type = LayerType.ReLU });
            layers.Add(describe($"{p}.conv1", conv1));
            layers.Add(describe($"{p}.bn2", bn2));
            layers.Add(new LayerSpec { Name = $"{p}.relu2", Type = LayerType.ReLU });
            layers.Add(describe($"{p}.conv2", conv2));
        }
        else
        {
            layers.Add(describe($"{p}.conv1", conv1) with { Inputs = [input] });
            layers.Add(describe($"{p}.bn1", bn1));
            layers.Add(new LayerSpec { Name = $"{p}.relu1", Type = LayerType.ReLU });
            layers.Add(describe($"{p}.conv2", conv2));
            layers.Add(describe($"{p}.bn2", bn2));
        }
        string branch = layers[^1].Name!;
        string shortcut = ShortcutPath.DescribeInto(layers, p, input, _pre ? $"{p}.relu1" : input, downsample, _pad, _in, _out, _stride, describe);
        layers.Add(new LayerSpec { Name = $"{p}.add", Type = LayerType.Add, Inputs = [branch, shortcut] });
        if (!_pre) layers.Add(new LayerSpec { Name = $"{p}.relu", Type = LayerType.ReLU });
        return layers;
    }
}

using Pfa.Core.Native;
using Pfa.Core.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Blocks;

/// <summary>
/// MobileNetV2's inverted residual (Sandler et al. 2018): a 1×1 expansion to in·t channels (omitted when t = 1),
/// a 3×3 depthwise conv (stride s), a linear 1×1 projection; batch norm after each, ReLU6 after the first two;
/// x + block(x) when s = 1 and the width stays. The depthwise conv follows the expansion's channels, so pruning
/// the expansion shrinks both.
/// </summary>
public sealed class InvertedResidual : nn.Module<Tensor, Tensor>, IPfaBlock
{
    readonly Conv2d? expand;
    readonly SafeBatchNorm? expand_bn;
    readonly Conv2d dw, project;
    readonly SafeBatchNorm dw_bn, project_bn;
    readonly bool _residual;

    public InvertedResidual(int inPlanes, int outPlanes, int stride = 1, int expandRatio = 6) : base("InvertedResidual")
    {
        int hidden = inPlanes * expandRatio;
        if (expandRatio != 1)
        {
            expand = nn.Conv2d(inPlanes, hidden, 1, bias: false);
            expand_bn = SafeBatchNorm.BatchNorm2d(hidden);
        }
        dw = nn.Conv2d(hidden, hidden, 3, stride: stride, padding: 1, groups: hidden, bias: false);
        dw_bn = SafeBatchNorm.BatchNorm2d(hidden);
        project = nn.Conv2d(hidden, outPlanes, 1, bias: false);
        project_bn = SafeBatchNorm.BatchNorm2d(outPlanes);
        _residual = stride == 1 && inPlanes == outPlanes;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = expand is null ? x : nn.functional.relu6(expand_bn!.call(expand.call(x)));
        y = nn.functional.relu6(dw_bn.call(dw.call(y)));
        y = project_bn.call(project.call(y));
        return (_residual ? x.add(y, KeptScalars.One) : y).MoveToOuterDisposeScope();
    }

    public IEnumerable<LayerSpec> Describe(string p, string input, Func<string, nn.Module, LayerSpec> describe)
    {
        var layers = new List<LayerSpec>();
        if (expand is not null)
        {
            layers.Add(describe($"{p}.expand", expand) with { Inputs = [input] });
            layers.Add(describe($"{p}.expand_bn", expand_bn!));
            layers.Add(new LayerSpec { Name = $"{p}.expand_relu", Type = LayerType.ReLU6 });
            layers.Add(describe($"{p}.dw", dw));
        }
        else layers.Add(describe($"{p}.dw", dw) with { Inputs = [input] });
        layers.Add(describe($"{p}.dw_bn", dw_bn));
        layers.Add(new LayerSpec { Name = $"{p}.dw_relu", Type = LayerType.ReLU6 });
        layers.Add(describe($"{p}.project", project));
        layers.Add(describe($"{p}.project_bn", project_bn));
        if (_residual) layers.Add(new LayerSpec { Name = $"{p}.add", Type = LayerType.Add, Inputs = [input, $"{p}.project_bn"] });
        return layers;
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model;

/// <summary>
/// Describes a TorchSharp <c>nn.Sequential</c> so that users never write their architecture twice: the
/// children become layers with the children's names, so the Sequential's own <c>state_dict</c> keys are the
/// description's parameter keys.
/// </summary>
public static class SequentialExporter
{
    public static ModelDescription Describe(Sequential model, IReadOnlyList<int> inputShape, string? name = null, Normalization? normalize = null)
    {
        var layers = new List<LayerSpec>();
        int position = 0;
        foreach (var (childName, module) in model.named_children())
        {
            layers.Add(Describe(childName, module, position));
            position++;
        }
        // Names equal to the position are left implicit, as in the description's defaults.
        for (int i = 0; i < layers.Count; i++)
            if (layers[i].Name == i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                layers[i] = layers[i] with { Name = null };

        var description = new ModelDescription { Name = name, Input = inputShape.ToList(), Normalize = normalize, Layers = layers };
        var graph = ModelGraph.Build(description);
        CheckInputSizes(model, graph);
        return description;
    }

    static LayerSpec Describe(string name, nn.Module m, int position)
    {
        static IntPair Pair(long[]? v, int fallback) => v is null || v.Length == 0 ? fallback : v.Length == 1 ? (int)v[0] : new IntPair((int)v[0], (int)v[1]);
        static IntPair? Opt(IntPair v, int dflt) => v.H == dflt && v.W == dflt ? null : v;
        return m switch
        {
            Conv2d c when c.padding_type is null && c.padding_mode == PaddingModes.Zeros => new LayerSpec
            {
                Name = name, Type = LayerType.Conv2d, Out = (int)c.out_channels,
                Kernel = Pair(c.kernel_size, 1), Stride = Opt(Pair(c.stride, 1), 1), Padding = Opt(Pair(c.padding, 0), 0),
                Dilation = Opt(Pair(c.dilation, 1), 1), Groups = c.groups == 1 ? null : (int)c.groups,
                Bias = c.bias is null ? false : null,
            },
            Linear l => new LayerSpec { Name = name, Type = LayerType.Linear, Out = (int)l.out_features, Bias = l.bias is null ? false : null },
            BatchNorm2d b when b.affine && b.track_running_stats => new LayerSpec
            {
                Name = name, Type = LayerType.BatchNorm2d, Eps = b.eps == 1e-5 ? null : b.eps, Momentum = b.momentum is null or 0.1 ? null : b.momentum,
            },
            BatchNorm1d b when b.affine && b.track_running_stats => new LayerSpec
            {
                Name = name, Type = LayerType.BatchNorm1d, Eps = b.eps == 1e-5 ? null : b.eps, Momentum = b.momentum is null or 0.1 ? null : b.momentum,
            },
            ReLU => new LayerSpec { Name = name, Type = LayerType.ReLU },
            LeakyReLU r => new LayerSpec { Name = name, Type = LayerType.LeakyReLU, NegativeSlope = r.negative_slope },
            GELU g => new LayerSpec { Name = name, Type = LayerType.GELU, Approximate = g.approximate == TorchSharp.Modules.GELU.Approximate.tanh ? "tanh" : null },
            Sigmoid => new LayerSpec { Name = name, Type = LayerType.Sigmoid },
            Tanh => new LayerSpec { Name = name, Type = LayerType.Tanh },
            MaxPool2d p when !p.ceil_mode && (p.dilation is null || p.dilation.All(v => v == 1)) => new LayerSpec
            {
                Name = name, Type = LayerType.MaxPool2d, Kernel = Pair(p.kernel_size, 1),
                Stride = p.stride is null || p.stride.SequenceEqual(p.kernel_size) ? null : Pair(p.stride, 1), Padding = Opt(Pair(p.padding, 0), 0),
            },
            AvgPool2d p when !p.ceil_mode && p.count_include_pad && p.divisor_override is null => new LayerSpec
            {
                Name = name, Type = LayerType.AvgPool2d, Kernel = Pair(p.kernel_size, 1),
                Stride = p.stride is null || p.stride.Length == 0 || p.stride.SequenceEqual(p.kernel_size) ? null : Pair(p.stride, 1),
                Padding = p.padding is null || p.padding.Length == 0 ? null : Opt(Pair(p.padding, 0), 0),
            },
            AdaptiveAvgPool2d a => new LayerSpec { Name = name, Type = LayerType.AdaptiveAvgPool2d, OutputSize = Pair(a.output_size, 1) },
            Dropout d => new LayerSpec { Name = name, Type = LayerType.Dropout, P = d.p },
            Flatten f when f.start_dim == 1 && f.end_dim == -1 => new LayerSpec { Name = name, Type = LayerType.Flatten },
            _ => throw new PfaException(ErrorCodes.UnsupportedModule,
                $"child {position} ('{name}') of the Sequential is a {m.GetType().Name}{Detail(m)}, which a model description cannot express. " +
                $"Supported: Conv2d (zero padding), Linear, BatchNorm1d/2d (affine, running stats), ReLU, LeakyReLU, GELU, Sigmoid, Tanh, " +
                $"MaxPool2d/AvgPool2d (no ceil_mode), AdaptiveAvgPool2d, Dropout, Flatten (start_dim 1)."),
        };
    }

    static string Detail(nn.Module m) => m switch
    {
        Conv2d => " with a non-zero padding mode or string padding",
        Flatten => " with start_dim other than 1",
        MaxPool2d or AvgPool2d => " with ceil_mode or another non-default option",
        BatchNorm1d or BatchNorm2d => " without affine parameters or running statistics",
        _ => "",
    };

    // The description infers input sizes; make sure the module agrees, or its weights would not load.
    static void CheckInputSizes(Sequential model, ModelGraph graph)
    {
        int i = 0;
        foreach (var (childName, module) in model.named_children())
        {
            var node = graph.Nodes[i++];
            long? declared = module switch
            {
                Conv2d c => c.in_channels,
                Linear l => l.in_features,
                BatchNorm b => b.num_features,
                _ => null,
            };
            if (declared is { } v && v != node.InShape[0])
                throw new PfaException(ErrorCodes.InvalidModel,
                    $"child '{childName}' ({module.GetType().Name}) expects {v} input channels/features, but the layers before it produce shape [{string.Join(", ", node.InShape)}] for input [{string.Join(", ", graph.InputShape)}]. Check the input shape passed to Describe.");
        }
    }
}

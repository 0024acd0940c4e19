using Pfa.Core.Json;

namespace Pfa.Core.Model;

/// <summary>
/// One layer of a model description. Input sizes (a conv's input channels, a linear's input features, a batch
/// norm's features) are never written: they follow from the layer's inputs, so a compressed description
/// only changes <see cref="Out"/> of the layers that lost filters.
/// </summary>
public sealed record LayerSpec
{
    /// <summary>Unique name; the prefix of the layer's parameter names (<c>name.weight</c>). Defaults to the
    /// layer's position ("0", "1", …), the names PyTorch and TorchSharp give the children of a Sequential.</summary>
    public string? Name { get; init; }
    public string Type { get; init; } = "";
    /// <summary>Names of the layers this one reads; default: the previous layer (the model input for the
    /// first). <c>add</c> takes two. This is what makes residual blocks expressible.</summary>
    public List<string>? Inputs { get; init; }

    /// <summary>conv2d: output channels (filters); linear: output features.</summary>
    public int? Out { get; init; }
    /// <summary>conv2d, pools: kernel size (default stride of a pool is its kernel).</summary>
    public IntPair? Kernel { get; init; }
    public IntPair? Stride { get; init; }
    public IntPair? Padding { get; init; }
    public IntPair? Dilation { get; init; }
    /// <summary>conv2d: channel groups (1 = dense; = input channels for depthwise).</summary>
    public int? Groups { get; init; }
    /// <summary>conv2d, linear: whether there is a bias (default true).</summary>
    public bool? Bias { get; init; }
    /// <summary>adaptive_avgpool2d: output size.</summary>
    public IntPair? OutputSize { get; init; }
    /// <summary>batchnorm: epsilon (default 1e-5) and running-average momentum (default 0.1).</summary>
    public double? Eps { get; init; }
    public double? Momentum { get; init; }
    /// <summary>leaky_relu: slope for negative inputs (default 0.01).</summary>
    public double? NegativeSlope { get; init; }
    /// <summary>dropout: probability (default 0.5).</summary>
    public double? P { get; init; }
    /// <summary>gelu: "none" (default) or "tanh".</summary>
    public string? Approximate { get; init; }
    /// <summary>channel_pad: zero channels before the input's (after: the rest up to <see cref="Out"/>).</summary>
    public int? Offset { get; init; }
    /// <summary>channel_scatter: the output channel each input channel goes to (ascending); the others are zero.</summary>
    public List<int>? Index { get; init; }
}

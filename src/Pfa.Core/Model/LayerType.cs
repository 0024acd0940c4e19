namespace Pfa.Core.Model;

/// <summary>The layer types of a model description (<c>"type"</c> in model.json).</summary>
public static class LayerType
{
    public const string Conv2d = "conv2d";
    public const string Linear = "linear";
    public const string BatchNorm1d = "batchnorm1d";
    public const string BatchNorm2d = "batchnorm2d";
    public const string ReLU = "relu";
    public const string LeakyReLU = "leaky_relu";
    public const string GELU = "gelu";
    public const string Sigmoid = "sigmoid";
    public const string Tanh = "tanh";
    public const string MaxPool2d = "maxpool2d";
    public const string AvgPool2d = "avgpool2d";
    public const string AdaptiveAvgPool2d = "adaptive_avgpool2d";
    public const string Dropout = "dropout";
    public const string Flatten = "flatten";
    /// <summary>Element-wise sum of two inputs of the same shape (residual connections).</summary>
    public const string Add = "add";

    public static readonly IReadOnlyList<string> All =
        [Conv2d, Linear, BatchNorm1d, BatchNorm2d, ReLU, LeakyReLU, GELU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Flatten, Add];

    /// <summary>Layers whose output channels are filters: what PFA analyses and surgery shrinks.</summary>
    public static bool HasFilters(string type) => type is Conv2d or Linear;
}

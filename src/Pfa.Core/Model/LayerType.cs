namespace Pfa.Core.Model;

/// <summary>The names of the built-in layer types of a model description (<c>"type"</c> in model.json); what each does is its
/// <see cref="Layers.LayerRule"/>.</summary>
public static class LayerType
{
    public const string Conv2d = "conv2d";
    public const string Linear = "linear";
    public const string BatchNorm1d = "batchnorm1d";
    public const string BatchNorm2d = "batchnorm2d";
    public const string ReLU = "relu";
    public const string ReLU6 = "relu6";
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

    /// <summary>Every type with a rule (<see cref="Layers.LayerRules"/>).</summary>
    public static IReadOnlyList<string> All => Layers.LayerRules.Types;

    /// <summary>Layers whose output channels are filters: what PFA analyses and surgery shrinks.</summary>
    public static bool HasFilters(string type) => Layers.LayerRules.Find(type)?.HasFilters ?? false;
}

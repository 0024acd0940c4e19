using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Onnx;

/// <summary>
/// What a layer rule needs to write itself into an ONNX graph (<see cref="Layers.LayerRule.ToOnnx"/>): its node
/// (description, shapes), the names of its inputs' values, its parameters by key ("weight", "running_mean"…),
/// and the graph to add nodes and initializers to. <see cref="Output"/> is the name its result must have.
/// </summary>
public sealed class OnnxLayer(OnnxGraph graph, LayerNode node, IReadOnlyList<string> inputs, Func<string, Tensor?> parameter, string output)
{
    public OnnxGraph Graph => graph;
    public LayerNode Node => node;
    public LayerSpec Spec => node.Spec;
    public IReadOnlyList<string> Inputs => inputs;
    public string Output => output;

    /// <summary>The layer's parameter <c>name.key</c> as an initializer, or null when the layer has none (a conv without bias).</summary>
    public string? Parameter(string key) => parameter(key) is { } t ? graph.Initializer($"{node.Name}.{key}", t) : null;

    /// <summary>One node producing the layer's output from its inputs.</summary>
    public string Single(string opType, params global::Onnx.AttributeProto[] attributes) => graph.Node(opType, inputs, output, attributes);

    /// <summary>An intermediate value name of this layer.</summary>
    public string Temp(string what) => graph.Name($"{node.Name}/{what}");
}

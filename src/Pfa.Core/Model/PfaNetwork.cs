using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Model;

/// <summary>
/// The TorchSharp module built from a description. Each layer is a child module registered under the
/// layer's name, so parameter keys are <c>name.weight</c>, <c>name.bias</c>, <c>name.running_mean</c>, …
/// — the keys PyTorch's <c>nn.Sequential.state_dict()</c> uses when names are positions.
/// </summary>
public sealed class PfaNetwork : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor>?[] _layers;
    readonly int[] _lastUse;

    public ModelGraph Graph { get; }

    public PfaNetwork(ModelGraph graph) : base(graph.Description.Name ?? "pfa_network")
    {
        Native.ConvolutionCheck.Ensure(); // once per process: never compute wrong numbers silently
        Graph = graph;
        _layers = new nn.Module<Tensor, Tensor>?[graph.Nodes.Count];
        foreach (var node in graph.Nodes)
        {
            var m = CreateLayer(node);
            _layers[node.Index] = m;
            if (m is not null) register_module(node.Name, m);
        }
        // The last layer that reads each output: after it, the tensor is released early.
        _lastUse = new int[graph.Nodes.Count];
        foreach (var node in graph.Nodes)
            foreach (var i in node.Inputs)
                if (i >= 0) _lastUse[i] = Math.Max(_lastUse[i], node.Index);
        _lastUse[^1] = int.MaxValue;
    }

    public PfaNetwork(ModelDescription description) : this(ModelGraph.Build(description)) { }

    static nn.Module<Tensor, Tensor>? CreateLayer(LayerNode n)
    {
        var s = n.Spec;
        return s.Type switch
        {
            LayerType.Conv2d => nn.Conv2d(n.InShape[0], s.Out!.Value,
                kernel_size: (s.Kernel!.Value.H, s.Kernel.Value.W),
                stride: ((s.Stride ?? 1).H, (s.Stride ?? 1).W),
                padding: ((s.Padding ?? 0).H, (s.Padding ?? 0).W),
                dilation: ((s.Dilation ?? 1).H, (s.Dilation ?? 1).W),
                groups: s.Groups ?? 1, bias: s.Bias ?? true),
            LayerType.Linear => nn.Linear(n.InShape[0], s.Out!.Value, hasBias: s.Bias ?? true),
            LayerType.BatchNorm2d => nn.BatchNorm2d(n.InShape[0], eps: s.Eps ?? 1e-5, momentum: s.Momentum ?? 0.1),
            LayerType.BatchNorm1d => nn.BatchNorm1d(n.InShape[0], eps: s.Eps ?? 1e-5, momentum: s.Momentum ?? 0.1),
            LayerType.ReLU => nn.ReLU(),
            LayerType.LeakyReLU => nn.LeakyReLU(s.NegativeSlope ?? 0.01),
            LayerType.GELU => nn.GELU(s.Approximate == "tanh" ? TorchSharp.Modules.GELU.Approximate.tanh : TorchSharp.Modules.GELU.Approximate.none),
            LayerType.Sigmoid => nn.Sigmoid(),
            LayerType.Tanh => nn.Tanh(),
            LayerType.MaxPool2d => nn.MaxPool2d(
                kernel_size: (s.Kernel!.Value.H, s.Kernel.Value.W),
                stride: ((s.Stride ?? s.Kernel.Value).H, (s.Stride ?? s.Kernel.Value).W),
                padding: ((s.Padding ?? 0).H, (s.Padding ?? 0).W)),
            LayerType.AvgPool2d => nn.AvgPool2d(
                kernel_size: (s.Kernel!.Value.H, s.Kernel.Value.W),
                stride: ((s.Stride ?? s.Kernel.Value).H, (s.Stride ?? s.Kernel.Value).W),
                padding: ((s.Padding ?? 0).H, (s.Padding ?? 0).W)),
            LayerType.AdaptiveAvgPool2d => nn.AdaptiveAvgPool2d((s.OutputSize!.Value.H, s.OutputSize.Value.W)),
            LayerType.Dropout => nn.Dropout(s.P ?? 0.5),
            LayerType.Flatten => nn.Flatten(),
            LayerType.Add => null,
            _ => throw new InvalidOperationException($"layer type '{s.Type}' passed validation but has no module"),
        };
    }

    public override Tensor forward(Tensor input) => Forward(input, null);

    /// <summary>
    /// Runs the network; <paramref name="observe"/> sees each layer's output as it is produced (it must copy
    /// what it wants to keep: intermediate outputs are disposed once no later layer reads them).
    /// </summary>
    public Tensor Forward(Tensor input, Action<LayerNode, Tensor>? observe)
    {
        var outputs = new Tensor?[_layers.Length];
        Tensor Get(int i) => i == LayerNode.ModelInput ? input : outputs[i]!;
        for (int i = 0; i < _layers.Length; i++)
        {
            var node = Graph.Nodes[i];
            var x = Get(node.Inputs[0]);
            var y = node.Type == LayerType.Add ? x + Get(node.Inputs[1]) : _layers[i]!.call(x);
            outputs[i] = y;
            observe?.Invoke(node, y);
            foreach (var j in node.Inputs)
                if (j >= 0 && _lastUse[j] == i && !ReferenceEquals(outputs[j], y)) { outputs[j]!.Dispose(); outputs[j] = null; }
        }
        return outputs[^1]!;
    }

    /// <summary>The child module of a layer (null for <c>add</c>).</summary>
    public nn.Module<Tensor, Tensor>? Layer(int index) => _layers[index];
}

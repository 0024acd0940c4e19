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
    readonly Layers.LayerRule[] _rules;

    public ModelGraph Graph { get; }

    public PfaNetwork(ModelGraph graph) : base(graph.Description.Name ?? "pfa_network")
    {
        Native.ConvolutionCheck.Ensure(); // once per process: never compute wrong numbers silently
        Graph = graph;
        _layers = new nn.Module<Tensor, Tensor>?[graph.Nodes.Count];
        _rules = graph.Nodes.Select(n => Layers.LayerRules.Get(n.Type)).ToArray();
        var scopes = new Dictionary<string, Scope>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            var m = CreateLayer(node);
            _layers[node.Index] = m;
            if (m is not null) Owner(node.Name, scopes, out var leaf).register_module(leaf, m);
        }
        // The last layer that reads each output: after it, the tensor is released early.
        _lastUse = new int[graph.Nodes.Count];
        foreach (var node in graph.Nodes)
            foreach (var i in node.Inputs)
                if (i >= 0) _lastUse[i] = Math.Max(_lastUse[i], node.Index);
        _lastUse[^1] = int.MaxValue;
    }

    public PfaNetwork(ModelDescription description) : this(ModelGraph.Build(description)) { }

    /// <summary>The module a layer registers in: this network, or for a dotted name ("layer1.0.conv1") the nested
    /// scope "layer1" → "0", so that state_dict keys are the dotted names PyTorch writes for nested modules.</summary>
    nn.Module Owner(string name, Dictionary<string, Scope> scopes, out string leaf)
    {
        int dot = name.LastIndexOf('.');
        leaf = name[(dot + 1)..];
        if (dot < 0) return this;
        var path = name[..dot];
        if (scopes.TryGetValue(path, out var scope)) return scope;
        var parent = Owner(path, scopes, out var own);
        scope = new Scope(own);
        parent.register_module(own, scope);
        return scopes[path] = scope;
    }

    /// <summary>A container standing for a nested module's name; the network runs the layers itself.</summary>
    sealed class Scope(string name) : nn.Module<Tensor, Tensor>(name)
    {
        public override Tensor forward(Tensor input) => throw new InvalidOperationException("a scope is not run on its own");
    }

    static nn.Module<Tensor, Tensor>? CreateLayer(LayerNode n) => Layers.LayerRules.Get(n.Type).CreateModule(n);

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
            var y = _rules[i].Forward(_layers[i], node.Inputs.Count == 1 ? [Get(node.Inputs[0])] : node.Inputs.Select(Get).ToList());
            outputs[i] = y;
            observe?.Invoke(node, y);
            foreach (var j in node.Inputs)
                if (j >= 0 && _lastUse[j] == i && !ReferenceEquals(outputs[j], y)) { outputs[j]!.Dispose(); outputs[j] = null; }
        }
        return outputs[^1]!;
    }

    /// <summary>The child module of a layer (null for parameter-free operations such as <c>add</c>).</summary>
    public nn.Module<Tensor, Tensor>? Layer(int index) => _layers[index];
}

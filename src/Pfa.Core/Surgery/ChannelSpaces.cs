using Pfa.Core.Model;

namespace Pfa.Core.Surgery;

/// <summary>
/// A set of tensor channels that must be kept or removed together. The output channels of a conv (or the
/// features of a linear) open a space; batch norm, activations, pooling and dropout pass it on; a depthwise
/// conv (groups = in = out) acts per channel and passes it on; an <c>add</c> ties its two inputs into one
/// space (a residual trunk, PFA appendix C). Removing channel c of a space removes it from every producer's
/// output, every per-channel layer, and every consumer's input.
/// </summary>
public sealed class ChannelSpace
{
    public int Id { get; }
    public int Channels { get; }
    /// <summary>Layers whose output channels are this space's channels (conv2d with groups = 1, linear).</summary>
    public List<int> Producers { get; } = [];
    /// <summary>Why the space cannot shrink; null when it can.</summary>
    public string? Fixed { get; set; }
    public bool Prunable => Fixed is null && Producers.Count == 1;
    /// <summary>The single producer of a prunable space: the layer PFA analyses for it.</summary>
    public int Producer => Producers[0];

    public ChannelSpace(int id, int channels) { Id = id; Channels = channels; }
}

/// <summary>The channel spaces of a model graph and the space of each layer's input and output.</summary>
public sealed class ChannelSpaces
{
    readonly int[] _parent;              // union-find over space ids
    readonly List<ChannelSpace> _spaces = [];
    readonly int[] _outSpace;            // per node; -1 for flattened outputs (see FlattenOf)
    readonly Dictionary<int, (int Space, int Positions)> _flattened = []; // node → image space and H·W

    public ModelGraph Graph { get; }

    public ChannelSpaces(ModelGraph graph)
    {
        Graph = graph;
        _outSpace = new int[graph.Nodes.Count];
        _parent = new int[graph.Nodes.Count + 1];
        for (int i = 0; i < _parent.Length; i++) _parent[i] = i;

        int input = New(graph.InputShape[0]);
        _spaces[input].Fixed = "model input";
        foreach (var n in graph.Nodes)
        {
            int inSpace = n.Inputs[0] == LayerNode.ModelInput ? input : _outSpace[n.Inputs[0]];
            switch (n.Type)
            {
                case LayerType.Conv2d when IsDepthwise(n):
                    _outSpace[n.Index] = inSpace;
                    break;
                case LayerType.Conv2d or LayerType.Linear:
                {
                    int s = New(n.OutShape[0]);
                    _spaces[s].Producers.Add(n.Index);
                    if ((n.Spec.Groups ?? 1) != 1)
                    {
                        _spaces[s].Fixed = $"{n.Name} is a grouped convolution";
                        Fix(inSpace, $"{n.Name} is a grouped convolution");
                    }
                    _outSpace[n.Index] = s;
                    break;
                }
                case LayerType.Flatten when n.InShape.Length == 3:
                {
                    if (inSpace < 0) throw new InvalidOperationException("flatten of a flattened tensor");
                    int s = New(n.OutShape[0]);
                    _spaces[s].Fixed = "flattened features follow the channels before the flatten";
                    _flattened[s] = (inSpace, n.InShape[1] * n.InShape[2]);
                    _outSpace[n.Index] = s;
                    break;
                }
                case LayerType.Add:
                {
                    int other = n.Inputs[1] == LayerNode.ModelInput ? input : _outSpace[n.Inputs[1]];
                    _outSpace[n.Index] = Union(inSpace, other);
                    break;
                }
                default: // per-channel layers and flatten of vectors keep the space
                    _outSpace[n.Index] = inSpace;
                    break;
            }
        }
        Fix(_outSpace[^1], "model output");
    }

    /// <summary>A conv whose every group is one input channel producing one output channel.</summary>
    public static bool IsDepthwise(LayerNode n) =>
        n.Type == LayerType.Conv2d && (n.Spec.Groups ?? 1) > 1 && n.Spec.Groups == n.InShape[0] && n.OutShape[0] == n.InShape[0];

    int New(int channels)
    {
        _spaces.Add(new ChannelSpace(_spaces.Count, channels));
        return _spaces.Count - 1;
    }

    int Find(int s) => _parent[s] == s ? s : _parent[s] = Find(_parent[s]);

    int Union(int a, int b)
    {
        a = Find(a); b = Find(b);
        if (a == b) return a;
        if (_flattened.ContainsKey(a) || _flattened.ContainsKey(b)) throw new InvalidOperationException("add of flattened tensors");
        _parent[b] = a;
        _spaces[a].Producers.AddRange(_spaces[b].Producers);
        _spaces[a].Fixed ??= _spaces[b].Fixed;
        return a;
    }

    void Fix(int s, string why) => _spaces[Find(s)].Fixed ??= why;

    /// <summary>The space of a layer's output channels.</summary>
    public ChannelSpace OutputOf(int node) => _spaces[Find(_outSpace[node])];

    /// <summary>The space of a layer's (first) input channels.</summary>
    public ChannelSpace InputOf(int node)
    {
        int i = Graph.Nodes[node].Inputs[0];
        return i == LayerNode.ModelInput ? _spaces[Find(0)] : OutputOf(i);
    }

    /// <summary>For the output of a flatten: the image space it came from and the positions per channel.</summary>
    public (ChannelSpace Space, int Positions)? FlattenOf(ChannelSpace s) =>
        _flattened.TryGetValue(s.Id, out var f) ? (_spaces[Find(f.Space)], f.Positions) : null;

    /// <summary>Distinct spaces (after ties), in order of creation.</summary>
    public IEnumerable<ChannelSpace> All => _spaces.Where(s => Find(s.Id) == s.Id);

    /// <summary>The spaces PFA may shrink, each with its one producer layer.</summary>
    public IEnumerable<ChannelSpace> Prunable => All.Where(s => s.Prunable);
}

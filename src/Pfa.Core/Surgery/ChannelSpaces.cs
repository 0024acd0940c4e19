using Pfa.Core.Layers;
using Pfa.Core.Model;

namespace Pfa.Core.Surgery;

/// <summary>
/// A set of tensor channels that must be kept or removed together. A conv's output channels (or a linear's
/// features) open a space; per-channel layers pass it on; an <c>add</c> ties its inputs into one space (a
/// residual trunk, PFA appendix C); a flatten or concatenation makes a mapped space whose indices follow its
/// sources (<see cref="IndexMap"/>). What each layer type does is its <see cref="LayerRule.Channels"/>.
/// Removing channel c of a space removes it from every producer's output, every per-channel layer, and every
/// consumer's input.
/// </summary>
public sealed class ChannelSpace
{
    public int Id { get; }
    public int Channels { get; }
    /// <summary>Layers whose output channels are this space's channels (conv2d with groups = 1, linear); several
    /// when residual sums tie them (projection mode).</summary>
    public List<int> Producers { get; } = [];
    /// <summary>Why the space cannot shrink on its own; null when it can.</summary>
    public string? Fixed { get; set; }
    public bool Prunable => Fixed is null && Producers.Count >= 1;
    /// <summary>The (first) producer.</summary>
    public int Producer => Producers[0];
    /// <summary>The nodes whose outputs are this space's responses: its producer, or for a group tied by residual
    /// sums the sums themselves (PFA appendix C.3: "we analyze the output of the combination").</summary>
    public IReadOnlyList<int> Observed { get; internal set; } = [];
    /// <summary>The name recipes and statistics use: the producer's, or a group's first sum's.</summary>
    public string Name { get; internal set; } = "";
    /// <summary>Channels are kept in runs of this many (whole groups of a grouped conv that reads the space); 1: any.</summary>
    public int Granule { get; internal set; } = 1;
    /// <summary>True for a channel group tied by residual sums.</summary>
    public bool Shared => Producers.Count > 1;

    public ChannelSpace(int id, int channels) { Id = id; Channels = channels; }
}

/// <summary>The channel spaces of a model graph and the space of each layer's input and output. Built once per
/// graph (<see cref="ModelGraph.Spaces"/>).</summary>
public sealed class ChannelSpaces
{
    readonly List<int> _parent = [];     // union-find over space ids
    readonly List<ChannelSpace> _spaces = [];
    readonly int[] _outSpace;            // per node
    readonly Dictionary<int, IndexMap> _maps = []; // mapped space → how its indices follow its sources
    readonly int _input;

    public ModelGraph Graph { get; }
    /// <summary>How residual sums treat channels (pfa.json <c>residual</c>).</summary>
    public ResidualMode Residual { get; }

    internal ChannelSpaces(ModelGraph graph, ResidualMode residual = ResidualMode.Projection)
    {
        Graph = graph;
        Residual = residual;
        _outSpace = new int[graph.Nodes.Count];
        var builder = new SpaceBuilder(this);
        _input = New(graph.InputShape[0]);
        _spaces[_input].Fixed = "model input";
        foreach (var n in graph.Nodes)
        {
            var inputs = n.Inputs.Select(i => i == LayerNode.ModelInput ? _input : _outSpace[i]).ToList();
            _outSpace[n.Index] = LayerRules.Get(n.Type).Channels(n, inputs, builder);
        }
        Fix(_outSpace[^1], "model output");
        foreach (var space in All.Where(sp => sp.Producers.Count > 0))
        {
            space.Producers.Sort();
            space.Observed = space.Producers.Count == 1
                ? [space.Producer]
                : graph.Nodes.Where(n => n.Inputs.Count > 1 && OutputOf(n.Index) == space).Select(n => n.Index).ToList();
            space.Name = graph.Nodes[space.Observed.Count > 0 ? space.Observed[0] : space.Producer].Name;
        }
    }

    internal int New(int channels)
    {
        _spaces.Add(new ChannelSpace(_spaces.Count, channels));
        _parent.Add(_parent.Count);
        return _spaces.Count - 1;
    }

    internal int Mapped(int channels, IndexMap map, string why)
    {
        int s = New(channels);
        _spaces[s].Fixed = why;
        _maps[s] = map;
        return s;
    }

    int Find(int s) => _parent[s] == s ? s : _parent[s] = Find(_parent[s]);

    internal ChannelSpace Space(int id) => _spaces[Find(id)];

    internal int Union(int a, int b)
    {
        a = Find(a); b = Find(b);
        if (a == b) return a;
        if (_maps.ContainsKey(a) || _maps.ContainsKey(b))
        {
            // Adding a mapped tensor (flattened, concatenated) ties positions across sources: keep them all.
            Fix(a, "added to a flattened or concatenated tensor");
            Fix(b, "added to a flattened or concatenated tensor");
            return a;
        }
        _parent[b] = a;
        _spaces[a].Producers.AddRange(_spaces[b].Producers);
        _spaces[a].Fixed ??= _spaces[b].Fixed;
        _spaces[a].Granule = Lcm(_spaces[a].Granule, _spaces[b].Granule);
        return a;
    }

    static int Lcm(int a, int b) => a / Gcd(a, b) * b;
    static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>The space's channels are kept in whole runs of <paramref name="size"/> (a grouped conv reads it);
    /// a space whose width is not a multiple of the combined run stays whole.</summary>
    internal void Group(int s, int size)
    {
        var space = Space(s);
        space.Granule = Lcm(space.Granule, size);
        if (space.Channels % space.Granule != 0) Fix(s, "grouped convolutions of different group sizes read it");
    }

    /// <summary>Marks a space fixed; a mapped space's sources too (they decide its channels).</summary>
    internal void Fix(int s, string why)
    {
        s = Find(s);
        _spaces[s].Fixed ??= why;
        if (_maps.TryGetValue(s, out var map))
            foreach (var source in map.Sources) Fix(source, why);
    }

    /// <summary>The space of a layer's output channels.</summary>
    public ChannelSpace OutputOf(int node) => _spaces[Find(_outSpace[node])];

    /// <summary>The space of a layer's (first) input channels.</summary>
    public ChannelSpace InputOf(int node) => InputOf(node, 0);

    /// <summary>The space of a layer's k-th input.</summary>
    public ChannelSpace InputOf(int node, int k)
    {
        int i = Graph.Nodes[node].Inputs[k];
        return i == LayerNode.ModelInput ? _spaces[Find(_input)] : OutputOf(i);
    }

    /// <summary>How a space's indices follow from others': its own (identity) unless it is mapped.</summary>
    public IndexMap MapOf(ChannelSpace s) => _maps.TryGetValue(s.Id, out var m) ? m : new IdentityMap(s.Id);

    /// <summary>The kept indices of any space, given the kept indices of prunable spaces (by id); null when unchanged.</summary>
    public int[]? KeptOf(ChannelSpace s, IReadOnlyDictionary<int, int[]> kept)
    {
        var map = MapOf(s);
        if (map is IdentityMap) return kept.GetValueOrDefault(s.Id);
        var sources = map.Sources.Select(Space).ToList();
        var perSource = sources.Select(src => KeptOf(src, kept)).ToList();
        if (perSource.All(k => k is null)) return null;
        return map.Map(perSource.Select((k, i) => k ?? Enumerable.Range(0, sources[i].Channels).ToArray()).ToList());
    }

    /// <summary>Distinct spaces (after ties), in order of creation.</summary>
    public IEnumerable<ChannelSpace> All => _spaces.Where(s => Find(s.Id) == s.Id);

    /// <summary>The spaces PFA may shrink, each with its one producer layer.</summary>
    public IEnumerable<ChannelSpace> Prunable => All.Where(s => s.Prunable);
}

/// <summary>What a <see cref="LayerRule"/> may do to channel spaces while they are built.</summary>
public sealed class SpaceBuilder
{
    readonly ChannelSpaces _spaces;
    internal SpaceBuilder(ChannelSpaces spaces) => _spaces = spaces;

    /// <summary>The model's residual mode (what an <c>add</c> does).</summary>
    public ResidualMode Residual => _spaces.Residual;

    /// <summary>A new space of filters produced by <paramref name="producer"/> (what PFA analyses).</summary>
    public int Open(LayerNode producer, int channels)
    {
        int s = _spaces.New(channels);
        _spaces.Space(s).Producers.Add(producer.Index);
        return s;
    }

    /// <summary>A new space that never shrinks (e.g. a grouped conv's output).</summary>
    public int Closed(int channels, string why)
    {
        int s = _spaces.New(channels);
        _spaces.Space(s).Fixed = why;
        return s;
    }

    /// <summary>A space whose indices follow its sources through <paramref name="map"/>; it cannot shrink on its own.</summary>
    public int Mapped(int channels, IndexMap map, string why) => _spaces.Mapped(channels, map, why);

    /// <summary>Ties two spaces into one (an element-wise sum): kept or removed together.</summary>
    public int Union(int a, int b) => _spaces.Union(a, b);

    /// <summary>The space's channels go in whole runs of <paramref name="size"/> (the groups of a grouped conv reading it).</summary>
    public void Group(int space, int size) => _spaces.Group(space, size);

    /// <summary>Marks a space (and a mapped space's sources) as never shrinking.</summary>
    public void Fix(int space, string why) => _spaces.Fix(space, why);

    public int ChannelsOf(int space) => _spaces.Space(space).Channels;
}

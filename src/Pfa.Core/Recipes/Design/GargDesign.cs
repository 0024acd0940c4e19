using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Layers;
using Pfa.Core.Model;

namespace Pfa.Core.Recipes.Design;

/// <summary>A conv layer Garg et al.'s depth rule removes, and why.</summary>
public sealed record DroppedLayer(string Layer, int SignificantDimensions, string Previous, int PreviousDimensions)
{
    public string Reason => $"S_L = {SignificantDimensions} does not exceed {PreviousDimensions} of {Previous}, the last kept layer (§III-D: it adds no significant dimensions)";
}

/// <summary>
/// Garg et al., "A Low Effort Approach to Structured CNN Design Using PCA" (§III): the limits of the method, the
/// depth rule, and the designed model description.
/// </summary>
public static class GargDesign
{
    public const double DefaultThreshold = 0.999;
    /// <summary>§III-B: collect batches until D/M, samples per filter, is about 100.</summary>
    public const int SamplesPerChannel = 100;
    /// <summary>The thresholds of the trade-off table (§III-E, Fig. 9).</summary>
    public static readonly double[] Sweep = [0.90, 0.95, 0.98, 0.99, 0.995, 0.999];

    /// <summary>§V, Limitations: no shortcut connections, no grouped convolutions. Exit code 2 with the paper's reason.</summary>
    public static void CheckApplies(ModelGraph graph, BudgetFile budget)
    {
        if (graph.Nodes.FirstOrDefault(n => n.Inputs.Count > 1) is { } join)
            throw new PfaException(ErrorCodes.NotApplicable,
                $"strategy 'garg' does not apply to this model: layer '{join.Name}' ({join.Type}) joins two paths. Garg et al. state it as the method's limitation (§V): " +
                "it does not apply to ResNet-style networks with shortcut connections, because removing dimensions at a layer that feeds another directly can recreate them there. Use 'kl' or 'footprint' for this model.",
                budget.Source?.File);
        if (graph.Nodes.FirstOrDefault(n => n.Type == LayerType.Conv2d && (n.Spec.Groups ?? 1) > 1) is { } grouped)
            throw new PfaException(ErrorCodes.NotApplicable,
                $"strategy 'garg' does not apply to this model: '{grouped.Name}' is a grouped convolution (groups = {grouped.Spec.Groups}). Garg et al. state it as the method's limitation (§V): " +
                "the filters do not act on common input channels. Their workaround is to train the same configuration without grouping and analyse that; or use 'kl' or 'footprint'.",
                budget.Source?.File);
    }

    /// <summary>
    /// §III-D and Table 2: the first analysed conv layer is kept; each later one is kept only when its S_L exceeds
    /// the last kept layer's, otherwise dropped (Table 2, CIFAR-10/VGG-16: 238, 249, 249 → the second 249 goes, the
    /// next block's 424 stays, and every layer after it, all below 424, goes). Linear layers keep their depth.
    /// </summary>
    public static List<DroppedLayer> Depth(IReadOnlyList<(string Layer, int Dimensions)> convolutionsInOrder)
    {
        var dropped = new List<DroppedLayer>();
        if (convolutionsInOrder.Count == 0) return dropped;
        var last = convolutionsInOrder[0];
        foreach (var c in convolutionsInOrder.Skip(1))
        {
            if (c.Dimensions > last.Dimensions) last = c;
            else dropped.Add(new DroppedLayer(c.Layer, c.Dimensions, last.Layer, last.Dimensions));
        }
        return dropped;
    }

    /// <summary>The dropped layers of a plan: <see cref="Depth"/> over its conv layers in order; none with "depth": false.</summary>
    public static List<DroppedLayer> Dropped(ModelGraph graph, IEnumerable<LayerPlan> layers, PfaBudget budget) => budget.Depth == false ? []
        : Depth(layers.Where(l => graph.Nodes.First(n => n.Name == l.Layer).Type == LayerType.Conv2d).Select(l => (l.Layer, l.After)).ToList());

    /// <summary>Per-channel layers that belong to the conv before them (its batch norm, activation, dropout).</summary>
    static bool FollowsItsConv(LayerNode n) => n.Inputs.Count == 1 && n.Type is LayerType.BatchNorm2d or LayerType.BatchNorm1d or LayerType.ReLU
        or LayerType.LeakyReLU or LayerType.GELU or LayerType.Sigmoid or LayerType.Tanh or LayerType.Dropout;

    /// <summary>
    /// The description without the dropped conv layers and the batch norms, activations and dropouts that directly
    /// follow each of them; pooling layers stay (Table 2's final configurations keep every 'M'), and every later size
    /// (the next conv's input channels, the classifier's input) follows by shape inference. Layers keep their names
    /// (implicit positional names are written out), so parameter keys do not move.
    /// </summary>
    public static ModelDescription Remove(ModelGraph graph, IReadOnlySet<string> dropped)
    {
        var nodes = graph.Nodes;
        var removed = new HashSet<int>();
        foreach (var conv in nodes.Where(n => dropped.Contains(n.Name)))
        {
            removed.Add(conv.Index);
            int current = conv.Index;
            while (nodes.Where(n => n.Inputs.Contains(current)).ToList() is [var next] && FollowsItsConv(next))
            {
                removed.Add(next.Index);
                current = next.Index;
            }
        }
        // What a removed layer's readers read instead: the removed chain's input.
        int Replacement(int i) => i == LayerNode.ModelInput || !removed.Contains(i) ? i : Replacement(nodes[i].Inputs[0]);
        string Name(int i) => i == LayerNode.ModelInput ? "input" : nodes[i].Name;
        var layers = new List<LayerSpec>();
        int previous = LayerNode.ModelInput;   // what an implicit input reads: the previous remaining layer
        foreach (var n in nodes.Where(n => !removed.Contains(n.Index)))
        {
            var inputs = n.Inputs.Select(Replacement).ToList();
            bool implicitOk = n.Spec.Inputs is null && inputs is [var only] && only == previous;
            layers.Add(n.Spec with { Name = n.Name, Inputs = implicitOk ? null : inputs.Select(Name).ToList() });
            previous = n.Index;
        }
        var description = graph.Description with { Layers = layers };
        ModelGraph.Build(description); // the removal keeps the model valid (shapes are re-inferred)
        return description;
    }

    /// <summary>The designed description of a recipe: its widths, then its dropped layers removed.</summary>
    public static ModelDescription Designed(ModelGraph graph, Recipe recipe) =>
        Designed(graph, recipe.Layers.ToDictionary(l => l.Name, l => l.FiltersAfter), recipe.Layers.Where(l => l.Dropped is not null).Select(l => l.Name).ToHashSet());

    public static ModelDescription Designed(ModelGraph graph, IReadOnlyDictionary<string, int> widthByLayer, IReadOnlySet<string> dropped)
    {
        var spaces = graph.Spaces;
        var byName = spaces.Prunable.ToDictionary(s => graph.Nodes[s.Producer].Name);
        var widths = widthByLayer.Where(kv => byName.ContainsKey(kv.Key)).ToDictionary(kv => byName[kv.Key].Id, kv => kv.Value);
        var resized = Surgery.Widths.Apply(spaces, widths);
        return dropped.Count == 0 ? resized : Remove(ModelGraph.Build(resized), dropped);
    }

    /// <summary>One row of the trade-off table: the design at one threshold.</summary>
    public sealed record SweepRow(double Threshold, IReadOnlyList<(string Layer, int Width, bool Dropped)> Layers, long Parameters, long Macs);

    /// <summary>§III-E, Fig. 9: the designs at thresholds 0.90 … 0.999 (and the budget's own) from one analysis —
    /// widths, dropped layers, parameters and MACs — without a data pass.</summary>
    public static List<SweepRow> TradeOff(ModelGraph graph, BudgetFile budget, IReadOnlyDictionary<string, Spectra.LayerSpectrum> spectra)
    {
        var b = budget.Budget;
        var rows = new List<SweepRow>();
        foreach (var t in Sweep.Append(b.Threshold ?? DefaultThreshold).Distinct().Order())
        {
            var plan = new RecipePlanner(graph.Spaces, budget with { Budget = b with { Threshold = t } }, spectra).Plan();
            var dropped = Dropped(graph, plan.Layers, b).Select(d => d.Layer).ToHashSet();
            var cost = Metrics.ModelCost.Of(Designed(graph, plan.Layers.ToDictionary(l => l.Layer, l => l.After), dropped));
            rows.Add(new SweepRow(t, plan.Layers.Select(l => (l.Layer, l.After, dropped.Contains(l.Layer))).ToList(), cost.Parameters, cost.Macs));
        }
        return rows;
    }

    /// <summary>
    /// The model to train (Algorithm 1, line 38): the designed description, randomly initialised (seeded), or with
    /// <c>"init": "selected"</c> carrying the selected filters' trained weights into every layer that survives with
    /// the same input producer (a layer after a dropped one reads other channels, so it starts fresh).
    /// </summary>
    public static (ModelDescription Description, PfaNetwork Network) Build(PfaNetwork source, Recipe recipe, bool selected, int seed)
    {
        var designed = Designed(source.Graph, recipe);
        if (selected && recipe.Layers.All(l => l.Dropped is null))
            return Surgery.ChannelSurgery.Apply(source, Surgery.ChannelSurgery.KeptBySpace(source.Graph.Spaces, recipe), false, seed);
        TorchSharp.torch.manual_seed(seed);
        var network = new PfaNetwork(designed);
        if (selected)
        {
            var (_, pruned) = Surgery.ChannelSurgery.Apply(source, Surgery.ChannelSurgery.KeptBySpace(source.Graph.Spaces, recipe), false, seed);
            using (pruned)
            using (TorchSharp.torch.no_grad())
            {
                var from = pruned.state_dict();
                var to = network.state_dict();
                foreach (var n in network.Graph.Nodes)
                {
                    var old = pruned.Graph.Nodes.FirstOrDefault(m => m.Name == n.Name);
                    if (old is null || ProducerOf(network.Graph, n.Index) != ProducerOf(pruned.Graph, old.Index)) continue;
                    foreach (var key in to.Keys.Where(k => k.StartsWith(n.Name + ".", StringComparison.Ordinal)))
                        if (from.TryGetValue(key, out var value) && value.shape.SequenceEqual(to[key].shape)) to[key].copy_(value);
                }
            }
        }
        network.eval();
        return (designed, network);
    }

    /// <summary>The nearest conv or linear layer (or the model input) whose channels a node's input carries.</summary>
    public static string ProducerOf(ModelGraph graph, int node)
    {
        int i = graph.Nodes[node].Inputs[0];
        while (i != LayerNode.ModelInput && !LayerRules.Get(graph.Nodes[i].Type).HasFilters) i = graph.Nodes[i].Inputs[0];
        return i == LayerNode.ModelInput ? "input" : graph.Nodes[i].Name;
    }
}

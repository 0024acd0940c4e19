using Pfa.Core.Errors;
using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Surgery;

/// <summary>
/// Depth for residual networks: an identity residual block — a sum of a branch and the block's own input, both of
/// one shape — removed whole. A trained ResNet behaves like an ensemble of shallower paths, and deleting one of its
/// blocks costs little (Veit et al., NeurIPS 2016); and at batch 1 a small network's time is mostly per-layer
/// overhead that narrower widths do not remove (bench/results/latency.md: ResNet-20 reached 30% of its batch-1 time
/// only at 0.5% of its parameters). The sum's readers read the block's input instead; a ReLU that read the sum and
/// now reads a ReLU's output goes too (relu∘relu = relu). Exact: the result computes what the original computes with
/// the branch's output zeroed. Blocks whose shortcut is a layer (a projection, a padding) change shape and stay.
/// </summary>
public static class BlockRemoval
{
    /// <summary>A removable block: its sum, the layer the shortcut reads (the block's input), and the branch's layers.</summary>
    public sealed record Block(string Sum, string Input, IReadOnlyList<string> Branch);

    /// <summary>Every removable block of a graph, in the graph's order. The model's last layer is never a block's sum.</summary>
    public static IReadOnlyList<Block> Blocks(ModelGraph graph)
    {
        var readers = Readers(graph);
        var blocks = new List<Block>();
        foreach (var sum in graph.Nodes.Take(graph.Nodes.Count - 1).Where(n => n.Type == LayerType.Add && n.Inputs.Count == 2))
            foreach (var (end, input) in new[] { (sum.Inputs[0], sum.Inputs[1]), (sum.Inputs[1], sum.Inputs[0]) })
                if (Branch(graph, readers, sum, end, input) is { } branch)
                {
                    blocks.Add(new Block(sum.Name, graph.Nodes[input].Name, branch.Select(i => graph.Nodes[i].Name).ToList()));
                    break;
                }
        return blocks;
    }

    /// <summary>The layers between <paramref name="input"/> and <paramref name="end"/> (in order), when they form a
    /// branch that only the sum reads and that reads nothing from before the block's input; else null.</summary>
    static List<int>? Branch(ModelGraph graph, List<int>[] readers, LayerNode sum, int end, int input)
    {
        if (input == LayerNode.ModelInput || end == LayerNode.ModelInput || end == input || end < input) return null;
        if (!graph.Nodes[end].OutShape.SequenceEqual(graph.Nodes[input].OutShape)) return null;
        var branch = new SortedSet<int>();
        var stack = new Stack<int>([end]);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (i == input || !branch.Add(i)) continue;
            foreach (int j in graph.Nodes[i].Inputs)
            {
                if (j != input && j < input) return null;   // reads from before the block (the model input included)
                stack.Push(j);
            }
        }
        foreach (int i in branch)
            if (readers[i].Any(r => r != sum.Index && !branch.Contains(r))) return null;   // read from outside the block
        return [.. branch];
    }

    static List<int>[] Readers(ModelGraph graph)
    {
        var readers = graph.Nodes.Select(_ => new List<int>()).ToArray();
        foreach (var n in graph.Nodes)
            foreach (int j in n.Inputs)
                if (j != LayerNode.ModelInput) readers[j].Add(n.Index);
        return readers;
    }

    /// <summary>The description without the blocks of these sums. Every kept layer keeps its name (a default
    /// positional name is written out) and lists its inputs by name, so its parameters keep their keys.</summary>
    public static ModelDescription Apply(ModelDescription description, IReadOnlyCollection<string> sums)
    {
        var graph = ModelGraph.Build(description);
        var blocks = Blocks(graph).ToDictionary(b => b.Sum);
        var byName = graph.Nodes.ToDictionary(n => n.Name, n => n.Index);
        var redirect = new Dictionary<int, int>();   // a removed layer → the layer its readers read instead
        foreach (var sum in sums)
        {
            if (!blocks.TryGetValue(sum, out var block))
                throw new PfaException(ErrorCodes.InvalidRecipe, $"'{sum}' is not the sum of a removable residual block of this model (removable: {(blocks.Count == 0 ? "none" : string.Join(", ", blocks.Keys))}); was the recipe made for another model?");
            foreach (var name in block.Branch) redirect[byName[name]] = LayerNode.ModelInput;   // nothing kept reads them
            redirect[byName[sum]] = byName[block.Input];
        }
        int Resolve(int i) { while (i != LayerNode.ModelInput && redirect.TryGetValue(i, out int to)) i = to; return i; }
        // A ReLU that now reads a ReLU's output computes nothing new.
        foreach (var n in graph.Nodes.Take(graph.Nodes.Count - 1))
            if (!redirect.ContainsKey(n.Index) && n.Type == LayerType.ReLU && n.Inputs.Count == 1 && redirect.ContainsKey(n.Inputs[0])
                && Resolve(n.Inputs[0]) is int source && source != LayerNode.ModelInput && graph.Nodes[source].Type == LayerType.ReLU)
                redirect[n.Index] = source;

        string Reference(int j) { int k = Resolve(j); return k == LayerNode.ModelInput ? "input" : graph.Nodes[k].Name; }
        var layers = graph.Nodes.Where(n => !redirect.ContainsKey(n.Index))
            .Select(n => n.Spec with { Name = n.Name, Inputs = n.Inputs.Select(Reference).ToList() }).ToList();
        return description with { Layers = layers };
    }

    /// <summary>The network without the blocks of these sums, every kept layer's parameters and statistics copied.</summary>
    public static (ModelDescription Description, PfaNetwork Network) Apply(PfaNetwork source, IReadOnlyCollection<string> sums)
    {
        var description = Apply(source.Graph.Description, sums);
        var result = new PfaNetwork(description);
        using (no_grad())
        {
            var from = source.state_dict();
            foreach (var (key, target) in result.state_dict()) target.copy_(from[key]);
        }
        result.eval();
        return (description, result);
    }
}

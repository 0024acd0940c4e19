using Pfa.Core.Errors;
using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Surgery;

/// <summary>
/// Depth for residual networks: a residual block — a sum of a branch and a shortcut (the block's input, or a
/// projection or padding of it) — reduced to its shortcut. A trained ResNet behaves like an ensemble of shallower paths, and deleting one of its
/// blocks costs little (Veit et al., NeurIPS 2016); and at batch 1 a small network's time is mostly per-layer
/// overhead that narrower widths do not remove (bench/results/latency.md: ResNet-20 reached 30% of its batch-1 time
/// only at 0.5% of its parameters). The sum's readers read the block's input instead; a ReLU that read the sum and
/// now reads a ReLU's output goes too (relu∘relu = relu). Exact: the result computes what the original computes with
/// the branch's output zeroed.
/// </summary>
public static class BlockRemoval
{
    /// <summary>A removable block: its sum, the shortcut's last layer (what the sum's readers read instead), and the branch's layers.</summary>
    public sealed record Block(string Sum, string Input, IReadOnlyList<string> Branch);

    /// <summary>Every removable block of a graph, in the graph's order: a sum of two inputs, one of which ends a
    /// branch that only the sum reads (its layers read only by each other and the sum; it stops where it reads the
    /// other input's path). When both inputs qualify (a projection shortcut is such a branch too), the longer one is
    /// the block's branch. The model's last layer is never a block's sum.</summary>
    public static IReadOnlyList<Block> Blocks(ModelGraph graph)
    {
        var readers = Readers(graph);
        var blocks = new List<Block>();
        foreach (var sum in graph.Nodes.Take(graph.Nodes.Count - 1).Where(n => n.Type == LayerType.Add && n.Inputs.Count == 2))
        {
            var options = new[] { (End: sum.Inputs[0], Input: sum.Inputs[1]), (End: sum.Inputs[1], Input: sum.Inputs[0]) }
                .Select(o => (o.Input, Branch: Branch(graph, readers, sum, o.End, o.Input)))
                .Where(o => o.Branch is not null).ToList();
            if (options.Count == 0) continue;
            var (input, branch) = options.MaxBy(o => o.Branch!.Count);   // the first of equals
            blocks.Add(new Block(sum.Name, graph.Nodes[input].Name, branch!.Select(i => graph.Nodes[i].Name).ToList()));
        }
        return blocks;
    }

    /// <summary>The layers of the branch that ends at <paramref name="end"/> (ascending): everything it reads back to
    /// the other input's path (<paramref name="input"/> and what it reads), when only the branch and the sum read
    /// them; else null.</summary>
    static List<int>? Branch(ModelGraph graph, List<int>[] readers, LayerNode sum, int end, int input)
    {
        if (input == LayerNode.ModelInput || end == LayerNode.ModelInput || end == input) return null;
        var shortcut = new HashSet<int>();   // input and everything it reads: stays
        var stack = new Stack<int>([input]);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (i == LayerNode.ModelInput || !shortcut.Add(i)) continue;
            foreach (int j in graph.Nodes[i].Inputs) stack.Push(j);
        }
        if (shortcut.Contains(end)) return null;
        var branch = new SortedSet<int>();
        stack.Push(end);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (i == LayerNode.ModelInput || shortcut.Contains(i) || !branch.Add(i)) continue;
            foreach (int j in graph.Nodes[i].Inputs) stack.Push(j);
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

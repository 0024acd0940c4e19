using Pfa.Core.Errors;
using Pfa.Core.Model.Blocks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model;

/// <summary>
/// Describes a TorchSharp <c>nn.Sequential</c> so that users never write their architecture twice: the
/// children become layers with the children's names, so the Sequential's own <c>state_dict</c> keys are the
/// description's parameter keys. A nested Sequential contributes its children under its name ("layer1.0"); a
/// residual block (<see cref="IPfaBlock"/>: the shipped BasicBlock, Bottleneck, InvertedResidual, or your own)
/// contributes the layers it describes, additions included.
/// </summary>
public static class SequentialExporter
{
    public static ModelDescription Describe(Sequential model, IReadOnlyList<int> inputShape, string? name = null, Normalization? normalize = null)
    {
        var layers = new List<LayerSpec>();
        var modules = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        LayerSpec Leaf(string layerName, nn.Module m)
        {
            modules[layerName] = m;
            return DescribeLeaf(layerName, m);
        }
        void Walk(Sequential seq, string prefix)
        {
            foreach (var (childName, module) in seq.named_children())
            {
                string full = prefix + childName;
                string input = layers.Count == 0 ? "input" : layers[^1].Name!;
                if (module is IPfaBlock block) layers.AddRange(block.Describe(full, input, Leaf));
                else if (module is Sequential inner) Walk(inner, full + ".");
                else layers.Add(Leaf(full, module));
            }
        }
        Walk(model, "");
        // Names equal to the position are left implicit, as in the description's defaults.
        for (int i = 0; i < layers.Count; i++)
            if (layers[i].Name == i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                layers[i] = layers[i] with { Name = null };

        var description = new ModelDescription { Name = name, Input = inputShape.ToList(), Normalize = normalize, Layers = layers };
        var graph = ModelGraph.Build(description);
        CheckInputSizes(graph, modules);
        return description;
    }

    static LayerSpec DescribeLeaf(string name, nn.Module m)
    {
        var rules = Layers.LayerRules.All;
        foreach (var rule in rules)
            if (rule.Describe(name, m) is { } spec) return spec;
        throw new PfaException(ErrorCodes.UnsupportedModule,
            $"module '{name}' of the Sequential is a {m.GetType().Name}{rules.Select(r => r.UnsupportedDetail(m)).FirstOrDefault(d => d is not null)}, which a model description cannot express. " +
            $"Supported: {string.Join(", ", rules.Select(r => r.ExportNote).OfType<string>())}, nested Sequentials, and blocks implementing IPfaBlock (BasicBlock, Bottleneck, InvertedResidual).");
    }

    // The description infers input sizes; make sure the modules agree, or their weights would not load.
    static void CheckInputSizes(ModelGraph graph, Dictionary<string, nn.Module> modules)
    {
        foreach (var node in graph.Nodes)
        {
            if (!modules.TryGetValue(node.Name, out var module)) continue;
            long? declared = Layers.LayerRules.Get(node.Type).DeclaredInput(module);
            if (declared is { } v && v != node.InShape[0])
                throw new PfaException(ErrorCodes.InvalidModel,
                    $"module '{node.Name}' ({module.GetType().Name}) expects {v} input channels/features, but the layers before it produce shape [{string.Join(", ", node.InShape)}] for input [{string.Join(", ", graph.InputShape)}]. Check the input shape passed to Describe.");
        }
    }
}

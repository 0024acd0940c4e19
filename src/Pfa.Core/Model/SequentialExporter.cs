using Pfa.Core.Errors;
using Pfa.Core.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Model;

/// <summary>
/// Describes a TorchSharp <c>nn.Sequential</c> so that users never write their architecture twice: the
/// children become layers with the children's names, so the Sequential's own <c>state_dict</c> keys are the
/// description's parameter keys.
/// </summary>
public static class SequentialExporter
{
    public static ModelDescription Describe(Sequential model, IReadOnlyList<int> inputShape, string? name = null, Normalization? normalize = null)
    {
        var layers = new List<LayerSpec>();
        int position = 0;
        foreach (var (childName, module) in model.named_children())
        {
            layers.Add(Describe(childName, module, position));
            position++;
        }
        // Names equal to the position are left implicit, as in the description's defaults.
        for (int i = 0; i < layers.Count; i++)
            if (layers[i].Name == i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                layers[i] = layers[i] with { Name = null };

        var description = new ModelDescription { Name = name, Input = inputShape.ToList(), Normalize = normalize, Layers = layers };
        var graph = ModelGraph.Build(description);
        CheckInputSizes(model, graph);
        return description;
    }

    static LayerSpec Describe(string name, nn.Module m, int position)
    {
        var rules = Layers.LayerRules.All;
        foreach (var rule in rules)
            if (rule.Describe(name, m) is { } spec) return spec;
        throw new PfaException(ErrorCodes.UnsupportedModule,
            $"child {position} ('{name}') of the Sequential is a {m.GetType().Name}{rules.Select(r => r.UnsupportedDetail(m)).FirstOrDefault(d => d is not null)}, which a model description cannot express. " +
            $"Supported: {string.Join(", ", rules.Select(r => r.ExportNote).OfType<string>())}.");
    }

    // The description infers input sizes; make sure the module agrees, or its weights would not load.
    static void CheckInputSizes(Sequential model, ModelGraph graph)
    {
        int i = 0;
        foreach (var (childName, module) in model.named_children())
        {
            var node = graph.Nodes[i++];
            long? declared = Layers.LayerRules.Get(node.Type).DeclaredInput(module);
            if (declared is { } v && v != node.InShape[0])
                throw new PfaException(ErrorCodes.InvalidModel,
                    $"child '{childName}' ({module.GetType().Name}) expects {v} input channels/features, but the layers before it produce shape [{string.Join(", ", node.InShape)}] for input [{string.Join(", ", graph.InputShape)}]. Check the input shape passed to Describe.");
        }
    }
}

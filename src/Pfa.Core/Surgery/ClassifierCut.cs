using Pfa.Core.Errors;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Surgery;

/// <summary>
/// PFA §4.3 to the end: a model specialised to a target domain keeps only that domain's outputs. The classifier
/// (the model's last layer, a linear) keeps the rows of the listed classes, in the listed order; the description
/// records the original class of each output (<see cref="ModelDescription.Classes"/>). Every other weight is copied
/// as it is, so the cut model's logits are the original's logits for those classes (to the last bit a narrower
/// GEMM may round differently): what the gate compares with.
/// </summary>
public static class ClassifierCut
{
    /// <summary>The model restricted to <paramref name="classes"/> (original class labels; for a model already cut,
    /// among its own classes).</summary>
    public static PfaNetwork Apply(PfaNetwork network, IReadOnlyList<int> classes)
    {
        var graph = network.Graph;
        var head = graph.Nodes[^1];
        if (head.Type != LayerType.Linear)
            throw new PfaException(ErrorCodes.NotApplicable, $"\"classifier\": \"classes\" cuts the model's last layer, which must be a linear classifier; '{head.Name}' is {head.Type}.");
        var outputs = graph.Description.Classes;   // the original class of each output, or null: output i is class i
        var rows = classes.Select(c =>
        {
            int row = outputs is null ? c : outputs.IndexOf(c);
            if (row < 0 || row >= head.OutShape[0])
                throw new PfaException(ErrorCodes.InvalidArgument, $"class {c} is not one of the model's outputs ({(outputs is null ? $"0…{head.OutShape[0] - 1}" : string.Join(", ", outputs))}).");
            return (long)row;
        }).ToArray();
        if (rows.Distinct().Count() != rows.Length) throw new PfaException(ErrorCodes.InvalidArgument, $"the classes [{string.Join(", ", classes)}] name a class twice.");

        var d = graph.Description;
        var layers = d.Layers.ToList();
        layers[^1] = layers[^1] with { Out = rows.Length };
        var cut = d with { Layers = layers, Classes = classes.ToList() };
        var result = new PfaNetwork(cut);
        using var _ = no_grad();
        using var index = tensor(rows);
        var source = network.state_dict();
        foreach (var (key, target) in result.state_dict())
        {
            var from = source[key];
            if (key == $"{head.Name}.weight" || key == $"{head.Name}.bias")
            {
                using var picked = from.index_select(0, index);
                target.copy_(picked);
            }
            else target.copy_(from);
        }
        result.eval();
        return result;
    }
}

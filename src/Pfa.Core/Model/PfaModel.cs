using Pfa.Core.Checkpoints;
using TorchSharp.Modules;

namespace Pfa.Core.Model;

/// <summary>The two calls most users need: load a described model with its weights, and export a trained
/// TorchSharp Sequential as description + weights.</summary>
public static class PfaModel
{
    /// <summary>Builds the network of <paramref name="modelPath"/> and loads <paramref name="weightsPath"/> into it.</summary>
    public static PfaNetwork Load(string modelPath, string weightsPath)
    {
        var description = ModelDescription.Load(modelPath);
        return Load(description, weightsPath);
    }

    public static PfaNetwork Load(ModelDescription description, string weightsPath)
    {
        var network = new PfaNetwork(description);
        var weights = Checkpoint.Read(weightsPath);
        try { Checkpoint.LoadInto(network, weights, weightsPath); }
        finally { foreach (var (_, t) in weights) t.Dispose(); }
        network.eval();
        return network;
    }

    /// <summary>Writes the network's weights (.dat or .safetensors, by extension) atomically.</summary>
    public static void SaveWeights(PfaNetwork network, string weightsPath) => Checkpoint.Write(weightsPath, Checkpoint.StateOf(network));

    /// <summary>
    /// Describes <paramref name="model"/> and writes model.json and its weights. Call it after training;
    /// the Sequential's own state_dict keys are the description's keys, so nothing is renamed.
    /// </summary>
    public static ModelDescription Export(Sequential model, IReadOnlyList<int> inputShape, string modelPath, string weightsPath,
        string? name = null, Normalization? normalize = null)
    {
        var description = SequentialExporter.Describe(model, inputShape, name, normalize);
        Checkpoint.Write(weightsPath, model.state_dict().Select(kv => (kv.Key, kv.Value)));
        description.Save(modelPath);
        return description;
    }
}

using Pfa.Core.Checkpoints;
using Pfa.Core.Data;
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

    /// <summary>A lookup of each layer's trained weight ("name.weight"), for selection criteria that read weights.</summary>
    public static Func<string, TorchSharp.torch.Tensor?> WeightsOf(PfaNetwork network)
    {
        var weights = network.named_parameters().ToDictionary(p => p.name, p => (TorchSharp.torch.Tensor)p.parameter);
        return layer => weights.GetValueOrDefault(layer + ".weight");
    }

    /// <summary>Writes the network's weights (.dat or .safetensors, by extension) atomically.</summary>
    public static void SaveWeights(PfaNetwork network, string weightsPath) => Checkpoint.Write(weightsPath, Checkpoint.StateOf(network));

    /// <summary>
    /// Describes <paramref name="model"/> and writes model.json and its weights, taking the input shape and the
    /// normalisation from the dataset it was trained on — so the tool evaluates and fine-tunes on exactly the
    /// inputs the model saw. Call it after training; the Sequential's own state_dict keys are the description's
    /// keys, so nothing is renamed.
    /// </summary>
    /// <param name="model">The trained network.</param>
    /// <param name="trainedOn">The dataset the model was trained on (its <see cref="Dataset.SampleShape"/> and <see cref="Dataset.Normalize"/>).</param>
    /// <param name="modelPath">Where to write model.json.</param>
    /// <param name="weightsPath">Where to write the weights: <c>.dat</c> (TorchSharp's format) or <c>.safetensors</c>.</param>
    /// <param name="name">The model's name in recipes and reports; default: the folder of <paramref name="modelPath"/>.</param>
    public static ModelDescription Export(Sequential model, Dataset trainedOn, string modelPath, string weightsPath, string? name = null) =>
        Export(model, trainedOn.SampleShape, trainedOn.Normalize, modelPath, weightsPath, name);

    /// <summary>
    /// Describes <paramref name="model"/> and writes model.json and its weights. The normalisation is a required
    /// argument on purpose: a model trained on normalised inputs but exported without them would be evaluated on
    /// different inputs without a word. Pass <c>null</c> only when training used the raw [0, 1] pixels.
    /// </summary>
    /// <param name="model">The trained network.</param>
    /// <param name="inputShape">One sample's shape, e.g. [1, 28, 28].</param>
    /// <param name="normalize">The per-channel mean and std the training inputs were normalised with, or null for none.</param>
    /// <param name="modelPath">Where to write model.json.</param>
    /// <param name="weightsPath">Where to write the weights: <c>.dat</c> (TorchSharp's format) or <c>.safetensors</c>.</param>
    /// <param name="name">The model's name in recipes and reports; default: the folder of <paramref name="modelPath"/>.</param>
    public static ModelDescription Export(Sequential model, IReadOnlyList<int> inputShape, Normalization? normalize, string modelPath, string weightsPath,
        string? name = null)
    {
        name ??= DefaultName(modelPath);
        var description = SequentialExporter.Describe(model, inputShape, name, normalize);
        Checkpoint.Write(weightsPath, model.state_dict().Select(kv => (kv.Key, kv.Value)));
        description.Save(modelPath);
        return description;
    }

    /// <summary>The default model name of a model.json path: runs/fashion/model.json → "fashion"; runs/vgg6.json → "vgg6".</summary>
    public static string DefaultName(string modelPath)
    {
        var full = Path.GetFullPath(modelPath);
        var stem = Path.GetFileNameWithoutExtension(full);
        if (stem != "model") return stem;
        return Path.GetFileName(Path.GetDirectoryName(full)) is { Length: > 0 } folder ? folder : stem;
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Json;

namespace Pfa.Core.Model;

/// <summary>Input normalisation applied by every verb: uint8 data is first scaled to [0, 1], then each
/// channel c becomes (x − mean[c]) / std[c].</summary>
public sealed record Normalization
{
    public List<double> Mean { get; init; } = [];
    public List<double> Std { get; init; } = [];
}

/// <summary>
/// model.json (<c>"schema": "pfa.model/1"</c>): the architecture of a network as a list of layers, each
/// reading the previous one unless it names its inputs. See README.md, "Model description".
/// </summary>
public sealed record ModelDescription
{
    public const string SchemaId = "pfa.model/1";

    public string Schema { get; init; } = SchemaId;
    public string? Name { get; init; }
    /// <summary>Shape of one sample: [C, H, W] for images, [D] for vectors.</summary>
    public List<int> Input { get; init; } = [];
    public Normalization? Normalize { get; init; }
    public List<LayerSpec> Layers { get; init; } = [];
    /// <summary>For a model cut to a target domain (<c>"classifier": "classes"</c>): the original class of each
    /// output, in output order. Evaluation keeps those classes' samples and maps each label to its output.</summary>
    public List<int>? Classes { get; init; }

    /// <summary>Reads and validates a description; errors name the file, line and column.</summary>
    /// <summary>The largest model.json read: a description of <see cref="ModelGraph.MaxLayers"/> layers is far smaller.</summary>
    public const long MaxFileBytes = 16L << 20;

    public static ModelDescription Load(string path)
    {
        if (System.IO.File.Exists(path) && new FileInfo(path).Length > MaxFileBytes)
            throw new Errors.PfaException(Errors.ErrorCodes.InvalidModel, $"model description '{path}' is {new FileInfo(path).Length / (1 << 20):N0} MiB; descriptions are limited to {MaxFileBytes >> 20} MiB ({ModelGraph.MaxLayers:N0} layers).", path);
        var input = JsonFiles.Read<ModelDescription>(path, "model description");
        ModelGraph.Build(input.Value, input);
        return input.Value;
    }

    public static ModelDescription Parse(string json, string sourceName = "model.json")
    {
        var input = JsonFiles.Parse<ModelDescription>(System.Text.Encoding.UTF8.GetBytes(json), sourceName, "model description");
        ModelGraph.Build(input.Value, input);
        return input.Value;
    }

    public void Save(string path) => AtomicFile.WriteText(path, ToJson());

    public string ToJson() => JsonFiles.Serialize(this);

    /// <summary>The layer name used in parameter keys: the explicit name or the position.</summary>
    public string LayerName(int index) => Layers[index].Name ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal static PfaException Invalid(JsonInput<ModelDescription>? source, string jsonPath, string message) =>
        source is not null
            ? source.Error(ErrorCodes.InvalidModel, jsonPath, message)
            : new PfaException(ErrorCodes.InvalidModel, message);
}

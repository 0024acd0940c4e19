using Pfa.Core.Errors;
using Pfa.Core.Json;

namespace Pfa.Core.Spectra;

/// <summary>spectra.json (<c>"schema": "pfa.spectra/1"</c>): every analysed layer's spectrum, written by
/// <c>dotnet pfa analyze</c> and read by <c>dotnet pfa recipe</c>.</summary>
public sealed record SpectraFile
{
    public const string SchemaId = "pfa.spectra/1";
    public string Schema { get; init; } = SchemaId;
    public List<LayerSpectrum> Layers { get; init; } = [];

    public void Save(string path) => AtomicFile.WriteText(path, JsonFiles.Serialize(this));

    public static SpectraFile Load(string path)
    {
        var input = JsonFiles.Read<SpectraFile>(path, "spectra");
        if (input.Value.Schema != SchemaId)
            throw input.Error(ErrorCodes.InvalidJson, "$.schema", $"unknown spectra schema '{input.Value.Schema}'; expected \"{SchemaId}\".");
        return input.Value;
    }

    public IReadOnlyDictionary<string, LayerSpectrum> ByLayer() => Layers.ToDictionary(l => l.Layer);
}

using System.Security.Cryptography;
using Pfa.Core.Model;
using Pfa.Core.Onnx;

namespace Pfa.Core.Pipeline;

/// <summary>
/// The deployable artifact of a compression (issue 23): model.onnx beside the compressed weights, written only after
/// ONNX Runtime agreed with TorchSharp on it, with the recipe's SHA-256 in its metadata
/// (<see cref="LatencyReport"/> measures it in ONNX Runtime). pfa.json's <c>"onnx": false</c> turns it off.
/// </summary>
public static class OnnxArtifact
{
    public const string FileName = "model.onnx";

    public static void Write(PfaNetwork compressed, string path, string recipePath, string strategy) =>
        OnnxExporter.Save(compressed, path, new Dictionary<string, string>
        {
            ["pfa.recipe_sha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(recipePath))),
            ["pfa.strategy"] = strategy,
        });
}

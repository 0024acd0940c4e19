using System.Security.Cryptography;
using Pfa.Core.Model;
using Pfa.Core.Onnx;

namespace Pfa.Core.Pipeline;

/// <summary>
/// The deployable artifact of a compression (issue 23): model.onnx beside the compressed weights, written only after
/// ONNX Runtime agreed with TorchSharp on it, with the recipe's SHA-256 in its metadata; and the latency of the
/// original and the compressed model in ONNX Runtime, the runtime .NET teams serve with. pfa.json's
/// <c>"onnx": false</c> turns it off.
/// </summary>
public static class OnnxArtifact
{
    public const string FileName = "model.onnx";

    public static Latencies Write(PfaNetwork original, PfaNetwork compressed, string path, string recipePath, string strategy)
    {
        OnnxExporter.Save(compressed, path, new Dictionary<string, string>
        {
            ["pfa.recipe_sha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(recipePath))),
            ["pfa.strategy"] = strategy,
        });
        // Both in turn, the same protocol as libtorch's row: batch 1, warm, median of 20.
        const int runs = 20;
        using var before = OnnxRuntimeModel.Of(original);
        using var after = new OnnxRuntimeModel(File.ReadAllBytes(path), compressed.Graph.InputShape);
        double b = before.MedianMilliseconds(1, runs), a = after.MedianMilliseconds(1, runs);
        return new Latencies
        {
            BeforeMs = Math.Round(b, 4), AfterMs = Math.Round(a, 4), Percent = Math.Round(100 * a / b, 2),
            Batch = 1, Runs = runs, Threads = Environment.ProcessorCount,
        };
    }
}

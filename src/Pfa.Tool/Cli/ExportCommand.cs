using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Pfa.Core.Errors;
using Pfa.Core.Json;
using Pfa.Core.Model;
using Pfa.Core.Onnx;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa export</c>: a model (original or compressed) as ONNX for ONNX Runtime.</summary>
public static class ExportCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var onnx = new Option<string>("--onnx") { Description = "The .onnx file to write.", Required = true };
        var recipe = new Option<string?>("--recipe") { Description = "The recipe the model came from: its SHA-256 goes into the ONNX metadata (pfa.recipe_sha256)." };
        var json = CommonOptions.Json();
        var cmd = new Command("export", "Export a model as ONNX: input 'input' float32 [N, C, H, W] pixels in [0, 1] (the model's normalisation is in the graph), output 'logits' [N, classes], batch dynamic, opset 17; checked by ONNX Runtime against TorchSharp before it is written.")
        {
            model, weights, onnx, recipe, json,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var target = r.GetValue(onnx)!;
            if (string.IsNullOrWhiteSpace(target)) throw new PfaException(ErrorCodes.InvalidArgument, "--onnx needs a file name (e.g. --onnx model.onnx).");
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(recipe), "recipe")], [(target, "--onnx")]);
            if (Directory.Exists(target)) throw new PfaException(ErrorCodes.InvalidArgument, $"--onnx '{target}' is a folder; name the file to write (e.g. {Path.Combine(target, "model.onnx")}).");
            var description = ModelDescription.Load(r.GetValue(model)!);
            using var network = PfaModel.Load(description, r.GetValue(weights)!);
            var metadata = new Dictionary<string, string>();
            if (r.GetValue(recipe) is { } rp)
            {
                Pfa.Core.Recipes.Recipe.Load(rp);   // a damaged recipe is an error, not a hash
                metadata["pfa.recipe_sha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(rp)));
            }
            var dir = Path.GetDirectoryName(Path.GetFullPath(target));
            if (dir is not null) Directory.CreateDirectory(dir);
            double difference = OnnxExporter.Save(network, target, metadata);
            var shape = string.Join(", ", network.Graph.InputShape);
            if (r.GetValue(json))
                ctx.Out.Write(JsonFiles.Serialize(new { onnx = target, opset = OnnxExporter.Opset, input = OnnxExporter.InputName, output = OnnxExporter.OutputName, bytes = new FileInfo(target).Length, max_difference = difference }));
            else
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"wrote {target} ({new FileInfo(target).Length / 1024.0:0.#} KiB, opset {OnnxExporter.Opset}): input '{OnnxExporter.InputName}' [N, {shape}] pixels in [0, 1], output '{OnnxExporter.OutputName}' [N, {network.Graph.OutputShape[0]}]; ONNX Runtime agrees with TorchSharp within {difference:G2}"));
            return 0;
        }));
        return cmd;
    }
}

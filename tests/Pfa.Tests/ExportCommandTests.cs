using System.Security.Cryptography;
using System.Text.Json;
using Pfa.Core.Onnx;
using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary><c>dotnet pfa export</c>: the file ONNX Runtime runs with the accuracy <c>eval</c> reports, the recipe's
/// hash in the metadata, and bad input refused before anything is written.</summary>
public sealed class ExportCommandTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_export_runs_in_onnx_runtime_with_the_accuracy_eval_reports()
    {
        var onnx = _dir["deploy/model.onnx"];   // a folder that does not exist yet is created
        var (code, stdout, stderr) = Cli("export", "--model", model.Model, "--weights", model.Weights, "--onnx", onnx);
        Assert.True(code == 0, stderr);
        Assert.Contains("input 'input' [N, 1, 28, 28] pixels in [0, 1], output 'logits' [N, 10]", stdout);
        var evaluated = Cli("eval", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--json");
        Assert.True(evaluated.Code == 0, evaluated.Err);
        double top1 = Math.Round(JsonDocument.Parse(evaluated.Out).RootElement.GetProperty("top1").GetDouble() * 100, 4);
        Assert.True(top1 > 50, $"the fixture model is trained: {top1}%");
        Assert.InRange(CompressEndToEndTests.OnnxAccuracy(onnx) - top1, -0.02, 0.02);
    }

    [Fact]
    public void The_recipe_hash_and_the_model_name_are_in_the_metadata()
    {
        var analysed = Cli("analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "200", "--out", _dir["analysis"]);
        Assert.True(analysed.Code == 0, analysed.Err);
        var recipe = _dir["recipe.json"];
        var made = Cli("recipe", "--model", model.Model, "--analysis", _dir["analysis"], "--out", recipe);
        Assert.True(made.Code == 0, made.Err);
        var onnx = _dir["m.onnx"];
        var (code, _, stderr) = Cli("export", "--model", model.Model, "--weights", model.Weights, "--onnx", onnx, "--recipe", recipe, "--json");
        Assert.True(code == 0, stderr);
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(recipe))), proto.MetadataProps.Single(p => p.Key == "pfa.recipe_sha256").Value);
        Assert.Equal("tiny-fashion", proto.MetadataProps.Single(p => p.Key == "pfa.model").Value);
        Assert.Equal(OnnxExporter.Opset, proto.OpsetImport.Single().Version);
    }

    [Fact]
    public void Bad_input_is_a_coded_error_and_nothing_is_written_or_changed()
    {
        var weightsBefore = File.ReadAllBytes(model.Weights);
        // Over an input.
        var over = Cli("export", "--model", model.Model, "--weights", model.Weights, "--onnx", model.Weights);
        Assert.Equal(2, over.Code);
        Assert.Contains("PFA0009", over.Err);
        Assert.Equal(weightsBefore, File.ReadAllBytes(model.Weights));
        // A folder.
        var folder = Cli("export", "--model", model.Model, "--weights", model.Weights, "--onnx", _dir.Path);
        Assert.Equal(2, folder.Code);
        Assert.Contains("is a folder", folder.Err);
        // Weights that do not fit the description.
        var wrong = _dir["wrong.json"];
        File.WriteAllText(wrong, File.ReadAllText(model.Model).Replace("\"out\": 32", "\"out\": 31"));
        var mismatch = Cli("export", "--model", wrong, "--weights", model.Weights, "--onnx", _dir["x.onnx"]);
        Assert.Equal(2, mismatch.Code);
        Assert.Matches("PFA000[45]", mismatch.Err);
        Assert.False(File.Exists(_dir["x.onnx"]));
        // A damaged recipe.
        var recipe = _dir["bad-recipe.json"];
        File.WriteAllText(recipe, "{ not json");
        var damaged = Cli("export", "--model", model.Model, "--weights", model.Weights, "--onnx", _dir["y.onnx"], "--recipe", recipe);
        Assert.Equal(2, damaged.Code);
        Assert.Contains("PFA0002", damaged.Err);
        Assert.False(File.Exists(_dir["y.onnx"]));
        Assert.DoesNotContain("   at ", over.Err + folder.Err + mismatch.Err + damaged.Err);
    }
}

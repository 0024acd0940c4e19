using System.Text.Json;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using TorchSharp;
using static Pfa.Tests.TestCli;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// Compression for a target domain down to its classifier (PFA §4.3, issue 24): "classifier": "classes" keeps the
/// listed classes' outputs in the listed order; before and after are measured among those classes, the "before"
/// being the original model's logits for those classes only (checked here by independent arithmetic on the
/// original's full logits); eval, apply and the ONNX export follow the model's classes.
/// </summary>
public sealed class TargetDomainTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();
    static readonly int[] Footwear = [9, 5, 7, 8];   // ankle boot, sandal, sneaker, bag: listed out of order on purpose

    [Fact]
    public void The_cut_classifier_gives_the_originals_logits_for_the_listed_classes_in_their_order()
    {
        torch.manual_seed(4);
        using var original = PfaModel.Load(ModelDescription.Load(model.Model), model.Weights);
        using var cut = ClassifierCut.Apply(original, Footwear);
        Assert.Equal(Footwear, cut.Graph.Description.Classes);
        Assert.Equal([4], cut.Graph.OutputShape);
        using var x = randn(8, 1, 28, 28);
        using var _ = no_grad();
        using var full = original.forward(x);
        using var mine = cut.forward(x);
        var f = full.data<float>().ToArray();
        var m = mine.data<float>().ToArray();
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < Footwear.Length; k++)
                Assert.Equal(f[i * 10 + Footwear[k]], m[i * 4 + k], 1e-5);   // a narrower GEMM may round the last bit differently
        // Cutting a cut model again selects among its own classes, by original label.
        using var again = ClassifierCut.Apply(cut, [8, 9]);
        Assert.Equal([8, 9], again.Graph.Description.Classes);
        using var two = again.forward(x);
        Assert.Equal(f[10 * 3 + 8], two.data<float>()[3 * 2 + 0], 1e-5);
    }

    [Fact]
    public void A_domain_holding_class_0_is_data_of_a_model_cut_to_it()
    {
        // The domain bench's clothing classes were refused ("class 0 is not among the model's outputs (0, 1, 2, …)"):
        // the check took FirstOrDefault's 0 for a missing class.
        using var original = PfaModel.Load(ModelDescription.Load(model.Model), model.Weights);
        using var cut = ClassifierCut.Apply(original, [0, 1, 2, 3, 4, 6]);
        var description = cut.Graph.Description;
        var spec = TargetDomain.For(new DataSpec { Path = "d", Classes = [0, 1, 2, 3, 4, 6] }, description);
        Assert.Equal([0, 1, 2, 3, 4, 6], spec.Relabel);
        Assert.Equal([6, 0], TargetDomain.For(new DataSpec { Path = "d", Classes = [6, 0] }, description).Classes);
        Assert.Equal([0, 1, 2, 3, 4, 6], TargetDomain.For(new DataSpec { Path = "d" }, description).Classes);
        var e = Assert.Throws<PfaException>(() => TargetDomain.For(new DataSpec { Path = "d", Classes = [0, 5, 7] }, description));
        Assert.Contains("class 5 is not among the model's outputs (0, 1, 2, 3, 4, 6)", e.Message);
    }

    [Fact]
    public void Compress_cuts_the_head_gates_among_the_classes_and_every_verb_follows_the_models_classes()
    {
        var budget = _dir["pfa.json"];
        File.WriteAllText(budget, $$"""{ "strategy": "footprint", "target": 0.5, "classifier": "classes", "search": false, "data": { "path": "{{TinyFashionModel.Data}}", "classes": [9, 5, 7, 8], "limit": 800 }, "finetune": { "epochs": 1, "batch_size": 32 } }""");
        var (code, stdout, stderr) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--out", _dir["out"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("classifier: 10 → 4 outputs (classes 9, 5, 7, 8)", stderr);
        var compressed = ModelDescription.Load(_dir["out/model.json"]);
        Assert.Equal(Footwear, compressed.Classes);
        Assert.Equal(4, compressed.Layers[^1].Out);
        Assert.Equal(Footwear, Recipe.Load(_dir["out/recipe.json"]).Classes);
        var summary = Summary.Load(_dir["out/summary.json"]);
        Assert.Equal(Footwear, summary.Classes);
        Assert.Equal(4000, summary.EvalSamples);   // the test split's samples of those 4 classes

        // "Before" is the original model restricted to the 4 classes: recomputed here from its full logits.
        Assert.Equal(RestrictedAccuracy(), summary.AccuracyBefore, 6);
        // eval of the compressed model keeps the classes' samples and maps labels to outputs: the gate's number.
        var evaluated = Cli("eval", "--model", _dir["out/model.json"], "--weights", _dir["out/model.dat"], "--data", TinyFashionModel.Data, "--json");
        Assert.True(evaluated.Code == 0, evaluated.Err);
        var json = JsonDocument.Parse(evaluated.Out).RootElement;
        Assert.Equal(4000, json.GetProperty("samples").GetInt64());
        Assert.Equal(summary.AccuracyAfter, Math.Round(json.GetProperty("top1").GetDouble() * 100, 4), 6);
        // apply rebuilds the cut model from the original and the recipe.
        var applied = Cli("apply", "--model", model.Model, "--weights", model.Weights, "--recipe", _dir["out/recipe.json"], "--out", _dir["applied"]);
        Assert.True(applied.Code == 0, applied.Err);
        Assert.Equal(Footwear, ModelDescription.Load(_dir["applied/model.json"]).Classes);
        // The ONNX export says which class each output is.
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(_dir["out/model.onnx"]));
        Assert.Equal("9,5,7,8", proto.MetadataProps.Single(p => p.Key == "pfa.classes").Value);
        // Classes the model no longer has are refused.
        var other = Cli("eval", "--model", _dir["out/model.json"], "--weights", _dir["out/model.dat"], "--data", TinyFashionModel.Data, "--classes", "1,9");
        Assert.Equal(2, other.Code);
        Assert.Contains("class 1 is not among the model's outputs", other.Err);
    }

    /// <summary>Top-1 (%) of the original model on the test images of <see cref="Footwear"/>, deciding among those classes' logits only.</summary>
    double RestrictedAccuracy()
    {
        var description = ModelDescription.Load(model.Model);
        using var network = PfaModel.Load(description, model.Weights);
        network.eval();
        using var test = Dataset.Open(new DataSpec { Path = TinyFashionModel.Data, Split = "test", Classes = [.. Footwear] }, description.Normalize);
        long correct = 0;
        using var _ = no_grad();
        foreach (var batch in test.Batches(500))
            using (batch)
            using (var logits = network.forward(batch.X))
            {
                var l = logits.data<float>().ToArray();
                var y = batch.Y.data<long>().ToArray();
                for (int i = 0; i < y.Length; i++)
                {
                    int best = Footwear.MaxBy(c => l[i * 10 + c]);
                    if (best == y[i]) correct++;
                }
            }
        return Math.Round(100.0 * correct / test.Count, 4);
    }

    [Fact]
    public void Bad_classifier_settings_are_coded_errors()
    {
        var budget = _dir["b.json"];
        File.WriteAllText(budget, """{ "classifier": "classes" }""");
        var (code, _, err) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--data", TinyFashionModel.Data, "--limit", "200", "--epochs", "0", "--out", _dir["o"]);
        Assert.Equal(2, code);
        Assert.Contains("PFA0007", err);
        Assert.Contains("list them", err);
        File.WriteAllText(budget, """{ "classifier": "some" }""");
        (code, _, err) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--data", TinyFashionModel.Data, "--limit", "200", "--epochs", "0", "--out", _dir["o"]);
        Assert.Equal(2, code);
        Assert.Contains("'classifier' must be \"all\" or \"classes\"", err);
        File.WriteAllText(budget, """{ "classifier": "classes" }""");
        (code, _, err) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--data", TinyFashionModel.Data, "--classes", "3,12", "--limit", "200", "--epochs", "0", "--out", _dir["o"]);
        Assert.Equal(2, code);
        Assert.Contains("class 12 is not one of the model's outputs", err);
        Assert.False(Directory.Exists(_dir["o"]));
        // A description whose 'classes' do not match its outputs.
        var json = File.ReadAllText(model.Model).TrimEnd().TrimEnd('}') + ", \"classes\": [1, 2] }";
        var bad = _dir["bad.json"];
        File.WriteAllText(bad, json);
        (code, _, err) = Cli("info", "--model", bad);
        Assert.Equal(2, code);
        Assert.Contains("'classes' names 2 classes but the model's output is [10]", err);
    }
}

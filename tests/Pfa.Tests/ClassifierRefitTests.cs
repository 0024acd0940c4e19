using MathNet.Numerics.LinearAlgebra;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The classifier re-fit of recalibration: the output layer it leaves against a ridge least-squares fit of the
/// original's logits computed independently in MathNet (float64), with and without a bias; the layers it leaves alone;
/// the budget's switch; its place in compress.</summary>
public sealed class ClassifierRefitTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const int Samples = 48;

    Dataset Data()
    {
        var rng = new Random(5);
        DataFiles.Npy(_dir["x.npy"], "<f4", [Samples, 1, 4, 4], Enumerable.Range(0, Samples * 16).SelectMany(_ => BitConverter.GetBytes((float)(rng.NextDouble() * 2 - 0.5))).ToArray());
        DataFiles.Npy(_dir["y.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i % 3)).ToArray());
        return Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
    }

    static PfaNetwork Net(int channels, bool bias = true, string last = "")
    {
        var net = new PfaNetwork(ModelDescription.Parse($$"""
        { "schema": "pfa.model/1", "input": [1, 4, 4], "layers": [
          { "name": "c", "type": "conv2d", "out": {{channels}}, "kernel": 3, "padding": 1 }, { "name": "b", "type": "batchnorm2d" },
          { "name": "r", "type": "relu" }, { "name": "p", "type": "avgpool2d", "kernel": 2 }, { "name": "f", "type": "flatten" },
          { "name": "l", "type": "linear", "out": 3{{(bias ? "" : ", \"bias\": false")}} }{{last}} ] }
        """));
        TrainedLooking.Apply(net);
        net.eval();
        return net;
    }

    /// <summary>Float64 rows of features (what the compressed network's linear layer reads) and targets (the
    /// original's logits) on the batches the re-fit sees: the same seeded shuffle.</summary>
    static (Matrix<double> F, Matrix<double> Z) Rows(PfaNetwork original, PfaNetwork compressed, Dataset data, int batches, int batchSize, int seed)
    {
        var f = new List<double[]>();
        var z = new List<double[]>();
        using (no_grad())
            foreach (var batch in data.ShuffledBatches(batchSize, new Random(seed)).Take(batches))
            {
                var x = batch.X;
                for (int i = 0; i < 5; i++) x = compressed.Layer(i) is { } m ? m.call(x) : x.flatten(1);   // conv, bn, relu, pool, flatten
                var features = x.to_type(ScalarType.Float64).data<double>().ToArray();
                var logits = original.forward(batch.X).to_type(ScalarType.Float64).data<double>().ToArray();
                int n = (int)batch.X.shape[0], d = features.Length / n;
                for (int r = 0; r < n; r++)
                {
                    f.Add(features.Skip(r * d).Take(d).ToArray());
                    z.Add(logits.Skip(r * 3).Take(3).ToArray());
                }
            }
        return (Matrix<double>.Build.DenseOfRowArrays(f), Matrix<double>.Build.DenseOfRowArrays(z));
    }

    static double[] Weight(PfaNetwork net) => ((TorchSharp.Modules.Linear)net.Layer(5)!).weight!.to_type(ScalarType.Float64).data<double>().ToArray();

    [Theory]
    [InlineData(true, 2, 16)]      // 2 of the 3 batches: the fit must use exactly the recalibration batches
    [InlineData(false, 50, 20)]    // no bias: through the origin; more batches than the data has
    public void The_output_layer_becomes_the_ridge_fit_of_the_original_s_logits(bool bias, int batches, int batchSize)
    {
        using var data = Data();
        manual_seed(3);
        using var original = Net(6, bias);
        using var compressed = Net(4, bias);         // fewer channels, other weights: its features differ from the original's
        // A classifier that predicts one class everywhere, so the fit agrees with the original more and is kept.
        using (no_grad())
        {
            var layer = (TorchSharp.Modules.Linear)compressed.Layer(5)!;
            layer.weight!.zero_();
            layer.bias?.copy_(tensor(new[] { 0f, 5f, 0f }));
        }
        var (F, Z) = Rows(original, compressed, data, batches, batchSize, seed: 7);

        // Reference (MathNet): centred ridge for the weights, the means' difference for the bias; the ridge is
        // ClassifierRefit.Ridge times the mean of the diagonal of the (centred or raw) sum of squares.
        int d = F.ColumnCount;
        Vector<double> meanF = F.ColumnSums() / F.RowCount, meanZ = Z.ColumnSums() / Z.RowCount;
        var Fc = bias ? F - Matrix<double>.Build.Dense(F.RowCount, d, (_, j) => meanF[j]) : F;
        var Zc = bias ? Z - Matrix<double>.Build.Dense(Z.RowCount, 3, (_, j) => meanZ[j]) : Z;
        var S = Fc.TransposeThisAndMultiply(Fc);
        double ridge = ClassifierRefit.Ridge * S.Diagonal().Sum() / d;
        var W = (S + ridge * Matrix<double>.Build.DenseIdentity(d)).Solve(Fc.TransposeThisAndMultiply(Zc));   // d × 3
        var b = bias ? meanZ - W.TransposeThisAndMultiply(meanF) : Vector<double>.Build.Dense(3);

        double before = (F * Matrix<double>.Build.DenseOfRowMajor(3, d, Weight(compressed)).Transpose() - Z).FrobeniusNorm();
        int run = ClassifierRefit.Run(original, compressed, data, batches, batchSize, seed: 7);
        Assert.Equal(Math.Min(batches, (Samples + batchSize - 1) / batchSize), run);

        var weight = Weight(compressed);                                   // 3 × d, row-major
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < d; j++)
                Assert.True(Math.Abs(W[j, k] - weight[k * d + j]) <= 1e-4 * (1 + Math.Abs(W[j, k])), $"weight[{k},{j}] {weight[k * d + j]} vs {W[j, k]}");
        var linear = (TorchSharp.Modules.Linear)compressed.Layer(5)!;
        if (bias)
        {
            var got = linear.bias!.to_type(ScalarType.Float64).data<double>().ToArray();
            for (int k = 0; k < 3; k++) Assert.Equal(b[k], got[k], 4);
        }
        else Assert.Null(linear.bias);
        // And the point of it: the compressed network's logits are nearer the original's than before.
        var W2 = Matrix<double>.Build.DenseOfRowMajor(3, d, weight);
        double after = (F * W2.Transpose() + Matrix<double>.Build.Dense(F.RowCount, 3, (_, k) => b[k]) - Z).FrobeniusNorm();
        Assert.True(after < before, $"error to the original's logits {after} ≥ {before} before the re-fit");
    }

    [Fact]
    public void A_network_that_does_not_end_in_a_linear_layer_is_left_as_it_is()
    {
        using var data = Data();
        manual_seed(3);
        using var original = Net(6, last: """, { "name": "s", "type": "sigmoid" }""");
        using var compressed = Net(4, last: """, { "name": "s", "type": "sigmoid" }""");
        var before = Weight(compressed);
        Assert.Equal(0, ClassifierRefit.Run(original, compressed, data, 3, 16, 1));
        Assert.Equal(before, Weight(compressed));
        Assert.Contains("'s' is a sigmoid", ClassifierRefit.NotApplicable(compressed.Graph));
    }

    [Fact]
    public void The_bias_alone_makes_the_mean_logits_the_original_s_and_leaves_the_weights()
    {
        using var data = Data();
        manual_seed(4);
        using var original = Net(6);
        using var compressed = Net(6);
        compressed.load_state_dict(original.state_dict());
        // The same network with one class's bias pushed up: it predicts that class for almost everything, until the
        // fit gives the mean logits back.
        using (no_grad())
        {
            var shifted = ((TorchSharp.Modules.Linear)compressed.Layer(5)!).bias!;
            var values = shifted.data<float>().ToArray();
            values[1] += 20;
            shifted.copy_(tensor(values));
        }
        var (F, Z) = Rows(original, compressed, data, 3, 16, seed: 2);
        var before = Weight(compressed);
        Assert.Equal(3, ClassifierRefit.Run(original, compressed, data, 3, 16, seed: 2, weights: false));
        Assert.Equal(before, Weight(compressed));
        // Reference: mean(z) − W·mean(f), in MathNet.
        var W = Matrix<double>.Build.DenseOfRowMajor(3, F.ColumnCount, before);
        var expected = Z.ColumnSums() / Z.RowCount - W * (F.ColumnSums() / F.RowCount);
        var got = ((TorchSharp.Modules.Linear)compressed.Layer(5)!).bias!.to_type(ScalarType.Float64).data<double>().ToArray();
        for (int k = 0; k < 3; k++) Assert.Equal(expected[k], got[k], 4);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_fit_that_agrees_with_the_original_no_more_than_before_is_not_kept(bool weights)
    {
        using var data = Data();
        manual_seed(6);
        using var original = Net(6);
        using var compressed = Net(6);
        compressed.load_state_dict(original.state_dict());       // agrees on every sample already
        var linear = (TorchSharp.Modules.Linear)compressed.Layer(5)!;
        var weight = Weight(compressed);
        var bias = linear.bias!.data<float>().ToArray();
        Assert.Equal(0, ClassifierRefit.Run(original, compressed, data, 3, 16, seed: 2, weights));
        Assert.Equal(weight, Weight(compressed));
        Assert.Equal(bias, linear.bias!.data<float>().ToArray());
    }

    [Theory]
    [InlineData("""{ "batches": 7, "classifier": false }""", 7, RecalibrateBudget.None)]
    [InlineData("""{ "classifier": "refit" }""", 50, RecalibrateBudget.Refit)]
    [InlineData("""{ "classifier": "bias" }""", 50, RecalibrateBudget.Bias)]
    [InlineData("true", 50, RecalibrateBudget.Bias)]
    public void The_budget_says_what_is_fitted_of_the_classifier(string json, int batches, string classifier)
    {
        var b = PfaBudget.Parse($$"""{ "recalibrate": {{json}} }""").Budget.EffectiveRecalibrate;
        Assert.Equal(batches, b.Batches);
        Assert.Equal(classifier, b.Classifier);
    }

    [Theory]
    [InlineData("""{ "recalibrate": { "classifier": 1 } }""", "PFA0002")]
    [InlineData("""{ "recalibrate": { "classifier": true } }""", "PFA0002")]
    [InlineData("""{ "recalibrate": { "batches": true } }""", "PFA0002")]
    [InlineData("""{ "recalibrate": { "classifier": "weights" } }""", "PFA0007")]
    public void A_bad_classifier_setting_is_a_located_error(string json, string code)
    {
        var e = Assert.Throws<Pfa.Core.Errors.PfaException>(() => PfaBudget.Parse(json));
        Assert.Equal(code, e.Code);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void Compress_fits_the_bias_by_default_the_whole_classifier_when_asked_and_nothing_when_off_and_says_when_a_fit_is_not_kept()
    {
        using (Data()) { }
        manual_seed(2);
        using (var seq = nn.Sequential(("c", nn.Conv2d(1, 8, 3, padding: 1)), ("b", Pfa.Core.Model.Modules.SafeBatchNorm.BatchNorm2d(8)), ("r", nn.ReLU()), ("f", nn.Flatten()), ("l", nn.Linear(128, 3))))
        {
            TrainedLooking.Apply(seq);
            PfaModel.Export(seq, [1, 4, 4], null, _dir["model.json"], _dir["model.dat"]);
        }
        using var original = PfaModel.Load(ModelDescription.Load(_dir["model.json"]), _dir["model.dat"]);
        original.eval();
        using var data = Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
        (double[] Weight, double MeanResidual, string? Kept, string Log) Run(string name, string? setting)
        {
            var recalibrate = setting is null ? "" : ", \"recalibrate\": { \"classifier\": " + setting + " }";
            File.WriteAllText(_dir[name + ".json"], "{ \"strategy\": \"uniform\", \"target\": 0.5, \"finetune\": { \"epochs\": 0 }" + recalibrate + " }");
            var (code, _, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--budget", _dir[name + ".json"],
                "--data", _dir["x.npy"], "--labels", _dir["y.npy"], "--eval-data", _dir["x.npy"], "--eval-labels", _dir["y.npy"], "--json", "--out", _dir[name]);
            Assert.True(code == 0, err);
            var kept = Summary.Load(_dir[$"{name}/summary.json"]).RecalibratedClassifier;
            var label = Recalibration.Describe(kept);
            Assert.Contains($"recalibrated on 1 batches of 128 ({label})", err);
            Assert.Contains($"after recalibration (1 batches: {label})", File.ReadAllText(_dir[$"{name}/report.html"]));
            using var compressed = PfaModel.Load(ModelDescription.Load(_dir[$"{name}/model.json"]), _dir[$"{name}/model.dat"]);
            compressed.eval();
            var (F, Z) = RowsOf(original, compressed, data);
            var linear = (TorchSharp.Modules.Linear)compressed.Layer(4)!;
            var weight = linear.weight!.to_type(ScalarType.Float64).data<double>().ToArray();
            var bias = linear.bias!.to_type(ScalarType.Float64).data<double>().ToArray();
            var residual = F * Matrix<double>.Build.DenseOfRowMajor(3, F.ColumnCount, weight).Transpose() + Matrix<double>.Build.Dense(F.RowCount, 3, (_, k) => bias[k]) - Z;
            return (weight, Enumerable.Range(0, 3).Max(k => Math.Abs(residual.Column(k).Sum())) / F.RowCount, kept, err);
        }
        var off = Run("off", "false");
        var byDefault = Run("default", null);
        var refit = Run("refit", "\"refit\"");
        Assert.Null(off.Kept);
        Assert.DoesNotContain("note: the classifier", off.Log);
        Assert.True(off.MeanResidual > 1e-2, $"mean residual without a fit {off.MeanResidual}");
        foreach (var (run, kind) in new[] { (byDefault, RecalibrateBudget.Bias), (refit, RecalibrateBudget.Refit) })
        {
            if (run.Kept == kind)
            {
                // A kept fit of the bias (alone or with the weights) leaves logits whose mean is the original's.
                Assert.True(run.MeanResidual < 1e-3, $"{kind}: mean residual {run.MeanResidual}");
                if (kind == RecalibrateBudget.Bias) Assert.Equal(off.Weight, run.Weight);     // the weights as surgery left them
            }
            else
            {
                // Not kept: said, and the classifier is surgery's, as with the fit off.
                Assert.Null(run.Kept);
                Assert.Contains("note: the classifier's fit was not kept", run.Log);
                Assert.Equal(off.Weight, run.Weight);
                Assert.Equal(off.MeanResidual, run.MeanResidual, 6);
            }
        }
    }

    static (Matrix<double> F, Matrix<double> Z) RowsOf(PfaNetwork original, PfaNetwork compressed, Dataset data)
    {
        var f = new List<double[]>();
        var z = new List<double[]>();
        using (no_grad())
            foreach (var batch in data.ShuffledBatches(128, new Random(1)))
            {
                var x = batch.X;
                for (int i = 0; i < 4; i++) x = compressed.Layer(i) is { } m ? m.call(x) : x.flatten(1);
                var features = x.to_type(ScalarType.Float64).data<double>().ToArray();
                var logits = original.forward(batch.X).to_type(ScalarType.Float64).data<double>().ToArray();
                int n = (int)batch.X.shape[0], d = features.Length / n;
                for (int r = 0; r < n; r++) { f.Add(features.Skip(r * d).Take(d).ToArray()); z.Add(logits.Skip(r * 3).Take(3).ToArray()); }
            }
        return (Matrix<double>.Build.DenseOfRowArrays(f), Matrix<double>.Build.DenseOfRowArrays(z));
    }
}

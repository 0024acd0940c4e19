using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Model.Modules;
using Pfa.Core.Pipeline;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>Batch-norm recalibration after surgery: the statistics it leaves against float64 code of the
/// cumulative average of batch statistics, and its place in compress (summary, off switch).</summary>
public sealed class RecalibrationTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const int Samples = 40;

    Dataset Data()
    {
        var rng = new Random(12);
        DataFiles.Npy(_dir["x.npy"], "<f4", [Samples, 1, 4, 4], Enumerable.Range(0, Samples * 16).SelectMany(_ => BitConverter.GetBytes((float)(rng.NextDouble() * 2))).ToArray());
        DataFiles.Npy(_dir["y.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i % 2)).ToArray());
        return Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
    }

    [Theory]
    [InlineData(3, 8)]     // 3 of the 5 shuffled batches
    [InlineData(50, 16)]   // more batches than the data has: one pass (3 batches, the last of 8)
    public void Statistics_become_the_equal_weight_average_of_the_batches_statistics(int batches, int batchSize)
    {
        using var data = Data();
        manual_seed(4);
        using var net = new PfaNetwork(ModelDescription.Parse("""
        { "schema": "pfa.model/1", "input": [1, 4, 4], "layers": [
          { "name": "c", "type": "conv2d", "out": 3, "kernel": 3, "padding": 1 }, { "name": "b", "type": "batchnorm2d", "momentum": 0.3 },
          { "name": "d", "type": "dropout", "p": 0.5 }, { "name": "f", "type": "flatten" }, { "name": "l", "type": "linear", "out": 2 } ] }
        """));
        TrainedLooking.Apply(net);   // stale statistics, as after surgery
        var bn = (SafeBatchNorm)net.Layer(1)!;

        // Reference: the conv's outputs on the same seeded batches, per-channel mean and unbiased variance per
        // batch, averaged with equal weights — in float64.
        var means = new double[3];
        var vars = new double[3];
        int seen = 0;
        using (no_grad())
            foreach (var batch in data.ShuffledBatches(batchSize, new Random(9)).Take(batches))
            {
                var y = net.Layer(0)!.call(batch.X).to_type(ScalarType.Float64).permute(1, 0, 2, 3).reshape(3, -1);
                var v = y.data<double>().ToArray();
                int m = v.Length / 3;
                for (int c = 0; c < 3; c++)
                {
                    var xs = v.Skip(c * m).Take(m).ToArray();
                    double mean = xs.Average();
                    means[c] += mean;
                    vars[c] += xs.Sum(t => (t - mean) * (t - mean)) / (m - 1);
                }
                seen++;
            }
        int run = BatchNormRecalibration.Run(net, data, batches, batchSize, seed: 9);
        Assert.Equal(seen, run);
        var runningMean = bn.running_mean!.data<float>().ToArray();
        var runningVar = bn.running_var!.data<float>().ToArray();
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(means[c] / seen, runningMean[c], 4);
            Assert.Equal(vars[c] / seen, runningVar[c], 4);
        }
        Assert.Equal(0.3, bn.momentum);                 // restored
        Assert.False(net.training);
        Assert.All(net.modules(), m => Assert.False(m.training));
    }

    [Theory]
    [InlineData(null, 50)]
    [InlineData("""{ "batches": 7 }""", 7)]
    [InlineData("true", 50)]
    [InlineData("false", 0)]
    public void The_budget_s_recalibrate_is_an_object_true_or_false(string? json, int batches)
    {
        var b = PfaBudget.Parse(json is null ? "{}" : $$"""{ "recalibrate": {{json}} }""");
        Assert.Equal(batches, b.Budget.EffectiveRecalibrate.Batches);
    }

    [Theory]
    [InlineData("""{ "recalibrate": { "batches": -1 } }""", "PFA0007")]
    [InlineData("""{ "recalibrate": { "batch": 5 } }""", "PFA0002")]
    [InlineData("""{ "recalibrate": "yes" }""", "PFA0002")]
    public void A_bad_recalibrate_is_a_located_error(string json, string code)
    {
        var e = Assert.Throws<Pfa.Core.Errors.PfaException>(() => PfaBudget.Parse(json));
        Assert.Equal(code, e.Code);
        Assert.Equal(1, e.Line);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Compress_reports_accuracy_after_surgery_and_after_recalibration(bool recalibrate)
    {
        using (Data()) { }
        manual_seed(2);
        using (var seq = nn.Sequential(("c", nn.Conv2d(1, 8, 3, padding: 1)), ("b", SafeBatchNorm.BatchNorm2d(8)), ("r", nn.ReLU()), ("f", nn.Flatten()), ("l", nn.Linear(128, 2))))
        {
            TrainedLooking.Apply(seq);
            PfaModel.Export(seq, [1, 4, 4], null, _dir["model.json"], _dir["model.dat"]);
        }
        File.WriteAllText(_dir["b.json"], $$"""{ "strategy": "uniform", "target": 0.5, "finetune": { "epochs": 0 }{{(recalibrate ? "" : ", \"recalibrate\": false")}} }""");
        var (code, output, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--budget", _dir["b.json"],
            "--data", _dir["x.npy"], "--labels", _dir["y.npy"], "--eval-data", _dir["x.npy"], "--eval-labels", _dir["y.npy"], "--json", "--out", _dir["out"]);
        Assert.True(code == 0, err);
        var summary = Pfa.Core.Pipeline.Summary.Load(_dir["out/summary.json"]);
        Assert.NotNull(summary.AccuracySurgery);
        if (recalibrate)
        {
            Assert.Equal(1, summary.RecalibrationBatches);          // 40 samples in batches of 128: one
            Assert.NotNull(summary.AccuracyRecalibrated);
            Assert.Equal(summary.AccuracyRecalibrated, summary.AccuracyAfter);   // no fine-tuning: the final model is the recalibrated one
            var label = Recalibration.Describe(summary.RecalibratedClassifier);     // the classifier's bias, when its fit was kept
            Assert.Contains($"recalibrated on 1 batches of 128 ({label})", err);
            Assert.Contains($"after recalibration (1 batches: {label})", File.ReadAllText(_dir["out/report.html"]));
            // One table in summary.md: the stage row sits between the accuracy and latency rows, no blank line.
            Assert.Matches(@"\| top-1 accuracy [^\n]*\|\n\| top-1 right after surgery / after recalibration \(1 batches: " + label + @"\) \| \| [\d.]+% / [\d.]+% \| \|\n\| CPU latency", File.ReadAllText(_dir["out/summary.md"]));
        }
        else
        {
            Assert.Null(summary.AccuracyRecalibrated);
            Assert.Equal(summary.AccuracySurgery, summary.AccuracyAfter);
        }
    }
}

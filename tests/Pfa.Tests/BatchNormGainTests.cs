using Pfa.Core.Analysis;
using Pfa.Core.Checkpoints;
using Pfa.Core.Errors;
using Pfa.Core.Pipeline;
using static Pfa.Tests.TestCli;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// The analysis records, for each layer a batch norm directly follows, that batch norm's scale |γ|/√(var + ε) — what
/// the variance criterion weighs channels by. Checked against the weights file read on its own; kept through the
/// statistics file; shards whose scales differ (other weights) are refused by merge; a damaged entry is a coded error.
/// </summary>
public sealed class BatchNormGainTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    void Analyze(string outDir, params string[] extra)
    {
        var (code, _, err) = Cli(["analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "600", "--out", outDir, .. extra]);
        Assert.True(code == 0, err);
    }

    string Stats(string dir) => Path.Combine(dir, AnalysisResult.StatsFileName);

    [Fact]
    public void Gains_are_the_batch_norms_scale_and_only_where_one_follows()
    {
        Analyze(_dir["a"]);
        var stats = StatisticsFile.Read(Stats(_dir["a"]));
        var weights = Checkpoint.Read(model.Weights).ToDictionary(e => e.Key, e => e.Value);
        double[] Expected(string bn)
        {
            var g = weights[$"{bn}.weight"].to_type(ScalarType.Float64).data<double>().ToArray();
            var v = weights[$"{bn}.running_var"].to_type(ScalarType.Float64).data<double>().ToArray();
            return g.Select((x, i) => Math.Abs(x) / Math.Sqrt(v[i] + 1e-5)).ToArray();
        }
        foreach (var (conv, bn) in new[] { ("c1", "b1"), ("c2", "b2") })
        {
            var gain = stats[conv].Gain;
            Assert.NotNull(gain);
            var expected = Expected(bn);
            Assert.Equal(expected.Length, gain!.Length);
            for (int i = 0; i < gain.Length; i++) Assert.Equal(expected[i], gain[i], 1e-6 * Math.Max(1, expected[i]));
        }
        Assert.Null(stats["f1"].Gain);   // a ReLU follows
        foreach (var s in stats.Values) s.Dispose();
        foreach (var w in weights.Values) w.Dispose();
    }

    [Fact]
    public void Shards_with_other_scales_are_refused_and_a_damaged_entry_is_a_coded_error()
    {
        Analyze(_dir["p1"], "--shard", "1/2");
        Analyze(_dir["p2"], "--shard", "2/2");
        // Part 2 as if analysed with other weights: one batch norm scale changed.
        var stats = StatisticsFile.Read(Stats(_dir["p2"]), out var sampling, out var data);
        stats["c1"].Gain![0] *= 2;
        StatisticsFile.Write(Stats(_dir["p2"]), stats.Values, sampling, data);
        var (code, _, err) = Cli(["merge", _dir["p1"], _dir["p2"], "--out", _dir["m"]]);
        Assert.Equal(2, code);
        Assert.Contains("layer 'c1' was analysed with other weights", err);
        Assert.False(Directory.Exists(_dir["m"]));

        stats["c1"].Gain![0] = -1;
        StatisticsFile.Write(Stats(_dir["p2"]), stats.Values, sampling, data);
        var e = Assert.Throws<PfaException>(() => StatisticsFile.Read(Stats(_dir["p2"])));
        Assert.Equal(ErrorCodes.InvalidWeights, e.Code);
        Assert.Contains("damaged 'gain' entry", e.Message);
        foreach (var s in stats.Values) s.Dispose();
    }
}

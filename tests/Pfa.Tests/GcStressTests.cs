using Pfa.Core.Analysis;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Selection;
using Pfa.Core.Spectra;
using Pfa.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// The engine's native calls under garbage-collection stress: another thread collects continuously (finalizing
/// whatever is unreachable, as the test host's and the tool's other threads can) and churns native scalars so
/// freed ones are reused. A temporary Scalar on these paths is freed mid-call and libtorch fails ("toFloat at
/// Scalar.h:140") or computes garbage — the cause of the test runs that stopped halfway. The work is
/// deterministic on CPU, so the stressed runs must equal the quiet one bit for bit.
/// </summary>
public sealed class GcStressTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const string Network = """
    { "schema": "pfa.model/1", "input": [2, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "name": "r1", "type": "leaky_relu", "negative_slope": 0.1 },
      { "name": "c2", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1 }, { "name": "b2", "type": "batchnorm2d" },
      { "name": "sum", "type": "add", "inputs": ["r1", "b2"] }, { "name": "r2", "type": "relu6" }, { "name": "p", "type": "maxpool2d", "kernel": 2 },
      { "name": "f", "type": "flatten" }, { "name": "l1", "type": "linear", "out": 8 }, { "name": "b3", "type": "batchnorm1d" }, { "name": "r3", "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """;

    Dataset Data()
    {
        if (!File.Exists(_dir["x.npy"]))
        {
            var rng = new Random(5);
            var x = Enumerable.Range(0, 96 * 2 * 8 * 8).Select(_ => (float)rng.NextDouble()).ToArray();
            DataFiles.Npy(_dir["x.npy"], "<f4", [96, 2, 8, 8], x.SelectMany(BitConverter.GetBytes).ToArray());
            DataFiles.Npy(_dir["y.npy"], "|u1", [96], Enumerable.Range(0, 96).Select(i => (byte)(i % 3)).ToArray());
        }
        return Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
    }

    /// <summary>Training (both optimizers, our network and a user's TorchSharp Sequential), evaluation, analysis,
    /// merge, spectrum and selection: a fingerprint of every number they produce.</summary>
    List<double> Work()
    {
        var fingerprint = new List<double>();
        using var data = Data();
        foreach (var optimizer in new[] { OptimizerKind.Sgd, OptimizerKind.Adam })
        {
            manual_seed(3);
            using var net = new PfaNetwork(ModelDescription.Parse(Network));
            Trainer.Train(net, data, new TrainOptions { Optimizer = optimizer, LearningRate = optimizer == OptimizerKind.Adam ? 0.01 : 0.05, Epochs = 2, BatchSize = 8, Seed = 4 });
            fingerprint.AddRange(net.state_dict().Values.SelectMany(t => t.to_type(ScalarType.Float64).flatten().data<double>().ToArray()));
            fingerprint.Add(Evaluator.Evaluate(net, data, 16).Top1);
            var stats = ResponseCollector.Collect(net, data, ["c1", "sum", "l1"], 16);
            using var half = ResponseCollector.Collect(net, data, ["c1"], 16)["c1"];
            half.Merge(stats["c1"]);
            foreach (var s in stats.Values.Append(half))
            {
                using var cov = s.Covariance();
                fingerprint.AddRange(cov.flatten().data<double>().ToArray());
                fingerprint.AddRange(LayerSpectrum.Compute(s.Layer, cov, s.Count).Eigenvalues);
                fingerprint.AddRange(FilterSelector.Select(cov, 3).Select(i => (double)i));
                s.Dispose();
            }
        }
        manual_seed(3);
        using var user = nn.Sequential(("c", nn.Conv2d(2, 4, 3)), ("b", nn.BatchNorm2d(4)), ("r", nn.ReLU()), ("f", nn.Flatten()), ("o", nn.Linear(144, 3)));
        Trainer.Train(user, data, new TrainOptions { Epochs = 2, BatchSize = 8, LearningRate = 0.05 });
        fingerprint.AddRange(user.state_dict().Values.SelectMany(t => t.to_type(ScalarType.Float64).flatten().data<double>().ToArray()));
        return fingerprint;
    }

    static void Collector(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            for (int i = 0; i < 32; i++)
            {
                using var a = true.ToScalar();     // same-size native allocations: a freed scalar's memory is reused
                using var b = 7L.ToScalar();
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [Fact]
    public void The_engine_s_numbers_survive_collections_during_native_calls()
    {
        var quiet = Work();
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() => Collector(stop.Token)) { IsBackground = true, Name = "gc-stress" };
        collector.Start();
        int rounds = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            // A temporary scalar on these paths failed within a second under this stress; run ≥ 8 s and ≥ 2 rounds.
            do
            {
                var stressed = Work();
                Assert.Equal(quiet.Count, stressed.Count);
                for (int i = 0; i < quiet.Count; i++)
                    if (!quiet[i].Equals(stressed[i])) Assert.Fail($"round {rounds + 1}: value {i} is {stressed[i]} under GC stress, {quiet[i]} without");
                rounds++;
            } while (rounds < 2 || watch.Elapsed < TimeSpan.FromSeconds(8));
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}

using System.Diagnostics;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Metrics;

/// <summary>Measured CPU inference time of one forward pass: the median of <see cref="Runs"/> warm runs.</summary>
public sealed record LatencyResult(double MedianMs, double MinMs, int Batch, int Runs, int Threads);

/// <summary>
/// What users of pruning tools ask first — "is the pruned model faster?" — answered by measuring rather than by
/// MACs: a forward pass in eval mode without gradients on a fixed random input, after warm-up runs, reported as
/// the median (robust to a noisy shared machine) with the batch and libtorch's thread count.
/// </summary>
public static class Latency
{
    /// <summary>Warm-up passes before the timed ones. A large batch's first passes grow the C heap, and first
    /// touches of fresh memory are page faults: a batch-64 28×28 convolution took 100–150 ms in each of its first
    /// 4 passes and 10 ms afterwards (one 32→32 layer timed pass by pass), so fewer warm-ups put those in the median.</summary>
    public const int Warmup = 5;

    public static LatencyResult Measure(PfaNetwork network, int batch = 1, int runs = 20, int warmup = Warmup)
    {
        if (batch < 1 || runs < 1) throw new ArgumentOutOfRangeException(nameof(batch));
        bool wasTraining = network.training;
        network.eval();
        var times = new double[runs];
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var generator = new Generator(1);
            var x = randn([batch, .. network.Graph.InputShape.Select(v => (long)v)], generator: generator);
            for (int i = 0; i < warmup; i++) network.forward(x).Dispose();
            for (int i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                network.forward(x).Dispose();
                times[i] = watch.Elapsed.TotalMilliseconds;
            }
        }
        if (wasTraining) network.train();
        return new LatencyResult(Math.Round(Median(times), 4), Math.Round(times.Min(), 4), batch, runs, torch.get_num_threads());
    }

    /// <summary>The median (the mean of the middle two for an even count): what every timing here reports.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

using Pfa.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>Our SGD and Adam against float64 code of PyTorch's documented updates (torch.optim.SGD, torch.optim.Adam),
/// given through <see cref="Optimizers.Create"/> so that every TrainOptions field is seen to reach the update.</summary>
public class OptimizerTests
{
    const int Size = 7, Steps = 5;

    /// <summary>Runs the optimizer on one parameter with known gradients per step; returns the parameter after each step.</summary>
    static double[][] Ours(TrainOptions o, double[] start, double[][] gradients, double[] rates)
    {
        using var p = new TorchSharp.Modules.Parameter(tensor(start.Select(v => (float)v).ToArray()));
        using var optimizer = Optimizers.Create([p], o);
        var after = new double[Steps][];
        for (int s = 0; s < Steps; s++)
        {
            optimizer.ZeroGrad();
            using (var g = tensor(gradients[s].Select(v => (float)v).ToArray()))
            using (var loss = p.mul(g).sum())
                loss.backward();     // d(p·g)/dp = g
            optimizer.Step(rates[s]);
            after[s] = p.detach().data<float>().Select(v => (double)v).ToArray();
        }
        return after;
    }

    static double[][] Reference(TrainOptions o, double[] start, double[][] gradients, double[] rates)
    {
        var p = (double[])start.Clone();
        double[]? buffer = null;
        var m = new double[Size];
        var v = new double[Size];
        var after = new double[Steps][];
        for (int s = 0; s < Steps; s++)
        {
            var g = gradients[s].Select((x, i) => x + o.WeightDecay * p[i]).ToArray();
            if (o.Optimizer == OptimizerKind.Sgd)
            {
                if (o.Momentum != 0)
                {
                    buffer = buffer is null ? (double[])g.Clone() : buffer.Select((b, i) => o.Momentum * b + g[i]).ToArray();
                    g = o.Nesterov ? g.Select((x, i) => x + o.Momentum * buffer[i]).ToArray() : (double[])buffer.Clone();
                }
                for (int i = 0; i < Size; i++) p[i] -= rates[s] * g[i];
            }
            else
            {
                const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
                int t = s + 1;
                for (int i = 0; i < Size; i++)
                {
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                    p[i] -= rates[s] / (1 - Math.Pow(b1, t)) * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps);
                }
            }
            after[s] = (double[])p.Clone();
        }
        return after;
    }

    public static TheoryData<string> Cases => new() { "sgd", "sgd-nesterov", "sgd-plain", "sgd-no-decay", "adam", "adam-decay" };

    static TrainOptions Options(string name) => name switch
    {
        "sgd" => new TrainOptions { Momentum = 0.9, Nesterov = false, WeightDecay = 0.05 },
        "sgd-nesterov" => new TrainOptions { Momentum = 0.8, Nesterov = true, WeightDecay = 0.05 },
        "sgd-plain" => new TrainOptions { Momentum = 0, WeightDecay = 0.05 },
        "sgd-no-decay" => new TrainOptions { Momentum = 0.9, Nesterov = true, WeightDecay = 0 },
        "adam" => new TrainOptions { Optimizer = OptimizerKind.Adam, WeightDecay = 0 },
        _ => new TrainOptions { Optimizer = OptimizerKind.Adam, WeightDecay = 0.1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Updates_equal_pytorch_s_formulas_in_float64(string name)
    {
        var o = Options(name);
        var random = new Random(name.Length);
        var start = Enumerable.Range(0, Size).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var gradients = Enumerable.Range(0, Steps).Select(_ => Enumerable.Range(0, Size).Select(_ => random.NextDouble() * 4 - 2).ToArray()).ToArray();
        var rates = new[] { 0.1, 0.05, 0.2, 0.01, 0.1 };
        var expected = Reference(o, start, gradients, rates);
        var actual = Ours(o, start, gradients, rates);
        for (int s = 0; s < Steps; s++)
            for (int i = 0; i < Size; i++)
                Assert.True(Math.Abs(expected[s][i] - actual[s][i]) <= 2e-5 * (1 + Math.Abs(expected[s][i])), $"{name}, step {s + 1}, element {i}: {actual[s][i]} vs {expected[s][i]}");
        // Each option changes the result: a setting dropped on the way to the update cannot pass.
        var without = Reference(o with { WeightDecay = o.WeightDecay == 0 ? 0.05 : 0, Momentum = o.Momentum == 0 ? 0.9 : o.Momentum }, start, gradients, rates);
        Assert.True(Math.Abs(without[^1][0] - actual[^1][0]) > 1e-4, $"{name}: weight decay or momentum made no difference");
    }

    [Fact]
    public void Nesterov_and_the_learning_rate_reach_the_update()
    {
        var random = new Random(3);
        var start = Enumerable.Range(0, Size).Select(_ => random.NextDouble()).ToArray();
        var gradients = Enumerable.Range(0, Steps).Select(_ => Enumerable.Range(0, Size).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray();
        double[] rates = [0.1, 0.1, 0.1, 0.1, 0.1], other = [0.1, 0.1, 0.3, 0.1, 0.1];
        var nesterov = Ours(new TrainOptions { Momentum = 0.9, Nesterov = true }, start, gradients, rates);
        var classic = Ours(new TrainOptions { Momentum = 0.9, Nesterov = false }, start, gradients, rates);
        var faster = Ours(new TrainOptions { Momentum = 0.9, Nesterov = true }, start, gradients, other);
        Assert.NotEqual(nesterov[^1][0], classic[^1][0]);
        Assert.NotEqual(nesterov[^1][0], faster[^1][0]);
    }
}

using Pfa.Core.Model.Modules;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The engine's scalar-keeping batch norm and LeakyReLU against float64 code of PyTorch's definitions.</summary>
public class SafeModulesTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(null)]    // cumulative average
    public void Batch_norm_in_training_normalises_by_the_batch_and_updates_running_statistics(double? momentum)
    {
        const int n = 5, c = 3, hw = 4;
        var random = new Random(8);
        using var bn = SafeBatchNorm.BatchNorm2d(c, eps: 1e-3, momentum: momentum);
        double[] runMean = new double[c], runVar = [1, 1, 1];
        for (int batch = 1; batch <= 3; batch++)
        {
            var x = Enumerable.Range(0, n * c * hw).Select(_ => random.NextDouble() * 3 - 1).ToArray();
            bn.train();
            var y = bn.call(tensor(x.Select(v => (float)v).ToArray()).reshape(n, c, 2, 2)).data<float>().ToArray();
            for (int ch = 0; ch < c; ch++)
            {
                var values = Enumerable.Range(0, n).SelectMany(s => Enumerable.Range(0, hw).Select(p => x[(s * c + ch) * hw + p])).ToArray();
                double mean = values.Average(), biased = values.Select(v => (v - mean) * (v - mean)).Sum() / values.Length;
                double unbiased = biased * values.Length / (values.Length - 1);
                double f = momentum ?? 1.0 / batch;
                runMean[ch] = (1 - f) * runMean[ch] + f * mean;
                runVar[ch] = (1 - f) * runVar[ch] + f * unbiased;
                for (int s = 0; s < n; s++)
                    for (int p = 0; p < hw; p++)
                    {
                        int i = (s * c + ch) * hw + p;
                        Assert.Equal((x[i] - mean) / Math.Sqrt(biased + 1e-3), y[i], 4);
                    }
            }
            Assert.Equal(runMean, bn.running_mean!.data<float>().Select(v => (double)v).ToArray(), (a, b) => Math.Abs(a - b) < 1e-5);
            Assert.Equal(runVar, bn.running_var!.data<float>().Select(v => (double)v).ToArray(), (a, b) => Math.Abs(a - b) < 1e-5);
            Assert.Equal(batch, bn.num_batches_tracked!.item<long>());
        }
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], bn.state_dict().Keys);
    }

    [Fact]
    public void Leaky_relu_scales_negative_inputs_by_its_slope()
    {
        using var m = new SafeLeakyReLU(0.2);
        Assert.Equal([-0.4f, 0f, 3f], m.call(tensor(new[] { -2f, 0f, 3f })).data<float>().ToArray());
    }
}

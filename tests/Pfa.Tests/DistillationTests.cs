using Pfa.Core.Training;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The distillation loss against float64 code of Hinton et al.'s definition.</summary>
public class DistillationTests
{
    static double Reference(double[,] s, double[,] t, long[] y, double temperature, double alpha)
    {
        int n = s.GetLength(0), k = s.GetLength(1);
        double ce = 0, kl = 0;
        for (int i = 0; i < n; i++)
        {
            double[] Log(double[,] z, double scale)
            {
                var v = Enumerable.Range(0, k).Select(j => z[i, j] / scale).ToArray();
                double max = v.Max(), sum = v.Sum(x => Math.Exp(x - max));
                return v.Select(x => x - max - Math.Log(sum)).ToArray();
            }
            ce -= Log(s, 1)[y[i]];
            var ls = Log(s, temperature);
            var lt = Log(t, temperature);
            for (int j = 0; j < k; j++) kl += Math.Exp(lt[j]) * (lt[j] - ls[j]);
        }
        return (1 - alpha) * ce / n + alpha * temperature * temperature * kl / n;
    }

    [Theory]
    [InlineData(4.0, 0.5)]
    [InlineData(1.0, 0.0)]
    [InlineData(10.0, 1.0)]
    public void The_loss_is_hard_cross_entropy_plus_T_squared_times_the_soft_KL(double temperature, double alpha)
    {
        var random = new Random((int)(temperature * 10 + alpha * 100));
        const int n = 6, k = 5;
        var s = new double[n, k];
        var t = new double[n, k];
        for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) { s[i, j] = random.NextDouble() * 6 - 3; t[i, j] = random.NextDouble() * 6 - 3; }
        var y = Enumerable.Range(0, n).Select(i => (long)(i % k)).ToArray();
        float[] Flat(double[,] a) => a.Cast<double>().Select(v => (float)v).ToArray();
        using var loss = Distillation.Loss(tensor(Flat(s)).reshape(n, k), tensor(Flat(t)).reshape(n, k), tensor(y), new DistillOptions { Temperature = temperature, Alpha = alpha });
        Assert.Equal(Reference(s, t, y, temperature, alpha), loss.item<float>(), 4);
    }

    [Fact]
    public void A_student_equal_to_its_teacher_has_no_soft_loss()
    {
        using var z = randn(4, 3);
        using var loss = Distillation.Loss(z, z, tensor(new long[] { 0, 1, 2, 0 }), new DistillOptions { Temperature = 4, Alpha = 1 });
        Assert.Equal(0, loss.item<float>(), 6);
    }
}

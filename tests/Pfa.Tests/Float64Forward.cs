using Pfa.Core.Model;

namespace Pfa.Tests;

/// <summary>
/// An independent float64 forward pass written from the layers' definitions, with no libtorch kernel involved:
/// the oracle that libtorch's float32 results are checked against. Supports the layers of a plain CNN: conv2d
/// (any kernel, stride, padding; groups 1), batchnorm (eval), relu, maxpool2d, flatten, linear.
/// </summary>
public static class Float64Forward
{
    /// <param name="x">Samples [n, C, H, W] flattened, row-major.</param>
    /// <param name="weights">State-dict tensors as float arrays, by key.</param>
    public static double[] Run(ModelDescription d, IReadOnlyDictionary<string, float[]> weights, double[] x, int n)
    {
        var graph = ModelGraph.Build(d);
        int[] shape = [.. d.Input];
        foreach (var node in graph.Nodes)
        {
            var s = node.Spec;
            float[] W(string part) => weights[$"{node.Name}.{part}"];
            switch (node.Type)
            {
                case LayerType.Conv2d:
                {
                    int cin = shape[0], h = shape[1], w = shape[2], cout = node.OutShape[0], oh = node.OutShape[1], ow = node.OutShape[2];
                    var (kh, kw) = (s.Kernel!.Value.H, s.Kernel.Value.W);
                    var (sh, sw) = ((s.Stride ?? 1).H, (s.Stride ?? 1).W);
                    var (ph, pw) = ((s.Padding ?? 0).H, (s.Padding ?? 0).W);
                    var k = W("weight");
                    var b = s.Bias ?? true ? W("bias") : null;
                    var y = new double[n * cout * oh * ow];
                    for (int i = 0; i < n; i++)
                        for (int o = 0; o < cout; o++)
                            for (int r = 0; r < oh; r++)
                                for (int q = 0; q < ow; q++)
                                {
                                    double sum = b?[o] ?? 0;
                                    for (int c = 0; c < cin; c++)
                                        for (int a = 0; a < kh; a++)
                                        {
                                            int rr = r * sh + a - ph;
                                            if (rr < 0 || rr >= h) continue;
                                            for (int e = 0; e < kw; e++)
                                            {
                                                int qq = q * sw + e - pw;
                                                if (qq < 0 || qq >= w) continue;
                                                sum += x[((i * cin + c) * h + rr) * w + qq] * k[((o * cin + c) * kh + a) * kw + e];
                                            }
                                        }
                                    y[((i * cout + o) * oh + r) * ow + q] = sum;
                                }
                    x = y;
                    break;
                }
                case LayerType.BatchNorm2d or LayerType.BatchNorm1d:
                {
                    int c = shape[0], per = shape.Skip(1).Aggregate(1, (p, v) => p * v);
                    var (g, bb, mean, variance) = (W("weight"), W("bias"), W("running_mean"), W("running_var"));
                    double eps = s.Eps ?? 1e-5;
                    for (int i = 0; i < n; i++)
                        for (int ch = 0; ch < c; ch++)
                            for (int p = 0; p < per; p++)
                            {
                                int at = (i * c + ch) * per + p;
                                x[at] = (x[at] - mean[ch]) / Math.Sqrt(variance[ch] + eps) * g[ch] + bb[ch];
                            }
                    break;
                }
                case LayerType.ReLU:
                    for (int i = 0; i < x.Length; i++) x[i] = Math.Max(0, x[i]);
                    break;
                case LayerType.MaxPool2d:
                {
                    int c = shape[0], h = shape[1], w = shape[2], oh = node.OutShape[1], ow = node.OutShape[2];
                    var (kh, kw) = (s.Kernel!.Value.H, s.Kernel.Value.W);
                    var stride = s.Stride ?? s.Kernel.Value;
                    var y = new double[n * c * oh * ow];
                    for (int i = 0; i < n * c; i++)
                        for (int r = 0; r < oh; r++)
                            for (int q = 0; q < ow; q++)
                            {
                                double m = double.NegativeInfinity;
                                for (int a = 0; a < kh; a++)
                                    for (int e = 0; e < kw; e++)
                                        m = Math.Max(m, x[(i * h + r * stride.H + a) * w + q * stride.W + e]);
                                y[(i * oh + r) * ow + q] = m;
                            }
                    x = y;
                    break;
                }
                case LayerType.Flatten or LayerType.Dropout:
                    break;
                case LayerType.Linear:
                {
                    int fin = shape[0], fout = node.OutShape[0];
                    var k = W("weight");
                    var b = s.Bias ?? true ? W("bias") : null;
                    var y = new double[n * fout];
                    for (int i = 0; i < n; i++)
                        for (int o = 0; o < fout; o++)
                        {
                            double sum = b?[o] ?? 0;
                            for (int f = 0; f < fin; f++) sum += x[i * fin + f] * k[o * fin + f];
                            y[i * fout + o] = sum;
                        }
                    x = y;
                    break;
                }
                default:
                    throw new NotSupportedException($"the float64 oracle has no {node.Type}");
            }
            shape = node.OutShape;
        }
        return x;
    }
}

using Pfa.Core.Model;

namespace Pfa.Tests;

/// <summary>
/// An independent float64 forward pass over a description's graph, written from the layers' definitions with no
/// libtorch kernel: the oracle for residual and grouped networks. Every layer's output is kept (no reuse), each
/// input of each layer can have channels zeroed first (<paramref name="zeroed"/>: "the original with the
/// removed channels zeroed at the consumers' inputs"). Layers: conv2d (any groups), batchnorm2d/1d (eval), relu,
/// relu6, maxpool2d (no padding), adaptive_avgpool2d to 1×1, flatten, dropout (eval), linear, add, channel_pad,
/// channel_scatter.
/// </summary>
public static class Float64Graph
{
    /// <param name="x">Samples [n, …input] row-major.</param>
    /// <param name="zeroed">Channels to zero in input k of a node before it runs (null: none).</param>
    public static double[] Run(ModelDescription d, IReadOnlyDictionary<string, float[]> weights, double[] x, int n, Func<LayerNode, int, IReadOnlyCollection<int>?>? zeroed = null)
    {
        var graph = ModelGraph.Build(d);
        var outputs = new double[graph.Nodes.Count][];
        foreach (var node in graph.Nodes)
        {
            var inputs = new List<double[]>();
            for (int k = 0; k < node.Inputs.Count; k++)
            {
                int j = node.Inputs[k];
                var value = j == LayerNode.ModelInput ? x : outputs[j];
                int[] shape = j == LayerNode.ModelInput ? [.. d.Input] : graph.Nodes[j].OutShape;
                if (zeroed?.Invoke(node, k) is { Count: > 0 } channels)
                {
                    value = (double[])value.Clone();
                    int c = shape[0], per = shape.Skip(1).Aggregate(1, (p, v) => p * v);
                    for (int i = 0; i < n; i++)
                        foreach (var ch in channels)
                            Array.Clear(value, (i * c + ch) * per, per);
                }
                inputs.Add(value);
            }
            outputs[node.Index] = Layer(node, inputs, n, part => weights[$"{node.Name}.{part}"]);
        }
        return outputs[^1];
    }

    static double[] Layer(LayerNode node, List<double[]> inputs, int n, Func<string, float[]> W)
    {
        var s = node.Spec;
        var x = inputs[0];
        int[] inS = node.InShape, outS = node.OutShape;
        int Per(int[] shape) => shape.Skip(1).Aggregate(1, (p, v) => p * v);
        switch (node.Type)
        {
            case LayerType.Conv2d:
            {
                int cin = inS[0], h = inS[1], w = inS[2], cout = outS[0], oh = outS[1], ow = outS[2], g = s.Groups ?? 1;
                int inPer = cin / g, outPer = cout / g;
                var (kh, kw) = (s.Kernel!.Value.H, s.Kernel.Value.W);
                var (sh, sw) = ((s.Stride ?? 1).H, (s.Stride ?? 1).W);
                var (ph, pw) = ((s.Padding ?? 0).H, (s.Padding ?? 0).W);
                var k = W("weight");
                var b = s.Bias ?? true ? W("bias") : null;
                var y = new double[n * cout * oh * ow];
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < cout; o++)
                    {
                        int group = o / outPer;
                        for (int r = 0; r < oh; r++)
                            for (int q = 0; q < ow; q++)
                            {
                                double sum = b?[o] ?? 0;
                                for (int cc = 0; cc < inPer; cc++)
                                {
                                    int c = group * inPer + cc;
                                    for (int a = 0; a < kh; a++)
                                    {
                                        int rr = r * sh + a - ph;
                                        if (rr < 0 || rr >= h) continue;
                                        for (int e = 0; e < kw; e++)
                                        {
                                            int qq = q * sw + e - pw;
                                            if (qq < 0 || qq >= w) continue;
                                            sum += x[((i * cin + c) * h + rr) * w + qq] * k[((o * inPer + cc) * kh + a) * kw + e];
                                        }
                                    }
                                }
                                y[((i * cout + o) * oh + r) * ow + q] = sum;
                            }
                    }
                return y;
            }
            case LayerType.BatchNorm2d or LayerType.BatchNorm1d:
            {
                int c = inS[0], per = Per(inS);
                var (g, bb, mean, variance) = (W("weight"), W("bias"), W("running_mean"), W("running_var"));
                double eps = s.Eps ?? 1e-5;
                var y = new double[x.Length];
                for (int i = 0; i < n; i++)
                    for (int ch = 0; ch < c; ch++)
                        for (int p = 0; p < per; p++)
                        {
                            int at = (i * c + ch) * per + p;
                            y[at] = (x[at] - mean[ch]) / Math.Sqrt(variance[ch] + eps) * g[ch] + bb[ch];
                        }
                return y;
            }
            case LayerType.ReLU: return x.Select(v => Math.Max(0, v)).ToArray();
            case LayerType.ReLU6: return x.Select(v => Math.Min(6, Math.Max(0, v))).ToArray();
            case LayerType.Flatten or LayerType.Dropout: return x;
            case LayerType.Add: return x.Zip(inputs[1], (a, b) => a + b).ToArray();
            case LayerType.MaxPool2d:
            {
                int c = inS[0], h = inS[1], w = inS[2], oh = outS[1], ow = outS[2];
                var (kh, kw) = (s.Kernel!.Value.H, s.Kernel.Value.W);
                var stride = s.Stride ?? s.Kernel.Value;
                if (s.Padding is { } pad && (pad.H != 0 || pad.W != 0)) throw new NotSupportedException("padded max pool");
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
                return y;
            }
            case LayerType.AdaptiveAvgPool2d:
            {
                if (outS[1] != 1 || outS[2] != 1) throw new NotSupportedException("adaptive pool to more than 1×1");
                int c = inS[0], per = inS[1] * inS[2];
                var y = new double[n * c];
                for (int i = 0; i < n * c; i++) y[i] = x.Skip(i * per).Take(per).Average();
                return y;
            }
            case LayerType.Linear:
            {
                int fin = inS[0], fout = outS[0];
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
                return y;
            }
            case "channel_pad" or "channel_scatter":
            {
                int cin = inS[0], cout = outS[0], per = Per(inS);
                int[] to = node.Type == "channel_pad" ? Enumerable.Range(s.Offset ?? 0, cin).ToArray() : [.. s.Index!];
                var y = new double[n * cout * per];
                for (int i = 0; i < n; i++)
                    for (int c = 0; c < cin; c++)
                        Array.Copy(x, (i * cin + c) * per, y, (i * cout + to[c]) * per, per);
                return y;
            }
            default:
                throw new NotSupportedException($"the float64 graph oracle has no {node.Type}");
        }
    }
}

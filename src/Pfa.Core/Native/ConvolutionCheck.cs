using Pfa.Core.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Native;

/// <summary>
/// Never compute wrong numbers silently. On one AMD EPYC (Zen 5, AVX-512) machine libtorch 2.10's oneDNN
/// convolution gave wrong results at channel counts that are not multiples of 16 with batch &gt; 1, and a
/// compressed model (odd widths) was evaluated ~14 pp too low. On a Zen 5 EPYC (family 26) the fault is at
/// <em>input</em> channel counts above 16 that are not multiples of 16 (17, 18, 24, 33, 40: relative errors
/// 0.07–0.4 or NaN at batch ≥ 2; 1–16, 32, 48 and 1×1 kernels are right), so a probe with fewer than 16 input
/// channels passes there while a pruned VGG's 18→22 convolution gives NaN. Once per process, before the first
/// network is built, this check runs float32 convolutions of both kinds of shapes (batch 2–8, this process's threads)
/// and compares them with a float64 direct convolution written here (no libtorch kernel involved). Where they
/// disagree it switches to the path without oneDNN and says so once; it checks the gradients (input and weight)
/// the same way, because there oneDNN was wrong even at shapes whose forward was right; where no path agrees it stops with
/// PFA0013. <see cref="EnvironmentVariable"/> forces a path (so every path is tested on every machine).
/// Cost: ~15 ms with the gradients (bench/results/cpu-zen5.md).
/// </summary>
public static class ConvolutionCheck
{
    /// <summary>PFA_CONV_PATH: <c>auto</c> (default: check, fall back when wrong), <c>onednn</c> or <c>no-onednn</c>
    /// (forced; still checked, and an error when wrong).</summary>
    public const string EnvironmentVariable = "PFA_CONV_PATH";

    static readonly object Gate = new();
    static ConvolutionPath? _path;

    /// <summary>Where the one-line notice goes (the CLI sets it to standard error).</summary>
    public static Action<string>? Log { get; set; }

    /// <summary>The path in use, after the check (run on first call).</summary>
    public static ConvolutionPath Path
    {
        get
        {
            lock (Gate) return _path ??= Decide();
        }
    }

    /// <summary>Runs the check now (once per process).</summary>
    public static void Ensure() => _ = Path;

    /// <summary>Uses <paramref name="path"/> from now on, without a check (tests and benchmarks); <paramref name="routeInference"/>:
    /// on the fallback, inference still uses oneDNN per layer and shape where it agrees (<see cref="ConvolutionRouting"/>),
    /// as after an automatic fallback.</summary>
    public static void Use(ConvolutionPath path, bool routeInference = false)
    {
        lock (Gate)
        {
            LibTorchContext.Use(path);
            _path = path;
            ConvolutionRouting.Enabled = routeInference && path == ConvolutionPath.NoOneDnn;
        }
    }

    static ConvolutionPath Decide()
    {
        NativeHeap.Ensure(); // before the first convolution: the probe and every later one run at the speed they will keep
        var forced = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim().ToLowerInvariant();
        ConvolutionPath? wanted = forced switch
        {
            null or "" or "auto" => null,
            "onednn" => ConvolutionPath.OneDnn,
            "no-onednn" => ConvolutionPath.NoOneDnn,
            _ => throw new PfaException(ErrorCodes.InvalidArgument, $"{EnvironmentVariable}='{forced}' is not a convolution path; use auto, onednn or no-onednn."),
        };
        ProbeErrors? oneDnnErrors = null;
        foreach (var path in wanted is { } w ? [w] : new[] { ConvolutionPath.OneDnn, ConvolutionPath.NoOneDnn })
        {
            LibTorchContext.Use(path);
            var errors = Errors();
            if (path == ConvolutionPath.OneDnn) oneDnnErrors = errors;
            if (errors.Worst <= Tolerance)
            {
                if (path != ConvolutionPath.OneDnn && wanted is null)
                {
                    ConvolutionRouting.Enabled = true;
                    Log?.Invoke($"note: libtorch's oneDNN convolution gave wrong results on this CPU ({oneDnnErrors} against a float64 reference); training uses its slower non-oneDNN path, and inference uses oneDNN only for the layers and shapes where its output agrees with that path's ({EnvironmentVariable}=no-onednn uses that path for everything, without this note).");
                }
                return path;
            }
            if (wanted is not null)
                throw new PfaException(ErrorCodes.SelfCheckFailed, $"libtorch's convolution on the forced path {forced} disagrees with a float64 reference on this CPU ({errors}); unset {EnvironmentVariable} to let the self-check choose.");
        }
        throw new PfaException(ErrorCodes.SelfCheckFailed, "libtorch's convolution disagrees with a float64 reference on this CPU on every path (oneDNN and without it); results would be wrong, so nothing is computed. Report the CPU model and libtorch version.");
    }

    /// <summary>Largest |libtorch − reference| / max |reference| a correct float32 convolution stays under.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>The probe shapes (batch, input channels, output channels, size, stride): odd channel counts below 16,
    /// and input channel counts above 16 that are not multiples of 16 (the Zen 5 fault), padding 1, stride 1 and 2.</summary>
    internal static readonly (int N, int In, int Out, int Size, int Stride)[] ProbeShapes =
        [(8, 13, 7, 9, 1), (8, 7, 21, 8, 2), (5, 3, 20, 7, 1), (4, 18, 22, 7, 1), (3, 24, 9, 6, 2), (2, 33, 5, 5, 1)];

    /// <summary>The probe on the current path: the largest relative error over <see cref="ProbeShapes"/>, of the
    /// forward pass and of the gradients training needs (input and weight).</summary>
    public static double MaxRelativeError() => Errors().Worst;

    /// <summary>The probe's largest relative errors, forward and backward, over <see cref="ProbeShapes"/>.</summary>
    public static ProbeErrors Errors()
    {
        var worst = new ProbeErrors(0, 0);
        foreach (var (n, cin, cout, size, stride) in ProbeShapes)
        {
            var e = ProbeError(n, cin, cout, size, stride, seed: cin * 31 + cout);
            worst = new ProbeErrors(Math.Max(worst.Forward, e.Forward), Math.Max(worst.Backward, e.Backward));
        }
        return worst;
    }

    /// <summary>Relative errors of one probe: the output, and the worse of the input and weight gradients.</summary>
    public readonly record struct ProbeErrors(double Forward, double Backward)
    {
        public double Worst => Math.Max(Forward, Backward);
        public override string ToString() => Backward <= Tolerance ? $"relative error {Forward:g3}"
            : Forward <= Tolerance ? $"gradient relative error {Backward:g3}, output right"
            : $"relative error {Forward:g3}, gradient {Backward:g3}";
    }

    // Forward and backward on the same shape. The backward fault is separate from the forward one: on the Zen 5
    // EPYC oneDNN's input gradient was wrong (0.2-0.36, or NaN) for 8->8 and 13->7 convolutions whose forward was
    // right, so a CPU with a right forward could still train wrongly.
    static ProbeErrors ProbeError(int n, int cin, int cout, int size, int stride, int seed)
    {
        var random = new Random(seed);
        int outSize = OutSize(size, stride);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var (x, w, b, g) = (Rand(n * cin * size * size), Rand(cout * cin * 9), Rand(cout), Rand(n * cout * outSize * outSize));
        float[] y, dx, dw;
        using (NewDisposeScope())
        using (enable_grad()) // the check may first run inside a caller's no_grad scope
        {
            var xt = tensor(x, [n, cin, size, size]).requires_grad_();
            var wt = tensor(w, [cout, cin, 3, 3]).requires_grad_();
            var bt = tensor(b, [cout]);
            var yt = nn.functional.conv2d(xt, wt, bt, strides: [stride, stride], padding: [1, 1]);
            y = yt.detach().contiguous().data<float>().ToArray();
            // d(Σ y·g)/dx and /dw: the gradients of a loss whose upstream gradient is g.
            (yt * tensor(g, [n, cout, outSize, outSize])).sum().backward();
            dx = xt.grad!.contiguous().data<float>().ToArray();
            dw = wt.grad!.contiguous().data<float>().ToArray();
        }
        var (expectedDx, expectedDw) = ReferenceGradients(x, w, g, n, cin, cout, size, stride);
        return new ProbeErrors(Relative(y, Reference(x, w, b, n, cin, cout, size, stride)),
            Math.Max(Relative(dx, expectedDx), Relative(dw, expectedDw)));
    }

    static double Relative(float[] got, double[] expected)
    {
        if (got.Length != expected.Length) return double.PositiveInfinity;
        double scale = expected.Max(Math.Abs), error = 0;
        for (int i = 0; i < got.Length; i++) error = Math.Max(error, Math.Abs(got[i] - expected[i]));
        return double.IsFinite(error) ? error / Math.Max(scale, 1e-12) : double.PositiveInfinity;
    }

    static int OutSize(int size, int stride) => (size + 2 - 3) / stride + 1;

    /// <summary>Gradients of Σ y·g for a 3×3 convolution with padding 1, from the definition in float64:
    /// dx[s,c,r,q] = Σ g[s,o,i,j]·w[o,c,ki,kj] and dw[o,c,ki,kj] = Σ g[s,o,i,j]·x[s,c,r,q] over r = i·stride+ki−1,
    /// q = j·stride+kj−1 inside the image.</summary>
    internal static (double[] Dx, double[] Dw) ReferenceGradients(float[] x, float[] w, float[] g, int n, int cin, int cout, int size, int stride)
    {
        int outSize = OutSize(size, stride);
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        for (int s = 0; s < n; s++)
            for (int o = 0; o < cout; o++)
                for (int i = 0; i < outSize; i++)
                    for (int j = 0; j < outSize; j++)
                    {
                        double up = g[((s * cout + o) * outSize + i) * outSize + j];
                        for (int c = 0; c < cin; c++)
                            for (int ki = 0; ki < 3; ki++)
                                for (int kj = 0; kj < 3; kj++)
                                {
                                    int r = i * stride + ki - 1, q = j * stride + kj - 1;
                                    if (r < 0 || q < 0 || r >= size || q >= size) continue;
                                    int xi = ((s * cin + c) * size + r) * size + q, wi = ((o * cin + c) * 3 + ki) * 3 + kj;
                                    dx[xi] += up * w[wi];
                                    dw[wi] += up * x[xi];
                                }
                    }
        return (dx, dw);
    }

    /// <summary>Direct float64 convolution, 3×3 kernel, padding 1: the definition, nothing else.</summary>
    internal static double[] Reference(float[] x, float[] w, float[] b, int n, int cin, int cout, int size, int stride)
    {
        int outSize = OutSize(size, stride);
        var y = new double[n * cout * outSize * outSize];
        for (int s = 0; s < n; s++)
            for (int o = 0; o < cout; o++)
                for (int i = 0; i < outSize; i++)
                    for (int j = 0; j < outSize; j++)
                    {
                        double sum = b[o];
                        for (int c = 0; c < cin; c++)
                            for (int ki = 0; ki < 3; ki++)
                                for (int kj = 0; kj < 3; kj++)
                                {
                                    int r = i * stride + ki - 1, q = j * stride + kj - 1;
                                    if (r < 0 || q < 0 || r >= size || q >= size) continue;
                                    sum += (double)x[((s * cin + c) * size + r) * size + q] * w[((o * cin + c) * 3 + ki) * 3 + kj];
                                }
                        y[((s * cout + o) * outSize + i) * outSize + j] = sum;
                    }
        return y;
    }
}

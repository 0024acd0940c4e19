using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Native;

/// <summary>
/// Inference on oneDNN wherever it is right. Where the self-check switched oneDNN off for the process (on the Zen 5
/// EPYC it was wrong at input widths above 16 that are not multiples of 16), every convolution still ran on the slow
/// path, the shapes oneDNN computes right included: the residual bench's ResNet-20 (widths 16, 32, 64) took 55.8 ms
/// at batch 64 without oneDNN and 17.4 ms with it, the VGG 39.3 and 17.9 ms. So, without gradients, each convolution
/// layer runs once on both paths for each input shape it meets: when oneDNN's output agrees with the fallback's
/// (<see cref="ConvolutionCheck.Tolerance"/>, relative to the largest output) that layer and shape run on oneDNN from
/// then on, else on the fallback (the first pass returns the fallback's output). With gradients the fallback always:
/// libtorch picks a convolution's backward kernel when the backward runs, and oneDNN's input gradient was wrong on
/// that CPU at shapes whose forward was right (8→8, 13→7).
/// <para>The switch is libtorch's global flag, set for the one call and reset: one thread runs networks at a time
/// (the tool's runs and the test host do).</para>
/// </summary>
public static class ConvolutionRouting
{
    static readonly object Gate = new();
    static readonly ConditionalWeakTable<nn.Module, Dictionary<string, bool>> Verdicts = new();
    static int _oneDnn, _fallback;

    /// <summary>Whether inference routes per layer and shape: after an automatic fallback (not when a path was forced).</summary>
    public static bool Enabled { get; internal set; }

    /// <summary>Layer shapes routed so far: to oneDNN, to the fallback (its output disagreed).</summary>
    public static (int OneDnn, int Fallback) Counts { get { lock (Gate) return (_oneDnn, _fallback); } }

    /// <summary>The convolution <paramref name="conv"/> applied to <paramref name="x"/>, on the path that is right and fastest.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> conv, Tensor x)
    {
        if (!Enabled || is_grad_enabled() || x.numel() == 0) return conv.call(x);
        lock (Gate)
        {
            var verdicts = Verdicts.GetOrCreateValue(conv);
            var key = string.Join(",", x.shape);
            if (verdicts.TryGetValue(key, out bool right)) return right ? OnOneDnn(conv, x) : conv.call(x);
            var fallback = conv.call(x);
            Tensor? fast = null;
            try { fast = OnOneDnn(conv, x); }
            catch (Exception) { /* oneDNN refused the shape: the fallback it is */ }
            using (fast)
                verdicts[key] = right = fast is not null && (Agreement ?? Agrees)(fast, fallback);
            if (right) _oneDnn++; else _fallback++;
            return fallback;
        }
    }

    static Tensor OnOneDnn(nn.Module<Tensor, Tensor> conv, Tensor x)
    {
        LibTorchContext.Use(ConvolutionPath.OneDnn);
        try { return conv.call(x); }
        finally { LibTorchContext.Use(ConvolutionPath.NoOneDnn); }
    }

    /// <summary>Tests: another comparison of oneDNN's output with the fallback's (null: <see cref="Agrees"/>).</summary>
    internal static Func<Tensor, Tensor, bool>? Agreement { get; set; }

    /// <summary>Largest |a − b| within the tolerance of the largest |b| (NaN or ∞ anywhere: no).</summary>
    static bool Agrees(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        double scale = b.abs().max().item<float>(), error = (a - b).abs().max().item<float>();
        return double.IsFinite(error) && double.IsFinite(scale) && error <= ConvolutionCheck.Tolerance * Math.Max(scale, 1e-12);
    }
}

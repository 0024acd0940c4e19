using System.Diagnostics;
using Pfa.Core.Checkpoints;
using Pfa.Core.Model;
using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// The CPU self-check and every convolution path, on any machine (the fault it guards against was seen on one
/// AVX-512 CPU and reproduces on Zen 5 EPYCs, but not on every machine): a model with odd widths, as compression
/// leaves them — below 16 and, as the Zen 5 fault needs, an input width of 18 — gives at batch 256 the logits of
/// an independent float64 forward on every path the probe accepts, and the fallback path is always accepted. With
/// the first probe (input widths below 16 only) the oneDNN path was accepted on Zen 5 and these logits were wrong.
/// </summary>
public sealed class ConvolutionCheckTests : IDisposable
{
    // Leave the process on the path the check chooses on this CPU, as the other tests expect.
    readonly ConvolutionPath _chosen = ConvolutionCheck.Path;
    readonly bool _routed = ConvolutionRouting.Enabled;
    public void Dispose()
    {
        ConvolutionCheck.Use(_chosen, _routed);
        ConvolutionRouting.Agreement = null;
    }

    [Fact]
    public void The_probe_reference_is_the_definition_of_convolution()
    {
        // Checked against libtorch's float64 convolution (a different kernel from the float32 ones under test).
        var random = new Random(5);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var (x, w, b) = (Rand(3 * 5 * 8 * 8), Rand(11 * 5 * 9), Rand(11));
        foreach (var stride in new[] { 1, 2 })
        {
            var expected = ConvolutionCheck.Reference(x, w, b, 3, 5, 11, 8, stride);
            using var scope = NewDisposeScope();
            var y = nn.functional.conv2d(tensor(x, [3, 5, 8, 8]).to(ScalarType.Float64), tensor(w, [11, 5, 3, 3]).to(ScalarType.Float64),
                tensor(b).to(ScalarType.Float64), strides: [stride, stride], padding: [1, 1]).contiguous().data<double>().ToArray();
            Assert.Equal(expected.Length, y.Length);
            for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], y[i], 10);
        }
    }

    [Fact]
    public void The_probe_gradients_are_the_definition_of_the_gradient()
    {
        // L = Σ y·g is linear in x and in w, so a unit step in one entry changes L by exactly its gradient:
        // finite differences of the float64 reference forward, no libtorch involved.
        var random = new Random(9);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        foreach (var stride in new[] { 1, 2 })
        {
            const int n = 2, cin = 3, cout = 4, size = 5;
            int outSize = (size - 1) / stride + 1;
            var (x, w, b, g) = (Rand(n * cin * size * size), Rand(cout * cin * 9), Rand(cout), Rand(n * cout * outSize * outSize));
            double Loss(float[] xs, float[] ws) =>
                ConvolutionCheck.Reference(xs, ws, b, n, cin, cout, size, stride).Select((y, i) => y * g[i]).Sum();
            var (dx, dw) = ConvolutionCheck.ReferenceGradients(x, w, g, n, cin, cout, size, stride);
            double at = Loss(x, w);
            for (int i = 0; i < x.Length; i++)
            {
                var step = (float[])x.Clone();
                step[i] += 1; // float rounding: divide by the step actually taken
                Assert.Equal((Loss(step, w) - at) / ((double)step[i] - x[i]), dx[i], 9);
            }
            for (int i = 0; i < w.Length; i++)
            {
                var step = (float[])w.Clone();
                step[i] += 1;
                Assert.Equal((Loss(x, step) - at) / ((double)step[i] - w[i]), dw[i], 9);
            }
        }
    }

    /// <summary>Shapes outside the probe where oneDNN's gradient was wrong on the Zen 5 EPYC while its output was
    /// right (batch 64 with one input channel, 8→8), the Zen 5 input widths, and wider batches than the probe.</summary>
    public static TheoryData<ConvolutionPath, int, int, int, int, int> GradientShapes()
    {
        var data = new TheoryData<ConvolutionPath, int, int, int, int, int>();
        foreach (var path in new[] { ConvolutionPath.OneDnn, ConvolutionPath.NoOneDnn })
            foreach (var (n, cin, cout, size, stride) in new[] { (64, 1, 8, 12, 1), (32, 8, 8, 10, 1), (16, 18, 22, 10, 1), (16, 13, 7, 11, 2), (8, 40, 17, 8, 1) })
                data.Add(path, n, cin, cout, size, stride);
        return data;
    }

    [Theory]
    [MemberData(nameof(GradientShapes))]
    public void Gradients_equal_a_float64_reference_on_every_path_the_probe_accepts(ConvolutionPath path, int n, int cin, int cout, int size, int stride)
    {
        bool accepted = PathIsRightHere(path);
        if (path == ConvolutionPath.NoOneDnn) Assert.True(accepted, "the fallback path must be right, or nothing can be trained");
        if (!accepted) return;
        var random = new Random(n + cin + cout);
        float[] Rand(int k) => Enumerable.Range(0, k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        int outSize = (size - 1) / stride + 1;
        var (x, w, g) = (Rand(n * cin * size * size), Rand(cout * cin * 9), Rand(n * cout * outSize * outSize));
        float[] dx, dw;
        using (NewDisposeScope())
        {
            var xt = tensor(x, [n, cin, size, size]).requires_grad_();
            var wt = tensor(w, [cout, cin, 3, 3]).requires_grad_();
            (nn.functional.conv2d(xt, wt, strides: [stride, stride], padding: [1, 1]) * tensor(g, [n, cout, outSize, outSize])).sum().backward();
            (dx, dw) = (xt.grad!.contiguous().data<float>().ToArray(), wt.grad!.contiguous().data<float>().ToArray());
        }
        var (expectedDx, expectedDw) = ConvolutionCheck.ReferenceGradients(x, w, g, n, cin, cout, size, stride);
        foreach (var (name, got, expected) in new[] { ("input", dx, expectedDx), ("weight", dw, expectedDw) })
        {
            double scale = expected.Max(Math.Abs);
            double worst = Enumerable.Range(0, got.Length).Max(i => Math.Abs(got[i] - expected[i]));
            Assert.True(worst <= 1e-4 * scale, $"path {path}, {name} gradient: max |libtorch − float64| = {worst:g3} (scale {scale:g3})");
        }
    }

    static readonly ModelDescription OddWidths = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [1, 12, 12], "layers": [
      { "name": "c1", "type": "conv2d", "out": 13, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 },
      { "name": "c2", "type": "conv2d", "out": 18, "kernel": 3, "padding": 1 }, { "name": "b2", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "c3", "type": "conv2d", "out": 21, "kernel": 3, "stride": 2, "padding": 1 }, { "type": "relu" },
      { "name": "c4", "type": "conv2d", "out": 7, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "flatten" }, { "name": "f1", "type": "linear", "out": 11 }, { "type": "relu" }, { "name": "out", "type": "linear", "out": 10 } ] }
    """);

    [Theory]
    [InlineData(ConvolutionPath.OneDnn)]
    [InlineData(ConvolutionPath.NoOneDnn)]
    public void Odd_width_logits_at_batch_256_equal_a_float64_reference_on_every_path_the_probe_accepts(ConvolutionPath path)
    {
        bool accepted = PathIsRightHere(path);
        if (path == ConvolutionPath.NoOneDnn) Assert.True(accepted, "the fallback path must be right, or nothing can be computed");
        if (!accepted) return; // never chosen on this CPU: 'auto' falls back, a forced path stops with PFA0013
        using var network = OddWidthNetwork();
        AssertFloat64Logits(network, path.ToString());
    }

    static PfaNetwork OddWidthNetwork()
    {
        torch.manual_seed(11);
        var network = new PfaNetwork(OddWidths);
        TrainedLooking.Apply(Checkpoint.StateOf(network).Select(e => (e.Key, e.Value)), scales: false);
        network.eval();
        return network;
    }

    static void AssertFloat64Logits(PfaNetwork network, string what)
    {
        var weights = Checkpoint.StateOf(network).Where(e => e.Value.dtype == ScalarType.Float32)
            .ToDictionary(e => e.Key, e => e.Value.contiguous().data<float>().ToArray());
        const int n = 256;
        var random = new Random(3);
        var input = Enumerable.Range(0, n * 144).Select(_ => random.NextDouble()).ToArray();
        float[] logits;
        using (no_grad())
        using (NewDisposeScope())
            logits = network.forward(tensor(input.Select(v => (float)v).ToArray(), [n, 1, 12, 12])).contiguous().data<float>().ToArray();
        var expected = Float64Forward.Run(OddWidths, weights, input, n);
        double scale = expected.Max(Math.Abs);
        double worst = Enumerable.Range(0, logits.Length).Max(i => Math.Abs(logits[i] - expected[i]));
        Assert.True(worst <= 1e-4 * scale, $"{what}: max |libtorch − float64| = {worst:g3} (scale {scale:g3})");
        // Predictions agree sample by sample (what the accuracy gate counts).
        for (int i = 0; i < n; i++)
            Assert.Equal(ArgMax(expected, i * 10), ArgMax(logits.Select(v => (double)v).ToArray(), i * 10));
    }

    [Fact]
    public void Routed_inference_gives_the_float64_logits_and_decides_each_layer_and_shape_once()
    {
        // The fallback for training, oneDNN per layer and shape where it agrees: right on every CPU, whichever way
        // each layer goes (on the Zen 5 EPYC the 18-channel input layer disagrees and stays on the fallback).
        ConvolutionCheck.Use(ConvolutionPath.NoOneDnn, routeInference: true);
        using var network = OddWidthNetwork();
        int convolutions = OddWidths.Layers.Count(l => l.Type == LayerType.Conv2d);
        var before = ConvolutionRouting.Counts;
        AssertFloat64Logits(network, "first pass (both paths)");
        var first = ConvolutionRouting.Counts;
        Assert.Equal(convolutions, first.OneDnn + first.Fallback - before.OneDnn - before.Fallback);
        AssertFloat64Logits(network, "second pass (each layer on its path)");
        Assert.Equal(first, ConvolutionRouting.Counts);   // decided once per layer and shape
        // With gradients nothing is routed: oneDNN's backward can be wrong where its forward is right.
        using (var scope = NewDisposeScope())
        using (enable_grad())
            network.forward(torch.rand(2, 1, 12, 12));
        Assert.Equal(first, ConvolutionRouting.Counts);
    }

    [Fact]
    public void A_layer_whose_oneDNN_output_disagrees_stays_on_the_fallback()
    {
        ConvolutionCheck.Use(ConvolutionPath.NoOneDnn, routeInference: true);
        ConvolutionRouting.Agreement = (_, _) => false;   // as on a CPU where oneDNN is wrong at every shape
        using var network = OddWidthNetwork();
        int convolutions = OddWidths.Layers.Count(l => l.Type == LayerType.Conv2d);
        var before = ConvolutionRouting.Counts;
        AssertFloat64Logits(network, "disagreeing");
        var after = ConvolutionRouting.Counts;
        Assert.Equal((before.OneDnn, before.Fallback + convolutions), after);
        // Forced paths do not route.
        ConvolutionCheck.Use(ConvolutionPath.NoOneDnn);
        Assert.False(ConvolutionRouting.Enabled);
    }

    /// <summary>What the probe says of <paramref name="path"/> on this CPU (a forced wrong path stops with PFA0013).</summary>
    static bool PathIsRightHere(ConvolutionPath path)
    {
        ConvolutionCheck.Use(path);
        return ConvolutionCheck.MaxRelativeError() <= ConvolutionCheck.Tolerance;
    }

    static int ArgMax(double[] v, int at) => Enumerable.Range(0, 10).MaxBy(k => v[at + k]);

    [Theory]
    [InlineData("no-onednn", 0, "")]
    [InlineData("onednn", 0, "")]
    [InlineData("auto", 0, "")]
    [InlineData("sideways", 2, "error PFA0009: PFA_CONV_PATH='sideways' is not a convolution path")]
    public async Task The_environment_variable_forces_a_path_in_a_real_process(string value, int exit, string expected)
    {
        using var dir = new TempDir();
        using (var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(48, 2))))
            PfaModel.Export(seq, [1, 6, 6], null, dir["m.json"], dir["m.dat"], "tiny");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Pfa.Testing.Repository.ToolDll, "info", "--model", dir["m.json"], "--weights", dir["m.dat"], "--latency", "--runs", "2" })
            psi.ArgumentList.Add(a);
        psi.Environment["PFA_CONV_PATH"] = value;
        if (value == "onednn" && !PathIsRightHere(ConvolutionPath.OneDnn))
            (exit, expected) = (2, "error PFA0013: libtorch's convolution on the forced path onednn disagrees with a float64 reference on this CPU");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == exit, err);
        if (expected.Length > 0) Assert.Contains(expected, err);
        else Assert.Contains("CPU latency", await stdout);
    }
}

using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Pfa.Core.Onnx;

/// <summary>
/// An exported model in ONNX Runtime's CPU provider, the runtime .NET teams serve with: logits for a batch of
/// [0, 1] pixels, and the median forward time (the same protocol as <see cref="Metrics.Latency"/> for libtorch).
/// </summary>
public sealed class OnnxRuntimeModel : IDisposable
{
    readonly InferenceSession _session;
    readonly int[] _sampleShape;
    readonly int _threads;

    /// <param name="threads">Intra-op threads; 0 = ONNX Runtime's default (one per physical core).</param>
    public OnnxRuntimeModel(byte[] model, int[] sampleShape, int threads = 0)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        _session = new InferenceSession(model, options);
        _sampleShape = sampleShape;
        _threads = threads;
    }

    public static OnnxRuntimeModel Of(Model.PfaNetwork network, int threads = 0)
    {
        using var stream = new MemoryStream();
        Google.Protobuf.MessageExtensions.WriteTo(OnnxExporter.Build(network), stream);
        return new OnnxRuntimeModel(stream.ToArray(), network.Graph.InputShape, threads);
    }

    /// <summary>Logits [batch × classes] for <paramref name="pixels"/> (batch × sample elements, row-major, in [0, 1]).</summary>
    public float[] Run(float[] pixels, int batch)
    {
        var input = new DenseTensor<float>(pixels, [batch, .. _sampleShape]);
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, input)]);
        return results.Single(r => r.Name == OnnxExporter.OutputName).AsTensor<float>().ToArray();
    }

    /// <summary>Median milliseconds of <paramref name="runs"/> forward passes of a random batch after warm-up runs.</summary>
    public double MedianMilliseconds(int batch, int runs = 20, int warmup = Metrics.Latency.Warmup) => Measure(batch, runs, warmup).MedianMs;

    /// <summary>Forward time of a random batch: median and minimum of <paramref name="runs"/> warm runs.</summary>
    public Metrics.LatencyResult Measure(int batch, int runs = 20, int warmup = Metrics.Latency.Warmup)
    {
        int elements = _sampleShape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(0);
        var pixels = Enumerable.Range(0, batch * elements).Select(_ => (float)rng.NextDouble()).ToArray();
        for (int i = 0; i < warmup; i++) Run(pixels, batch);
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            Run(pixels, batch);
            times[i] = watch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        double median = runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
        return new Metrics.LatencyResult(median, times[0], batch, runs, _threads == 0 ? Environment.ProcessorCount : _threads);
    }

    public void Dispose() => _session.Dispose();
}

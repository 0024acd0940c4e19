using System.Runtime.CompilerServices;
using Pfa.Core.Budget;
using Pfa.Core.Model;

namespace Pfa.Core.Metrics;

/// <summary>What the latency strategy's search asks of a model of latency: the original's time, a prediction for
/// other widths, an end-to-end measurement, and what building the prediction cost.</summary>
public interface ILatencyModel
{
    double OriginalMs { get; }
    double Predict(ModelGraph narrowed);
    double Measure(ModelDescription description);
    int TableEntries { get; }
    int TableMeasured { get; }
    double TableSeconds { get; }
    int EndToEnd { get; }
    string Machine { get; }
    /// <summary>Keeps what was measured for the next run.</summary>
    void Save();
}

/// <summary>
/// A model's latency at the serving batch predicted from its widths: Σ of its conv and linear layers' measured
/// times (<see cref="LatencyTable"/>) plus the rest (batch norms, activations, pools, sums: the original's
/// end-to-end time minus its layers' sum), taken as proportional to the elements those other layers write — they
/// are memory-bound, so they shrink with the channels; and the end-to-end measurement that checks a prediction
/// (the latency strategy's search corrects its limit with it).
/// </summary>
public sealed class LatencyPredictor : ILatencyModel
{
    static readonly ConditionalWeakTable<ModelGraph, Dictionary<LatencyBudget, LatencyPredictor>> Made = new();

    readonly double _restPerElement;
    int _runs = MinRuns;

    /// <summary>Timed runs per end-to-end measurement: enough for this many milliseconds of the original, between
    /// <see cref="MinRuns"/> and <see cref="MaxRuns"/>.</summary>
    public const double EndToEndMilliseconds = 100;
    public const int MinRuns = 10, MaxRuns = 200;

    public LatencyTable Table { get; }
    public LatencyBudget Serving { get; }
    /// <summary>The original model measured end to end (median of warm runs).</summary>
    public double OriginalMs { get; }
    /// <summary>End-to-end measurements made by this predictor, and their seconds.</summary>
    public int EndToEnd { get; private set; }
    public double EndToEndSeconds { get; private set; }

    LatencyPredictor(ModelGraph original, LatencyBudget serving, string? cacheDirectory)
    {
        Serving = serving;
        Table = TableFor(serving, cacheDirectory);
        // Enough timed runs for ~EndToEndMilliseconds of the original's time: at batch 1 a VGG's 1.2 ms forward
        // pass timed 10 times gave ratios from 0.30 to 0.46 for the same widths (the latency bench's VGG at 0.3).
        double estimate = Measure(original.Description);
        _runs = Math.Clamp((int)Math.Ceiling(EndToEndMilliseconds / Math.Max(estimate, 1e-3)), MinRuns, MaxRuns);
        OriginalMs = _runs == MinRuns ? estimate : Measure(original.Description);
        _restPerElement = Math.Max(0, OriginalMs - Table.Sum(original)) / Math.Max(1, OtherElements(original));
    }

    /// <summary>The per-layer table for a serving setting, shared by every plan in the process.</summary>
    public static LatencyTable TableFor(LatencyBudget serving, string? cacheDirectory = null)
    {
        lock (Tables)
        {
            var key = (serving, cacheDirectory ?? LatencyTable.DefaultCacheDirectory());
            if (!Tables.TryGetValue(key, out var t)) Tables[key] = t = new LatencyTable(serving, key.Item2);
            return t;
        }
    }

    static readonly Dictionary<(LatencyBudget, string), LatencyTable> Tables = [];

    /// <summary>One predictor per model graph and serving setting (the original is measured once per process).</summary>
    public static LatencyPredictor For(ModelGraph original, LatencyBudget serving, string? cacheDirectory = null)
    {
        var bySetting = Made.GetOrCreateValue(original);
        lock (bySetting)
        {
            if (!bySetting.TryGetValue(serving, out var p)) bySetting[serving] = p = new LatencyPredictor(original, serving, cacheDirectory);
            return p;
        }
    }

    public int TableEntries => Table.Count;
    public int TableMeasured => Table.Measured;
    public double TableSeconds => Table.MeasureSeconds;
    public string Machine => Table.Fingerprint;
    public void Save() => Table.Save();

    /// <summary>The predicted milliseconds of a model with these widths.</summary>
    public double Predict(ModelGraph narrowed) => Table.Sum(narrowed) + _restPerElement * OtherElements(narrowed);

    /// <summary>Elements per sample written by the layers the table does not time.</summary>
    static double OtherElements(ModelGraph g) => g.Nodes.Where(n => !LatencyTable.Covers(n)).Sum(n => n.OutShape.Aggregate(1.0, (a, d) => a * d));

    /// <summary>The model measured end to end with random weights (the weights do not change the time).</summary>
    public double Measure(ModelDescription description)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var network = new PfaNetwork(description);
        double ms;
        if (Serving.Runtime == LatencyBudget.Onnx)
        {
            using var session = Onnx.OnnxRuntimeModel.Of(network, Serving.Threads ?? 0);
            ms = session.Measure(Serving.Batch, runs: _runs).MedianMs;
        }
        else ms = LatencyTable.WithThreads(Serving, () => Latency.Measure(network, Serving.Batch, runs: _runs).MedianMs);
        EndToEnd++;
        EndToEndSeconds += watch.Elapsed.TotalSeconds;
        return ms;
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Data;

/// <summary>One mini-batch: inputs [B, …sample shape] (float32, normalised) and labels [B] (int64).</summary>
public sealed class Batch(Tensor x, Tensor y) : IDisposable
{
    public Tensor X { get; } = x;
    public Tensor Y { get; } = y;
    public long Size => Y.shape[0];
    public void Dispose() { X.Dispose(); Y.Dispose(); }
}

/// <summary>
/// A source with a class filter, a sample limit and normalisation. Sequential passes stream from disk (memory:
/// one batch); shuffled passes, for training, read the selected samples into memory once.
/// </summary>
public sealed class Dataset : IDisposable
{
    readonly SampleSource _source;
    readonly int[] _selected;          // indices into the source, ascending
    readonly float[] _mean, _std;      // per channel
    readonly int _channelSize;         // elements per channel of one sample
    byte[]? _cache;                    // raw bytes of the selected samples, for shuffled passes
    readonly bool _ownsSource = true;   // false for a subset: the parent disposes the source

    public int Count => _selected.Length;
    public int[] SampleShape => _source.SampleShape;
    public string Description => _source.Description;
    /// <summary>Labels of the selected samples, in order.</summary>
    public long[] Labels { get; }
    /// <summary>Which selection of which data this is (and which part of it): recorded with an analysis so that
    /// <c>merge</c> can check its shards; null for a subset.</summary>
    public DataSelection? Selection { get; private init; }
    /// <summary>The normalisation applied to every sample (null: samples are used as read, scaled to [0, 1]).</summary>
    public Normalization? Normalize { get; }

    readonly IReadOnlyList<int>? _relabel;

    Dataset(SampleSource source, int[] selected, Normalization? normalize, bool ownsSource = true, IReadOnlyList<int>? relabel = null)
    {
        _relabel = relabel;
        _ownsSource = ownsSource;
        _source = source;
        Normalize = normalize;
        _selected = selected;
        Labels = selected.Select(i => source.Labels[i]).ToArray();
        if (relabel is not null)
        {
            var position = relabel.Select((c, k) => (c, k)).ToDictionary(p => (long)p.c, p => (long)p.k);
            Labels = Labels.Select(l => position.TryGetValue(l, out var k) ? k
                : throw new PfaException(ErrorCodes.InvalidData, $"{source.Description} has a sample of class {l}, which the model's outputs ({string.Join(", ", relabel)}) do not include.")).ToArray();
        }
        int channels = Normalizer.Channels(source.SampleShape);
        _channelSize = source.SampleElements / channels;
        _mean = Expand(normalize?.Mean, channels, 0);
        _std = Expand(normalize?.Std, channels, 1);
    }

    static float[] Expand(List<double>? values, int channels, double fallback) => Normalizer.Expand(values, channels, fallback);

    public static Dataset Open(DataSpec spec, Normalization? normalize)
    {
        var source = spec.OpenSource();
        try
        {
            IEnumerable<int> indices = Enumerable.Range(0, source.Count);
            if (spec.Classes is { Count: > 0 } classes)
            {
                var set = classes.Select(c => (long)c).ToHashSet();
                indices = indices.Where(i => set.Contains(source.Labels[i]));
            }
            if (spec.Limit is { } limit)
            {
                if (limit <= 0) throw new PfaException(ErrorCodes.InvalidArgument, $"the sample limit must be positive; found {limit}.");
                indices = indices.Take(limit);
            }
            var selected = indices.ToArray();
            if (selected.Length == 0)
                throw new PfaException(ErrorCodes.InvalidData,
                    $"no samples selected from {source.Description}{(spec.Classes is { Count: > 0 } ? $" with classes [{string.Join(", ", spec.Classes)}]" : "")}.", spec.Path);
            var selection = DataSelection.Of(source, selected, spec.Shard);
            if (spec.Shard is { } shard)
            {
                var (start, end) = shard.Range(selected.Length);
                if (end <= start)
                    throw new PfaException(ErrorCodes.InvalidArgument, $"shard {shard} of {selected.Length:N0} samples is empty: use at most {selected.Length} parts.", spec.Path);
                selected = selected[start..end];
            }
            if (normalize is { } n && n.Mean.Count > 1 && source.SampleShape.Length == 3 && n.Mean.Count != source.SampleShape[0])
                throw new PfaException(ErrorCodes.InvalidData, $"normalisation has {n.Mean.Count} channels but {source.Description} has {source.SampleShape[0]}.", spec.Path);
            return new Dataset(source, selected, normalize, relabel: spec.Relabel) { Selection = selection };
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Every label names one of the model's <paramref name="classes"/> outputs (else the loss or the
    /// accuracy would index past them).</summary>
    public void CheckLabels(long classes)
    {
        long maxLabel = Labels.Max();
        if (maxLabel >= classes)
            throw new PfaException(ErrorCodes.InvalidData, $"{Description} has label {maxLabel} but the model has only {classes} outputs.");
    }

    /// <summary>Throws a located error when the samples do not have the shape the model takes.</summary>
    public void CheckShape(int[] modelInput, string modelFile)
    {
        if (!SampleShape.SequenceEqual(modelInput))
            throw new PfaException(ErrorCodes.InvalidData,
                $"{Description} has samples of shape [{string.Join(", ", SampleShape)}] but the model in '{modelFile}' takes [{string.Join(", ", modelInput)}].");
    }

    /// <summary>Batches in file order, streamed.</summary>
    /// <summary>A positive batch size no larger than the data (a huge --batch-size means "all at once"), whose
    /// buffer (samples × elements) fits one array.</summary>
    int CheckedBatchSize(int batchSize)
    {
        if (batchSize <= 0) throw new PfaException(ErrorCodes.InvalidArgument, $"batch size must be positive; found {batchSize}.");
        int b = Math.Max(1, Math.Min(batchSize, _selected.Length));
        if ((long)b * _source.SampleElements > Array.MaxLength)
            throw new PfaException(ErrorCodes.InvalidArgument, $"a batch of {b:N0} samples of {_source.SampleElements:N0} values does not fit in memory; use a smaller --batch-size (or 'batch_size').");
        return b;
    }

    public IEnumerable<Batch> Batches(int batchSize)
    {
        batchSize = CheckedBatchSize(batchSize);
        _source.Rewind();
        int sampleBytes = _source.SampleBytes;
        var scratch = new byte[sampleBytes];
        int next = 0; // next source index to be read
        // One host buffer for every full batch: per-batch arrays would churn the large-object heap, and the
        // process's peak memory would then depend on when the GC happens to run, not on the batch size.
        var full = new float[batchSize * _source.SampleElements];
        var fullLabels = new long[batchSize];
        for (int start = 0; start < _selected.Length; start += batchSize)
        {
            int b = Math.Min(batchSize, _selected.Length - start);
            var x = b == batchSize ? full : new float[b * _source.SampleElements];
            var y = b == batchSize ? fullLabels : new long[b];
            for (int k = 0; k < b; k++)
            {
                int want = _selected[start + k];
                while (next < want) { _source.ReadNext(scratch); next++; }
                _source.ReadNext(scratch);
                next++;
                Convert(scratch, x.AsSpan(k * _source.SampleElements, _source.SampleElements), want);
                y[k] = Labels[start + k];
            }
            yield return MakeBatch(x, y, b);
        }
    }

    /// <summary>Batches in a seeded random order (every sample once per pass), from memory.</summary>
    public IEnumerable<Batch> ShuffledBatches(int batchSize, Random random)
    {
        batchSize = CheckedBatchSize(batchSize);
        var cache = LoadCache();
        int sampleBytes = _source.SampleBytes;
        var order = Enumerable.Range(0, Count).ToArray();
        random.Shuffle(order);
        for (int start = 0; start < order.Length; start += batchSize)
        {
            int b = Math.Min(batchSize, order.Length - start);
            var x = new float[b * _source.SampleElements];
            var y = new long[b];
            for (int k = 0; k < b; k++)
            {
                int i = order[start + k];
                Convert(cache.AsSpan(i * sampleBytes, sampleBytes), x.AsSpan(k * _source.SampleElements, _source.SampleElements), _selected[i]);
                y[k] = Labels[i];
            }
            yield return MakeBatch(x, y, b);
        }
    }

    byte[] LoadCache()
    {
        if (_cache is not null) return _cache;
        int sampleBytes = _source.SampleBytes;
        var cache = new byte[(long)Count * sampleBytes];
        _source.Rewind();
        int next = 0;
        var scratch = new byte[sampleBytes];
        for (int k = 0; k < Count; k++)
        {
            while (next < _selected[k]) { _source.ReadNext(scratch); next++; }
            _source.ReadNext(cache.AsSpan(k * sampleBytes, sampleBytes));
            next++;
        }
        return _cache = cache;
    }

    Batch MakeBatch(float[] x, long[] y, int b)
    {
        var shape = new long[] { b }.Concat(_source.SampleShape.Select(v => (long)v)).ToArray();
        return new Batch(tensor(x, shape), tensor(y, [b]));
    }

    /// <param name="sample">The sample's index in the source, for errors.</param>
    void Convert(ReadOnlySpan<byte> raw, Span<float> destination, int sample)
    {
        if (_source.IsUInt8)
        {
            for (int i = 0; i < destination.Length; i++)
            {
                int c = i / _channelSize;
                destination[i] = (raw[i] / 255f - _mean[c]) / _std[c];
            }
        }
        else
        {
            var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw);
            for (int i = 0; i < destination.Length; i++)
            {
                // NaN or ±Inf pixels would flow through the model into a meaningless accuracy or analysis.
                if (!float.IsFinite(f[i]))
                    throw new PfaException(ErrorCodes.InvalidData, $"{Description}: sample {sample} holds a non-finite value ({f[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}) at element {i}; replace NaN and infinite pixels (e.g. np.nan_to_num) before saving.");
                int c = i / _channelSize;
                destination[i] = (f[i] - _mean[c]) / _std[c];
            }
        }
    }

    /// <summary>The samples at these positions (0 … Count − 1) of this dataset, over the same source: for a held-out
    /// slice. Use one of the two at a time (they share the file); disposing the subset leaves the source open.</summary>
    public Dataset Subset(IEnumerable<int> positions) =>
        new(_source, positions.Select(p => _selected[p]).Order().ToArray(), Normalize, ownsSource: false, _relabel);

    public void Dispose()
    {
        if (_ownsSource) _source.Dispose();
    }
}

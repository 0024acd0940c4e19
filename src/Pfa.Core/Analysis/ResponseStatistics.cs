using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Analysis;

/// <summary>
/// Streaming second-order statistics of one layer's responses (PFA §3.1: the covariance of the response
/// matrix A ∈ R^{M×C}). Responses are shifted by a reference mean r (the first batch's mean) before the
/// float32 GEMM, so values far from zero (ReLU outputs are all positive) keep their precision; partial sums are
/// flushed into float64 accumulators every <see cref="FlushRows"/> rows. Memory: O(C²), independent of M.
/// <para>Mergeable: statistics of two shards combine into exactly those of one pass over both (the second
/// shard's sums are moved to the first's reference: Σ(x−r₁)(x−r₁)ᵀ = M₂ + s₂dᵀ + d s₂ᵀ + n₂ddᵀ with
/// d = r₂ − r₁, s₂ = Σ(x−r₂)).</para>
/// </summary>
public sealed class ResponseStatistics : IDisposable
{
    /// <summary>Rows accumulated in float32 before they are added to the float64 totals.</summary>
    public const int FlushRows = 8192;

    public string Layer { get; }
    public int Channels { get; }
    public long Count { get; private set; }
    /// <summary>Reference mean r (float64, [C]); null until the first batch.</summary>
    public Tensor? Reference { get; private set; }
    /// <summary>Σ(x − r), float64 [C].</summary>
    public Tensor Sum { get; }
    /// <summary>Σ(x − r)(x − r)ᵀ, float64 [C, C].</summary>
    public Tensor Moment { get; }

    Tensor? _reference32, _sum32, _moment32;
    int _pending;

    public ResponseStatistics(string layer, int channels)
    {
        Layer = layer;
        Channels = channels;
        // State lives as long as this object, never in the caller's dispose scope.
        Sum = zeros(channels, dtype: ScalarType.Float64).DetachFromDisposeScope();
        Moment = zeros(channels, channels, dtype: ScalarType.Float64).DetachFromDisposeScope();
    }

    /// <summary>Adds a batch of responses [B, C] (float32).</summary>
    public void Add(Tensor responses)
    {
        if (responses.shape.Length != 2 || responses.shape[1] != Channels)
            throw new ArgumentException($"layer {Layer}: expected responses [B, {Channels}], got [{string.Join(", ", responses.shape)}]");
        if (responses.shape[0] == 0) return;
        using var scope = NewDisposeScope();
        var x = responses.to_type(ScalarType.Float32);
        if (Reference is null)
        {
            var mean = x.mean([0L]);
            Reference = mean.to_type(ScalarType.Float64).DetachFromDisposeScope();
            _reference32 = mean.DetachFromDisposeScope();
            _sum32 = zeros(Channels).DetachFromDisposeScope();
            _moment32 = zeros(Channels, Channels).DetachFromDisposeScope();
        }
        var z = x - _reference32!;
        _moment32!.addmm_(z.t(), z);       // one GEMM with beta = 1: the same cost as XᵀX
        _sum32!.add_(z.sum([0L]), KeptScalars.One);
        Count += responses.shape[0];
        _pending += (int)responses.shape[0];
        if (_pending >= FlushRows) Flush();
    }

    /// <summary>Moves the float32 partial sums into the float64 totals.</summary>
    public void Flush()
    {
        if (_pending == 0 || _moment32 is null) return;
        Moment.add_(_moment32.to_type(ScalarType.Float64), KeptScalars.One);
        Sum.add_(_sum32!.to_type(ScalarType.Float64), KeptScalars.One);
        _moment32.zero_();
        _sum32!.zero_();
        _pending = 0;
    }

    /// <summary>Adds another shard's statistics of the same layer.</summary>
    public void Merge(ResponseStatistics other)
    {
        if (other.Channels != Channels || other.Layer != Layer)
            throw new ArgumentException($"cannot merge statistics of {other.Layer} ({other.Channels} channels) into {Layer} ({Channels})");
        Flush();
        other.Flush();
        if (other.Count == 0) return;
        if (Reference is null)
        {
            Reference = other.Reference!.clone().DetachFromDisposeScope();
            _reference32 = Reference.to_type(ScalarType.Float32).DetachFromDisposeScope();
            _sum32 = zeros(Channels).DetachFromDisposeScope();
            _moment32 = zeros(Channels, Channels).DetachFromDisposeScope();
            Sum.copy_(other.Sum);
            Moment.copy_(other.Moment);
            Count = other.Count;
            return;
        }
        using var scope = NewDisposeScope();
        var d = other.Reference! - Reference;
        using var n = ((double)other.Count).ToScalar();
        Moment.add_(other.Moment.add(other.Sum.outer(d), KeptScalars.One).add_(d.outer(other.Sum), KeptScalars.One).add_(d.outer(d).mul_(n), KeptScalars.One), KeptScalars.One);
        Sum.add_(other.Sum.add(d.mul(n), KeptScalars.One), KeptScalars.One);
        Count += other.Count;
    }

    /// <summary>Sample covariance (divisor M − 1; M when M = 1), float64 [C, C].</summary>
    public Tensor Covariance()
    {
        Flush();
        if (Count == 0) return zeros(Channels, Channels, dtype: ScalarType.Float64);
        using var scope = NewDisposeScope();
        using var count = Count.ToScalar();
        using var divisor = (2.0 * Math.Max(1, Count - 1)).ToScalar();
        var centered = Moment - Sum.outer(Sum).div_(count);
        var cov = centered.add(centered.t(), KeptScalars.One).div_(divisor); // exact symmetry for eigh
        return cov.MoveToOuterDisposeScope();
    }

    /// <summary>Rebuilds statistics from their saved parts (see <see cref="StatisticsFile"/>).</summary>
    internal static ResponseStatistics FromParts(string layer, long count, Tensor reference, Tensor sum, Tensor moment)
    {
        var s = new ResponseStatistics(layer, (int)sum.shape[0]) { Count = count };
        s.Reference = reference.to_type(ScalarType.Float64).clone().DetachFromDisposeScope();
        s._reference32 = reference.to_type(ScalarType.Float32).DetachFromDisposeScope();
        s._sum32 = zeros(s.Channels).DetachFromDisposeScope();
        s._moment32 = zeros(s.Channels, s.Channels).DetachFromDisposeScope();
        s.Sum.copy_(sum);
        s.Moment.copy_(moment);
        return s;
    }

    public void Dispose()
    {
        Sum.Dispose();
        Moment.Dispose();
        Reference?.Dispose();
        _reference32?.Dispose();
        _sum32?.Dispose();
        _moment32?.Dispose();
    }
}

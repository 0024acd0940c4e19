using MathNet.Numerics.LinearAlgebra;
using Pfa.Core.Analysis;
using Pfa.Core.Spectra;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>Statistics and spectra against MathNet.Numerics, an independent implementation.</summary>
public class SpectraTests
{
    static double[,] RandomResponses(int m, int c, int seed, double offset)
    {
        var rng = new Random(seed);
        var mix = new double[c, c];
        for (int i = 0; i < c; i++) for (int j = 0; j < c; j++) mix[i, j] = rng.NextDouble() - 0.5;
        var x = new double[m, c];
        for (int s = 0; s < m; s++)
        {
            var z = Enumerable.Range(0, c).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            for (int j = 0; j < c; j++)
            {
                double v = offset;
                for (int k = 0; k < c; k++) v += z[k] * mix[k, j] * (k + 1);
                x[s, j] = v;
            }
        }
        return x;
    }

    static Tensor ToTensor(double[,] x, int from, int to)
    {
        int c = x.GetLength(1);
        var data = new float[(to - from) * c];
        for (int s = from; s < to; s++) for (int j = 0; j < c; j++) data[(s - from) * c + j] = (float)x[s, j];
        return tensor(data, [to - from, c]);
    }

    static Matrix<double> MathNetCovariance(double[,] x)
    {
        // Round through float32 exactly as the tensors see the data.
        var m = Matrix<double>.Build.Dense(x.GetLength(0), x.GetLength(1), (i, j) => (float)x[i, j]);
        var mean = m.ColumnSums() / m.RowCount;
        var centered = m - Matrix<double>.Build.Dense(m.RowCount, m.ColumnCount, (i, j) => mean[j]);
        return centered.TransposeThisAndMultiply(centered) / (m.RowCount - 1);
    }

    [Fact]
    public void Streaming_covariance_of_offset_responses_matches_MathNet()
    {
        // Large positive offset (like ReLU outputs) and many batches: the shift keeps float32 accurate.
        var x = RandomResponses(3000, 12, 1, offset: 50);
        using var stats = new ResponseStatistics("l", 12);
        for (int s = 0; s < 3000; s += 128) using (var b = ToTensor(x, s, Math.Min(3000, s + 128))) stats.Add(b);
        using var cov = stats.Covariance();
        var expected = MathNetCovariance(x);
        var actual = cov.data<double>().ToArray();
        for (int i = 0; i < 12; i++) for (int j = 0; j < 12; j++)
            Assert.Equal(expected[i, j], actual[i * 12 + j], 1e-4 * Math.Max(1, Math.Abs(expected[i, j])));
    }

    [Fact]
    public void Two_merged_shards_equal_one_pass_over_both()
    {
        var x = RandomResponses(1000, 8, 2, offset: 3);
        using var whole = new ResponseStatistics("l", 8);
        using var a = new ResponseStatistics("l", 8);
        using var b = new ResponseStatistics("l", 8);
        using (var t = ToTensor(x, 0, 1000)) whole.Add(t);
        using (var t = ToTensor(x, 0, 300)) a.Add(t);
        using (var t = ToTensor(x, 300, 1000)) b.Add(t);
        a.Merge(b);
        Assert.Equal(1000, a.Count);
        using var c1 = whole.Covariance();
        using var c2 = a.Covariance();
        // Equal up to the float32 rounding of the per-shard GEMMs (the merge formula itself is exact).
        double scale = c1.abs().max().item<double>();
        double diff = (c1 - c2).abs().max().item<double>();
        Assert.True(diff <= 1e-6 * scale, $"max diff {diff} at scale {scale}");
    }

    [Fact]
    public void Statistics_survive_a_save_and_load()
    {
        var x = RandomResponses(200, 5, 3, offset: 1);
        using var s = new ResponseStatistics("conv1", 5);
        using (var t = ToTensor(x, 0, 200)) s.Add(t);
        var dir = Directory.CreateTempSubdirectory().FullName;
        StatisticsFile.Write(Path.Combine(dir, "s.safetensors"), [s]);
        var back = StatisticsFile.Read(Path.Combine(dir, "s.safetensors"))["conv1"];
        Assert.Equal(200, back.Count);
        using var c1 = s.Covariance();
        using var c2 = back.Covariance();
        Assert.True(c1.allclose(c2, rtol: 0, atol: 0));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Spectrum_matches_MathNet_eigenvalues_normalised_and_descending()
    {
        var x = RandomResponses(500, 16, 4, offset: 0);
        var expectedCov = MathNetCovariance(x);
        var evd = expectedCov.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var expected = evd.EigenValues.Select(v => Math.Max(0, v.Real)).OrderDescending().ToArray();
        double total = expected.Sum();
        using var cov = tensor(expectedCov.ToRowMajorArray(), [16, 16]);
        var spectrum = LayerSpectrum.Compute("l", cov, 500);
        Assert.Equal(1.0, spectrum.Eigenvalues.Sum(), 12);
        for (int i = 0; i < 16; i++) Assert.Equal(expected[i] / total, spectrum.Eigenvalues[i], 10);
        Assert.True(spectrum.Eigenvalues.Zip(spectrum.Eigenvalues.Skip(1)).All(p => p.First >= p.Second));
        Assert.Empty(spectrum.Warnings);
    }

    [Fact]
    public void Degenerate_layers_have_defined_spectra_and_warnings()
    {
        using var zero = zeros(4, 4, dtype: ScalarType.Float64);
        var dead = LayerSpectrum.Compute("dead", zero, 100);
        Assert.Equal([1.0, 0, 0, 0], dead.Eigenvalues);
        Assert.Contains(dead.Warnings, w => w.StartsWith("PFA2001: ", StringComparison.Ordinal) && w.Contains("no variance"));

        using var one = tensor(new double[] { 2.5 }, [1, 1]);
        var single = LayerSpectrum.Compute("one", one, 10);
        Assert.Equal([1.0], single.Eigenvalues);
        Assert.Contains(single.Notes, n => n.Contains("single filter"));
        Assert.Empty(single.Warnings); // handled by design: a note, not a warning that -warnaserror would turn into a failure

        // Two live filters, one dead: no NaN, the dead one is reported inactive.
        using var partly = tensor(new double[] { 1, 0.5, 0, 0.5, 1, 0, 0, 0, 0 }, [3, 3]);
        var p = LayerSpectrum.Compute("partly", partly, 2);
        Assert.All(p.Eigenvalues, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(1, p.Inactive);
        Assert.Contains(p.Warnings, w => w.StartsWith("PFA2002: ", StringComparison.Ordinal) && w.Contains("only 2 samples"));
        Assert.Contains(p.Notes, n => n.Contains("1 inactive filter"));
    }
}

using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;

namespace Pfa.Tests;

public sealed class DatasetTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static List<(float[] X, long Y)> All(Dataset d, int batch)
    {
        var result = new List<(float[], long)>();
        foreach (var b in d.Batches(batch))
            using (b)
            {
                int per = (int)(b.X.numel() / b.Size);
                var x = b.X.flatten().data<float>().ToArray();
                var y = b.Y.data<long>().ToArray();
                for (int i = 0; i < b.Size; i++) result.Add((x[(i * per)..((i + 1) * per)], y[i]));
            }
        return result;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Idx_folder_is_read_in_order_with_scaling_and_normalisation(bool gzip)
    {
        string ext = gzip ? ".gz" : "";
        DataFiles.Idx(_dir[$"t10k-images-idx3-ubyte{ext}"], _dir[$"t10k-labels-idx1-ubyte{ext}"], 10, 4, 5, i => (byte)(i % 3), gzip);
        using var d = Dataset.Open(new DataSpec { Path = _dir.Path, Split = "test" }, new Normalization { Mean = [0.5], Std = [0.25] });
        Assert.Equal([1, 4, 5], d.SampleShape);
        var all = All(d, 3);
        Assert.Equal(10, all.Count);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i % 3, all[i].Y);
            for (int j = 0; j < 20; j++)
                Assert.Equal((DataFiles.Pixel(i, j) / 255f - 0.5f) / 0.25f, all[i].X[j], 5);
        }
    }

    [Fact]
    public void Class_subset_and_limit_select_samples_and_keep_labels()
    {
        DataFiles.Idx(_dir["imgs.idx3-ubyte"], _dir["lbls.idx1-ubyte"], 12, 2, 2, i => (byte)(i % 4), gzip: false);
        using var d = Dataset.Open(new DataSpec { Path = _dir["imgs.idx3-ubyte"], Labels = _dir["lbls.idx1-ubyte"], Classes = [1, 3], Limit = 5 }, null);
        var all = All(d, 2);
        Assert.Equal([1L, 3, 1, 3, 1], all.Select(a => a.Y));
        // Sample 5 is the third selected one (labels 1,3,1 at indices 1,3,5).
        Assert.Equal(DataFiles.Pixel(5, 0) / 255f, all[2].X[0], 6);
    }

    [Fact]
    public void Shuffled_batches_visit_every_sample_once_in_a_seeded_order()
    {
        DataFiles.Idx(_dir["i.idx3-ubyte"], _dir["l.idx1-ubyte"], 9, 2, 2, i => (byte)i, gzip: false);
        using var d = Dataset.Open(new DataSpec { Path = _dir["i.idx3-ubyte"], Labels = _dir["l.idx1-ubyte"] }, null);
        List<long> Order(int seed) => d.ShuffledBatches(4, new Random(seed)).SelectMany(b => { using (b) return b.Y.data<long>().ToArray(); }).ToList();
        var a = Order(3);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (long)i), a.Order());
        Assert.Equal(a, Order(3));
        Assert.NotEqual(Enumerable.Range(0, 9).Select(i => (long)i), a);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cifar_binary_files_give_3x32x32_samples_and_fine_labels(bool cifar100)
    {
        var file = cifar100 ? _dir["test.bin"] : _dir["test_batch.bin"];
        DataFiles.Cifar(file, 4, cifar100, i => (byte)(i + 6));
        using var d = Dataset.Open(new DataSpec { Path = _dir.Path, Split = "test" }, null);
        Assert.Equal([3, 32, 32], d.SampleShape);
        var all = All(d, 3);
        Assert.Equal([6L, 7, 8, 9], all.Select(a => a.Y));
        Assert.Equal(DataFiles.Pixel(2, 1500) / 255f, all[2].X[1500], 6);
    }

    [Theory]
    [InlineData("<i8", 8)]
    [InlineData("<i4", 4)]
    [InlineData("|u1", 1)]
    public void Npy_float32_samples_with_each_label_dtype(string labelDescr, int size)
    {
        var x = Enumerable.Range(0, 3 * 2 * 2 * 2).Select(i => (float)i).ToArray();
        DataFiles.Npy(_dir["x.npy"], "<f4", [3, 2, 2, 2], x.SelectMany(BitConverter.GetBytes).ToArray());
        var labels = new long[] { 2, 0, 1 }.SelectMany(v => BitConverter.GetBytes(v).Take(size)).ToArray();
        DataFiles.Npy(_dir["y.npy"], labelDescr, [3], labels);
        using var d = Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
        var all = All(d, 2);
        Assert.Equal([2L, 0, 1], all.Select(a => a.Y));
        Assert.Equal(x[8..16], all[1].X);
    }

    [Fact]
    public void Npy_uint8_vectors_are_scaled()
    {
        DataFiles.Npy(_dir["x.npy"], "|u1", [2, 3], [0, 51, 255, 10, 20, 30]);
        DataFiles.Npy(_dir["y.npy"], "<i8", [2], BitConverter.GetBytes(1L).Concat(BitConverter.GetBytes(0L)).ToArray());
        using var d = Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
        Assert.Equal([3], d.SampleShape);
        Assert.Equal([0f, 0.2f, 1f], All(d, 8)[0].X);
    }

    static PfaException Bad(DataSpec spec) => Assert.Throws<PfaException>(() => { using var d = Dataset.Open(spec, null); All(d, 4); });

    [Fact]
    public void Damaged_or_mismatched_files_are_rejected_with_a_reason()
    {
        DataFiles.Idx(_dir["i"], _dir["l"], 6, 3, 3, i => 0, gzip: false);
        var ok = File.ReadAllBytes(_dir["i"]);
        File.WriteAllBytes(_dir["i.cut"], ok[..30]);
        Assert.Contains("truncated", Bad(new DataSpec { Path = _dir["i.cut"], Labels = _dir["l"], Format = "idx" }).Message);

        DataFiles.Write(_dir["i.cut.gz"], ok[..30], gzip: true);
        Assert.Contains("truncated", Bad(new DataSpec { Path = _dir["i.cut.gz"], Labels = _dir["l"], Format = "idx" }).Message);

        var magic = (byte[])ok.Clone(); magic[0] = 7;
        File.WriteAllBytes(_dir["i.magic"], magic);
        Assert.Contains("magic", Bad(new DataSpec { Path = _dir["i.magic"], Labels = _dir["l"], Format = "idx" }).Message);

        var dtype = (byte[])ok.Clone(); dtype[2] = 0x0D;
        File.WriteAllBytes(_dir["i.dtype"], dtype);
        Assert.Contains("element type 0x0D", Bad(new DataSpec { Path = _dir["i.dtype"], Labels = _dir["l"], Format = "idx" }).Message);

        Assert.Contains("swap", Bad(new DataSpec { Path = _dir["l"], Labels = _dir["i"], Format = "idx" }).Message);

        DataFiles.Idx(_dir["i7"], _dir["l7"], 7, 3, 3, i => 0, gzip: false);
        Assert.Contains("6 images but", Bad(new DataSpec { Path = _dir["i"], Labels = _dir["l7"], Format = "idx" }).Message);

        File.WriteAllBytes(_dir["data_batch_1.bin"], new byte[3073 * 2 + 5]);
        Assert.Contains("3073-byte records", Bad(new DataSpec { Path = _dir["data_batch_1.bin"] }).Message);

        DataFiles.Npy(_dir["x.npy"], "<f8", [2, 2], new byte[32]);
        DataFiles.Npy(_dir["y.npy"], "<i8", [2], new byte[16]);
        Assert.Contains("'<f8'", Bad(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }).Message);
        DataFiles.Npy(_dir["x.npy"], "<f4", [2, 2], new byte[12]);
        Assert.Contains("truncated", Bad(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }).Message);
        DataFiles.Npy(_dir["x.npy"], "<f4", [3, 2], new byte[24]);
        Assert.Contains("2 labels but", Bad(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }).Message);
        File.WriteAllText(_dir["bad.npy"], "not numpy at all");
        Assert.Contains("\\x93NUMPY", Bad(new DataSpec { Path = _dir["bad.npy"], Labels = _dir["y.npy"] }).Message);

        Assert.Equal(ErrorCodes.FileNotFound, Bad(new DataSpec { Path = _dir["nothing-here"] }).Code);
        Assert.Contains("no test data", Bad(new DataSpec { Path = Directory.CreateDirectory(_dir["empty"]).FullName }).Message);
        Assert.Contains("no samples selected", Bad(new DataSpec { Path = _dir["i"], Labels = _dir["l"], Format = "idx", Classes = [5] }).Message);
    }

    [Fact]
    public void Debian_fashion_mnist_package_is_read()
    {
        const string dir = "/usr/share/datasets/fashion-mnist";
        Assert.True(Directory.Exists(dir), "scripts/setup.sh installs Debian's dataset-fashion-mnist");
        using var test = Dataset.Open(new DataSpec { Path = dir, Split = "test" }, null);
        Assert.Equal(10_000, test.Count);
        Assert.Equal([1, 28, 28], test.SampleShape);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), test.Labels.Distinct().Order());
        Assert.All(test.Labels.GroupBy(l => l), g => Assert.Equal(1000, g.Count()));
    }
}

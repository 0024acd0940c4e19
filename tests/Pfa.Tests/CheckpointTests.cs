using Pfa.Core.Model.Modules;
using System.Buffers.Binary;
using System.Text;
using Pfa.Core.Checkpoints;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pfa.Tests;

public sealed class CheckpointTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static Sequential TrainedLikeCnn()
    {
        torch.manual_seed(7);
        var seq = nn.Sequential(
            ("0", nn.Conv2d(3, 6, 3, padding: 1)), ("1", nn.BatchNorm2d(6)), ("2", nn.ReLU()),
            ("3", nn.Conv2d(6, 6, 3, stride: 2, groups: 3, bias: false)), ("4", new SafeLeakyReLU(0.1)),
            ("5", nn.AvgPool2d(2)), ("6", nn.Flatten()),
            ("7", nn.Linear(24, 16)), ("8", nn.BatchNorm1d(16)), ("9", nn.GELU()), ("10", nn.Dropout(0.2)),
            ("11", nn.Linear(16, 4)), ("12", nn.Tanh()));
        TrainedLooking.Apply(seq);   // non-trivial running statistics, as after training
        seq.eval();
        return seq;
    }

    [Theory]
    [InlineData("model.dat")]
    [InlineData("model.safetensors")]
    public void Sequential_round_trips_through_description_and_weights_with_identical_outputs(string weightsFile)
    {
        using var seq = TrainedLikeCnn();
        var d = PfaModel.Export(seq, [3, 9, 9], null, _dir["model.json"], _dir[weightsFile]);
        Assert.Equal(13, d.Layers.Count);
        using var net = PfaModel.Load(_dir["model.json"], _dir[weightsFile]);
        var x = randn(5, 3, 9, 9);
        using (no_grad())
        {
            var expected = seq.call(x);
            var actual = net.call(x);
            Assert.True(expected.allclose(actual, 0, 0), $"max difference {(expected - actual).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void TorchSharp_s_own_leaky_relu_and_batch_norms_describe_as_ours_do()
    {
        // The round trip above uses the engine's scalar-keeping modules; users' models hold TorchSharp's.
        using var seq = nn.Sequential(("0", nn.Conv2d(1, 2, 3)), ("1", nn.BatchNorm2d(2, eps: 1e-3)), ("2", nn.LeakyReLU(0.1)),
            ("3", nn.Flatten()), ("4", nn.Linear(2, 3)), ("5", nn.BatchNorm1d(3, momentum: 0.2)));
        var d = PfaModel.Export(seq, [1, 3, 3], null, _dir["t.json"], _dir["t.dat"]);
        Assert.Equal(["conv2d", "batchnorm2d", "leaky_relu", "flatten", "linear", "batchnorm1d"], d.Layers.Select(l => l.Type));
        Assert.Equal(0.1, d.Layers[2].NegativeSlope);
        Assert.Equal(1e-3, d.Layers[1].Eps);
        Assert.Equal(0.2, d.Layers[5].Momentum);
        using var net = PfaModel.Load(_dir["t.json"], _dir["t.dat"]);
        Assert.IsType<SafeLeakyReLU>(net.Layer(2));
        Assert.Equal(0.1, ((SafeLeakyReLU)net.Layer(2)!).NegativeSlope);
    }

    [Fact]
    public void Our_dat_reader_reads_TorchSharp_save_and_TorchSharp_load_reads_our_writer()
    {
        using var seq = TrainedLikeCnn();
        seq.save(_dir["ts.dat"]);
        var entries = DatFormat.Read(_dir["ts.dat"]);
        var sd = seq.state_dict();
        Assert.Equal(sd.Keys, entries.Select(e => e.Key));
        foreach (var (k, v) in entries) Assert.True(sd[k].to_type(v.dtype).allclose(v, 0, 0), k);

        Checkpoint.Write(_dir["ours.dat"], entries);
        Assert.Equal(File.ReadAllBytes(_dir["ts.dat"]), File.ReadAllBytes(_dir["ours.dat"]));
        using var other = TrainedLikeCnn();
        foreach (var p in other.parameters()) using (no_grad()) p.zero_();
        other.load(_dir["ours.dat"]);
        Assert.True(other.state_dict()["0.weight"].allclose(sd["0.weight"], 0, 0));
    }

    /// <summary>A safetensors file written by hand, byte by byte, as PyTorch's writer lays it out.</summary>
    static byte[] Safetensors(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    [Fact]
    public void Safetensors_reader_converts_F16_and_BF16_to_float32_and_keeps_F64()
    {
        float[] values = [1.5f, -2.25f, 0.125f, 3f];
        var f16 = values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray();
        var bf16 = values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToInt32Bits(v) >> 16))).ToArray();
        var f64 = values.SelectMany(v => BitConverter.GetBytes((double)v)).ToArray();
        var header = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]},"c":{"dtype":"F64","shape":[4],"data_offsets":[16,48]}}""";
        File.WriteAllBytes(_dir["m.safetensors"], Safetensors(header, [.. f16, .. bf16, .. f64]));
        var read = SafetensorsFormat.Read(_dir["m.safetensors"]).ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal(new long[] { 2, 2 }, read["a"].shape);
        foreach (var key in new[] { "a", "b", "c" })
        {
            Assert.Equal(key == "c" ? ScalarType.Float64 : ScalarType.Float32, read[key].dtype);
            Assert.Equal(values, read[key].flatten().to_type(ScalarType.Float32).data<float>().ToArray());
        }
    }

    [Fact]
    public void Safetensors_writer_output_has_an_aligned_header_and_reads_back()
    {
        var entries = new List<(string, Tensor)> { ("w", tensor(new float[] { 0, 1, 2, 3, 4, 5 }).reshape(2, 3)), ("n", tensor(5L)) };
        Checkpoint.Write(_dir["x.safetensors"], entries);
        var bytes = File.ReadAllBytes(_dir["x.safetensors"]);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
        var back = SafetensorsFormat.Read(_dir["x.safetensors"]).ToDictionary(e => e.Key, e => e.Value);
        Assert.True(back["w"].allclose(entries[0].Item2, 0, 0));
        Assert.Equal(5L, back["n"].item<long>());
    }

    static PfaException Bad(Action a) => Assert.Throws<PfaException>(a);

    [Fact]
    public void Damaged_weight_files_are_rejected_with_a_reason()
    {
        using var seq = TrainedLikeCnn();
        seq.save(_dir["ok.dat"]);
        var ok = File.ReadAllBytes(_dir["ok.dat"]);
        File.WriteAllBytes(_dir["cut.dat"], ok[..(ok.Length / 2)]);
        var e = Bad(() => Checkpoint.Read(_dir["cut.dat"]));
        Assert.Equal(ErrorCodes.InvalidWeights, e.Code);
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(_dir["tiny.safetensors"], [1, 2, 3]);
        Assert.Contains("8-byte header", Bad(() => Checkpoint.Read(_dir["tiny.safetensors"])).Message);

        File.WriteAllBytes(_dir["hdr.safetensors"], Safetensors("{not json", []));
        Assert.Contains("does not parse", Bad(() => Checkpoint.Read(_dir["hdr.safetensors"])).Message);

        File.WriteAllBytes(_dir["dtype.safetensors"], Safetensors("""{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", new byte[8]));
        Assert.Contains("dtype 'C64'", Bad(() => Checkpoint.Read(_dir["dtype.safetensors"])).Message);

        File.WriteAllBytes(_dir["short.safetensors"], Safetensors("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", new byte[8]));
        Assert.Contains("truncated", Bad(() => Checkpoint.Read(_dir["short.safetensors"])).Message);

        File.WriteAllBytes(_dir["size.safetensors"], Safetensors("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", new byte[16]));
        Assert.Contains("needs 12 bytes", Bad(() => Checkpoint.Read(_dir["size.safetensors"])).Message);

        Assert.Equal(ErrorCodes.FileNotFound, Bad(() => Checkpoint.Read(_dir["missing.dat"])).Code);
        File.WriteAllText(_dir["ok.json"], "{}");
        Assert.Equal(ErrorCodes.InvalidArgument, Bad(() => Checkpoint.Read(_dir["ok.json"])).Code);
    }

    [Fact]
    public void Description_and_weights_that_disagree_name_the_key_and_both_shapes()
    {
        using var seq = TrainedLikeCnn();
        var d = PfaModel.Export(seq, [3, 9, 9], null, _dir["model.json"], _dir["model.safetensors"]);
        var weights = SafetensorsFormat.Read(_dir["model.safetensors"]);

        void Write(IEnumerable<(string, Tensor)> e) => Checkpoint.Write(_dir["w.safetensors"], e);

        Write(weights.Where(w => w.Key != "7.weight"));
        var missing = Bad(() => PfaModel.Load(d, _dir["w.safetensors"]));
        Assert.Equal(ErrorCodes.WeightsMismatch, missing.Code);
        Assert.Contains("'7.weight'", missing.Message);
        Assert.Contains("[16, 24]", missing.Message);

        Write(weights.Append(("extra.weight", zeros(2, 2))));
        var extra = Bad(() => PfaModel.Load(d, _dir["w.safetensors"]));
        Assert.Contains("'extra.weight'", extra.Message);
        Assert.Contains("[2, 2]", extra.Message);

        Write(weights.Select(w => w.Key == "11.weight" ? (w.Key, zeros(5, 16)) : w));
        var shape = Bad(() => PfaModel.Load(d, _dir["w.safetensors"]));
        Assert.Contains("'11.weight'", shape.Message);
        Assert.Contains("[5, 16]", shape.Message);
        Assert.Contains("[4, 16]", shape.Message);
    }

    [Fact]
    public void Unsupported_modules_name_their_type_and_position()
    {
        using var seq = nn.Sequential(("0", nn.Conv2d(1, 2, 3)), ("1", nn.Softmax(1)));
        var e = Bad(() => SequentialExporter.Describe(seq, [1, 5, 5]));
        Assert.Equal(ErrorCodes.UnsupportedModule, e.Code);
        Assert.Contains("module '1'", e.Message);
        Assert.Contains("Softmax", e.Message);
    }

    /// <summary>Export from the training dataset: the description carries that dataset's shape and normalisation,
    /// so the tool evaluates on the inputs the model was trained on.</summary>
    [Fact]
    public void Export_from_the_training_data_records_its_shape_and_normalisation_and_a_default_name()
    {
        DataFiles.Idx(_dir["train-images-idx3-ubyte"], _dir["train-labels-idx1-ubyte"], 4, 6, 6, i => (byte)(i % 2), gzip: false);
        var normalize = new Normalization { Mean = [0.25], Std = [0.5] };
        using var data = Pfa.Core.Data.Dataset.Open(new Pfa.Core.Data.DataSpec { Path = _dir.Path, Split = "train" }, normalize);
        using var seq = nn.Sequential(("conv", nn.Conv2d(1, 2, 3)), ("flatten", nn.Flatten()), ("fc", nn.Linear(32, 2)));
        Directory.CreateDirectory(_dir["fashion"]);
        var d = PfaModel.Export(seq, data, _dir["fashion/model.json"], _dir["fashion/model.dat"]);
        Assert.Equal([1, 6, 6], d.Input);
        Assert.Equal([0.25], d.Normalize!.Mean);
        Assert.Equal([0.5], d.Normalize.Std);
        Assert.Equal("fashion", d.Name);                         // the folder, since the file is just "model"
        Assert.Equal("vgg6", PfaModel.DefaultName("runs/vgg6.json"));
        var reloaded = ModelDescription.Load(_dir["fashion/model.json"]);
        Assert.Equal([0.25], reloaded.Normalize!.Mean);
    }
}

using System.Text;
using Pfa.Core.Model;
using TorchSharp;

using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// Damaged inputs whose sizes overflow when multiplied: each is a coded error (exit 2) naming the file, never an
/// internal error (exit 3) or a libtorch message. Every file is generated here in its real format.
/// </summary>
public sealed class DamagedInputTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();


    string Model()
    {
        torch.manual_seed(3);
        using var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3, padding: 1)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(27 * 4, 4)));
        PfaModel.Export(seq, [1, 6, 6], null, _dir["model.json"], _dir["model.dat"], "tiny");
        return _dir["model.json"];
    }

    static void AssertCoded(int code, string err, string expectedCode)
    {
        Assert.True(code == 2, err);
        Assert.Contains($"error {expectedCode}: ", err);
        Assert.DoesNotContain("internal error", err);
        Assert.DoesNotContain("c10::", err);
        Assert.DoesNotMatch(@"\n\s+at \S+\(", err); // no stack frame
    }

    /// <summary>A header whose data_offsets span exactly the wrapped-around size, as a crafted file would.</summary>
    static byte[] Safetensors(string shape, int span)
    {
        var header = Encoding.UTF8.GetBytes("{\"c.weight\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0," + span + "]}}");
        return [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[span]];
    }

    [Theory]
    [InlineData("[4294967296,4294967296]", 0)]      // 2^64 elements × 4 bytes wraps to 0
    [InlineData("[4611686018427387909]", 20)]       // (2^62 + 5) × 4 wraps to 20
    [InlineData("[65536,65536,65536]", 0)]
    public void Safetensors_shapes_that_overflow_are_PFA0004(string shape, int wrappedSpan)
    {
        var model = Model();
        File.WriteAllBytes(_dir["bad.safetensors"], Safetensors(shape, wrappedSpan));
        var (code, _, err) = Cli("info", "--model", model, "--weights", _dir["bad.safetensors"]);
        AssertCoded(code, err, "PFA0004");
        Assert.Contains("larger than any tensor this tool can read", err);
    }

    static void Leb(List<byte> b, ulong v) { do { byte x = (byte)(v & 0x7f); v >>= 7; b.Add(v != 0 ? (byte)(x | 0x80) : x); } while (v != 0); }

    static byte[] Dat(params ulong[] dims)
    {
        var b = new List<byte>();
        Leb(b, 1);
        b.Add(8); b.AddRange(Encoding.UTF8.GetBytes("c.weight"));   // BinaryWriter string: length, UTF-8
        Leb(b, 6);                                                  // Float32
        Leb(b, (ulong)dims.Length);
        foreach (var d in dims) Leb(b, d);
        b.AddRange(new byte[64]);
        return [.. b];
    }

    [Theory]
    [InlineData(new ulong[] { 4294967296, 4294967296, 1, 1 })]
    [InlineData(new ulong[] { 4611686018427387904, 3, 1, 1 })]
    public void Dat_shapes_that_overflow_are_PFA0004(ulong[] dims)
    {
        var model = Model();
        File.WriteAllBytes(_dir["bad.dat"], Dat(dims));
        var (code, _, err) = Cli("info", "--model", model, "--weights", _dir["bad.dat"]);
        AssertCoded(code, err, "PFA0004");
    }

    [Fact]
    public void A_malformed_LEB128_length_is_PFA0004_not_an_IO_fault()
    {
        var model = Model();
        File.WriteAllBytes(_dir["leb.dat"], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        var (code, _, err) = Cli("info", "--model", model, "--weights", _dir["leb.dat"]);
        AssertCoded(code, err, "PFA0004");
        Assert.Contains("malformed", err);
    }

    [Fact]
    public void An_npy_shape_that_overflows_is_PFA0006()
    {
        var model = Model();
        DataFiles.Npy(_dir["x.npy"], "|u1", [4611686018427387904, 28, 28], new byte[64]);
        DataFiles.Npy(_dir["y.npy"], "|u1", [4611686018427387904], new byte[64]);
        var (code, _, err) = Cli("eval", "--model", model, "--weights", _dir["model.dat"], "--data", _dir["x.npy"], "--labels", _dir["y.npy"]);
        AssertCoded(code, err, "PFA0006");
    }

    [Fact]
    public void Control_characters_from_a_damaged_key_are_escaped()
    {
        var model = Model();
        var header = Encoding.UTF8.GetBytes("{\"c.we\\u001b[31might\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        File.WriteAllBytes(_dir["esc.safetensors"], [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);
        var (code, _, err) = Cli("info", "--model", model, "--weights", _dir["esc.safetensors"]);
        AssertCoded(code, err, "PFA0004");
        Assert.DoesNotContain("\u001b", err);
        Assert.Contains("\\u001b[31m", err);
    }

    [Theory]
    [InlineData("""{ "schema": "pfa.model/1", "input": [1, 2147483647, 2147483647], "layers": [ { "type": "flatten" }, { "type": "linear", "out": 2 } ] }""", "more than 2,147,483,648 values per sample")]
    [InlineData("""{ "schema": "pfa.model/1", "input": [4], "layers": [ { "name": "a", "type": "linear", "out": 2, "inputs": ["a"] } ] }""", "reads itself")]
    [InlineData("""{ "schema": "pfa.model/1", "input": [4], "layers": [ { "name": "a", "type": "linear", "out": 2, "inputs": ["b"] }, { "name": "b", "type": "linear", "out": 2 } ] }""", "not the name of an earlier layer")]
    [InlineData("""{ "schema": "pfa.model/1", "input": [65536], "layers": [ { "type": "linear", "out": 65536 } ] }""", "more than 2,147,483,648 weights")]
    [InlineData("""{ "schema": "pfa.model/1", "input": [64, 2048, 2048], "layers": [ { "type": "conv2d", "out": 256, "kernel": 7, "padding": 3 }, { "type": "flatten" } ] }""", "multiply-accumulates per sample")]
    public void Model_descriptions_with_impossible_sizes_or_references_are_PFA0003(string json, string expected)
    {
        File.WriteAllText(_dir["m.json"], json);
        var (code, output, err) = Cli("info", "--model", _dir["m.json"]);
        AssertCoded(code, err, "PFA0003");
        Assert.Contains(expected, err);
        Assert.DoesNotContain("-", output); // never a negative count
    }

    [Fact]
    public void A_model_description_over_the_size_limit_is_refused_before_it_is_parsed()
    {
        using (var w = new StreamWriter(_dir["huge.json"]))
        {
            w.Write("""{ "schema": "pfa.model/1", "input": [4], "layers": [""");
            for (int i = 0; i < 1_000_000; i++) w.Write("""{ "type": "relu" },""");
            w.Write("""{ "type": "relu" } ] }""");
        }
        var (code, _, err) = Cli("info", "--model", _dir["huge.json"]);
        AssertCoded(code, err, "PFA0003");
        Assert.Contains("limited to 16 MiB", err);

        File.WriteAllText(_dir["many.json"], """{ "schema": "pfa.model/1", "input": [4], "layers": [""" + string.Concat(Enumerable.Repeat("""{ "type": "relu" },""", 10_001)).TrimEnd(',') + "] }");
        (code, _, err) = Cli("info", "--model", _dir["many.json"]);
        AssertCoded(code, err, "PFA0003");
        Assert.Contains("up to 10,000", err);
    }

    [Fact]
    public void A_batch_size_larger_than_the_data_is_the_whole_data_at_once()
    {
        var model = Model();
        DataFiles.Idx(_dir["t10k-images-idx3-ubyte"], _dir["t10k-labels-idx1-ubyte"], 20, 6, 6, i => (byte)(i % 4), gzip: false);
        var (code, output, err) = Cli("eval", "--model", model, "--weights", _dir["model.dat"], "--data", _dir.Path, "--batch-size", "2147483647");
        Assert.True(code == 0, err);
        Assert.Contains("20", output);
    }

    [Fact]
    public void A_model_without_a_linear_classifier_is_evaluated_with_a_coded_warning()
    {
        torch.manual_seed(3);
        using var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3, padding: 1)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(108, 8)), ("r", torch.nn.ReLU()));
        PfaModel.Export(seq, [1, 6, 6], null, _dir["relu.json"], _dir["relu.dat"], "relu-ending");
        DataFiles.Idx(_dir["t10k-images-idx3-ubyte"], _dir["t10k-labels-idx1-ubyte"], 20, 6, 6, i => (byte)(i % 4), gzip: false);
        var (code, _, err) = Cli("eval", "--model", _dir["relu.json"], "--weights", _dir["relu.dat"], "--data", _dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("relu.json: warning PFA2003: the model ends in layer 'r' (relu), not a linear classifier: accuracy takes its 8 outputs", err);

        (code, _, err) = Cli("eval", "--model", Model(), "--weights", _dir["model.dat"], "--data", _dir.Path);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("PFA2003", err);
    }
}

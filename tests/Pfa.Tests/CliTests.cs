using System.Diagnostics;
using Pfa.Core.Model;
using TorchSharp;

using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

public sealed class CliTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();


    /// <summary>A tiny CNN for 1×6×6 inputs, exported as description + weights, and a matching IDX test set.</summary>
    void Example()
    {
        torch.manual_seed(3);
        using var seq = torch.nn.Sequential(("c", torch.nn.Conv2d(1, 3, 3, padding: 1)), ("r", torch.nn.ReLU()),
            ("p", torch.nn.MaxPool2d(2)), ("f", torch.nn.Flatten()), ("l", torch.nn.Linear(27, 4)));
        PfaModel.Export(seq, [1, 6, 6], null, _dir["model.json"], _dir["model.dat"], "tiny");
        DataFiles.Idx(_dir["t10k-images-idx3-ubyte"], _dir["t10k-labels-idx1-ubyte"], 20, 6, 6, i => (byte)(i % 4), gzip: false);
    }

    [Fact]
    public void Info_prints_layers_and_totals()
    {
        Example();
        var (code, output, err) = Cli("info", "--model", _dir["model.json"], "--weights", _dir["model.dat"]);
        Assert.True(code == 0, err);
        Assert.Contains("conv2d", output);
        Assert.Contains("[3, 6, 6]", output);
        // conv: 27 + 3 = 30 params, 27·36 = 972 MACs; linear 27·4 + 4 = 112, 108 MACs.
        Assert.Matches(@"total\s+142\s+1,080", output);
    }

    [Fact]
    public void Info_measures_latency_with_and_without_weights()
    {
        Example();
        var (code, output, err) = Cli("info", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--latency", "--runs", "5", "--latency-batch", "4");
        Assert.True(code == 0, err);
        Assert.Matches(@"CPU latency: \d+\.\d{3} ms per forward pass \(batch 4, median of 5 warm runs, min \d+\.\d{3} ms, \d+ threads\)", output);
        (code, output, err) = Cli("info", "--model", _dir["model.json"], "--latency", "--json", "--runs", "3");
        Assert.True(code == 0, err);
        var latency = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("latency");
        Assert.True(latency.GetProperty("median_ms").GetDouble() > 0);
        Assert.Equal(3, latency.GetProperty("runs").GetInt32());
        Assert.Equal(2, Cli("info", "--model", _dir["model.json"], "--latency", "--runs", "0").Code);
    }

    [Fact]
    public void Eval_prints_accuracy_and_json_agrees_with_the_evaluator()
    {
        Example();
        var (code, output, err) = Cli("eval", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir.Path, "--json");
        Assert.True(code == 0, err);
        var json = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(20, json.GetProperty("samples").GetInt32());
        using var net = PfaModel.Load(_dir["model.json"], _dir["model.dat"]);
        using var data = global::Pfa.Core.Data.Dataset.Open(new() { Path = _dir.Path }, null);
        var expected = global::Pfa.Core.Evaluation.Evaluator.Evaluate(net, data);
        Assert.Equal(expected.Top1, json.GetProperty("top1").GetDouble(), 9);
        Assert.Equal(1.0, json.GetProperty("top5").GetDouble()); // 4 classes: top-5 always hits
    }

    [Fact]
    public void Bad_input_exits_2_with_a_located_message()
    {
        Example();
        File.WriteAllText(_dir["broken.json"], "{\n  \"schema\": \"pfa.model/1\",\n  \"input\": [1, 6, 6],\n  \"layers\": [ { \"type\": \"conv9d\" } ]\n}");
        var (code, _, err) = Cli("info", "--model", _dir["broken.json"]);
        Assert.Equal(2, code);
        Assert.Contains("broken.json(4,", err);
        Assert.Contains("PFA0003", err);

        (code, _, err) = Cli("eval", "--model", _dir["model.json"], "--weights", _dir["nope.dat"], "--data", _dir.Path);
        Assert.Equal(2, code);
        Assert.Contains("PFA0001", err);

        (code, _, err) = Cli("eval", "--model", _dir["model.json"], "--weights", _dir["model.dat"]);
        Assert.Equal(2, code);
        Assert.Contains("--data", err);

        DataFiles.Idx(_dir["big-images.idx3-ubyte"], _dir["big-labels.idx1-ubyte"], 3, 7, 7, i => 0, gzip: false);
        (code, _, err) = Cli("eval", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir["big-images.idx3-ubyte"], "--labels", _dir["big-labels.idx1-ubyte"]);
        Assert.Equal(2, code);
        Assert.Contains("[1, 7, 7]", err);

        (code, _, err) = Cli("frobnicate");
        Assert.Equal(2, code);
        Assert.DoesNotContain("   at ", err);
    }

    [Theory]
    [InlineData("info")]
    [InlineData("eval")]
    public void Every_verb_has_help(string verb)
    {
        var (code, output, _) = Cli(verb, "--help");
        Assert.Equal(0, code);
        Assert.Contains("--model", output);
    }

    [Fact]
    public void The_built_tool_runs_as_a_process()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "dotnet-pfa.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "info", "--model", _dir["missing.json"]]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("PFA0001", err);
    }
}

using Pfa.Core.Errors;
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
        Assert.Matches(@"CPU latency \(libtorch\): \d+\.\d{3} ms per forward pass \(batch 4, median of 5 warm runs, min \d+\.\d{3} ms, \d+ threads\)", output);
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

    /// <summary>Every verb the CLI registers answers --help with its own options (the list comes from the CLI, so
    /// a new verb is covered without editing this test).</summary>
    [Fact]
    public void Every_verb_has_help()
    {
        var (code, root, _) = Cli("--help");
        Assert.Equal(0, code);
        string[] verbs = ["info", "eval", "compress", "analyze", "recipe", "apply", "finetune", "merge", "accept", "describe"];
        foreach (var verb in verbs) Assert.Contains($"  {verb} ", root);
        var commands = root[(root.IndexOf("Commands:", StringComparison.Ordinal) + "Commands:".Length)..];
        var listed = System.Text.RegularExpressions.Regex.Matches(commands, @"^  ([a-z]+)\s", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Superset(verbs.ToHashSet(), listed);
        foreach (var verb in listed)
        {
            var (c, output, err) = Cli(verb, "--help");
            Assert.True(c == 0, $"{verb}: {err}");
            Assert.Contains("Usage:", output);
            Assert.Matches($@"\S+ {verb} (<\w+>(\.\.\.)? )?\[options\]", output);
            Assert.Contains("--", output); // its options are described
        }
    }

    /// <summary>Anything unexpected is one line, exit 3, never a stack trace (unless --verbose).</summary>
    [Fact]
    public void An_internal_error_is_exit_3_with_one_line()
    {
        var err = new StringWriter();
        var context = new Pfa.Tool.Cli.CliContext(new StringWriter(), err);
        Assert.Equal(3, context.Guard(() => throw new InvalidOperationException("boom")));
        Assert.StartsWith("internal error: InvalidOperationException: boom", err.ToString());
        Assert.Contains("This is a bug in dotnet-pfa; rerun with --verbose", err.ToString());
        Assert.DoesNotContain("   at ", err.ToString());
        var gate = new StringWriter();
        Assert.Equal(1, new Pfa.Tool.Cli.CliContext(new StringWriter(), gate).Guard(() => throw new PfaException(ErrorCodes.RecipeDrift, "drift", "pfa.recipe.json", 1, 1)));
        Assert.Equal("pfa.recipe.json(1,1): error PFA1002: drift", gate.ToString().Trim());
    }

    /// <summary>The exit code of each kind of error, through the CLI: 0 ok, 1 gate, 2 bad input, 3 internal.</summary>
    [Fact]
    public void Each_error_code_has_its_exit_code()
    {
        Example();
        var cases = new (string Code, int Exit, string[] Args)[]
        {
            ("PFA0001", 2, ["info", "--model", _dir["nope.json"]]),
            ("PFA0002", 2, ["info", "--model", _dir.Path + "/bad.json"]),
            ("PFA0003", 2, ["info", "--model", _dir.Path + "/inconsistent.json"]),
            ("PFA0004", 2, ["info", "--model", _dir["model.json"], "--weights", _dir.Path + "/damaged.dat"]),
            ("PFA0005", 2, ["info", "--model", _dir.Path + "/wider.json", "--weights", _dir["model.dat"]]),
            ("PFA0006", 2, ["eval", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir.Path + "/empty"]),
            ("PFA0007", 2, ["recipe", "--model", _dir["model.json"], "--budget", _dir.Path + "/bad-budget.json"]),
            ("PFA0009", 2, ["compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--tolerance", "-1"]),
        };
        File.WriteAllText(_dir["bad.json"], "{ not json");
        File.WriteAllText(_dir["inconsistent.json"], """{ "schema": "pfa.model/1", "input": [4], "layers": [ { "type": "conv2d", "out": 2, "kernel": 3 } ] }""");
        File.WriteAllBytes(_dir["damaged.dat"], [1, 2, 3]);
        File.WriteAllText(_dir["wider.json"], File.ReadAllText(_dir["model.json"]).Replace("\"out\": 3", "\"out\": 5"));
        Directory.CreateDirectory(_dir["empty"]);
        File.WriteAllText(_dir["bad-budget.json"], """{ "strategy": "energy", "energy": 2 }""");
        foreach (var (expected, exit, args) in cases)
        {
            var (code, _, err) = Cli(args);
            Assert.True(code == exit && err.Contains($"error {expected}:"), $"{string.Join(" ", args)} → exit {code}: {err}");
            Assert.DoesNotContain("internal error", err);
        }
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

using System.Text.Json.Nodes;
using Pfa.Core.Budget;
using Pfa.Core.Model;
using Pfa.Core.Model.Modules;
using Pfa.Core.Pipeline;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The measured choice of allocation for footprint/flops targets: the candidate family, the margin rule,
/// the off switch and the recipe verb's analytic answer.</summary>
public sealed class CandidateSearchTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    const int Samples = 60;

    string[] Inputs()
    {
        if (!File.Exists(_dir["model.json"]))
        {
            var rng = new Random(3);
            DataFiles.Npy(_dir["x.npy"], "<f4", [Samples, 1, 6, 6], Enumerable.Range(0, Samples * 36).SelectMany(_ => BitConverter.GetBytes((float)rng.NextDouble())).ToArray());
            DataFiles.Npy(_dir["y.npy"], "|u1", [Samples], Enumerable.Range(0, Samples).Select(i => (byte)(i % 3)).ToArray());
            manual_seed(5);
            using var seq = nn.Sequential(("c1", nn.Conv2d(1, 12, 3, padding: 1)), ("b1", SafeBatchNorm.BatchNorm2d(12)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
                ("c2", nn.Conv2d(12, 16, 3, padding: 1)), ("b2", SafeBatchNorm.BatchNorm2d(16)), ("r2", nn.ReLU()), ("f", nn.Flatten()),
                ("l1", nn.Linear(16 * 9, 20)), ("r3", nn.ReLU()), ("l2", nn.Linear(20, 3)));
            TrainedLooking.Apply(seq);
            PfaModel.Export(seq, [1, 6, 6], null, _dir["model.json"], _dir["model.dat"]);
        }
        return ["--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir["x.npy"], "--labels", _dir["y.npy"],
            "--eval-data", _dir["x.npy"], "--eval-labels", _dir["y.npy"]];
    }

    JsonNode Compress(string budget, string name)
    {
        File.WriteAllText(_dir[name + ".json"], budget);
        var (code, _, err) = TestCli.Cli(["compress", .. Inputs(), "--budget", _dir[name + ".json"], "--out", _dir[name]]);
        Assert.True(code == 0, err);
        return JsonNode.Parse(File.ReadAllText(_dir[name + "/recipe.json"]))!;
    }

    static int[] Widths(JsonNode recipe) => recipe["layers"]!.AsArray().Select(l => (int)l!["filters_after"]!).ToArray();

    [Theory]
    [InlineData("footprint", 0.4)]
    [InlineData("flops", 0.5)]
    public void Every_candidate_meets_the_target_and_the_winner_leads_the_analytic_choice_by_more_than_the_margin(string strategy, double target)
    {
        var recipe = Compress($$"""{ "strategy": "{{strategy}}", "target": {{target}}, "finetune": { "epochs": 0 } }""", strategy);
        var search = recipe["strategy"]!["search"]!.AsArray();
        Assert.Equal([1.0, 0.75, 0.5, 0.25, 0.0, 0.0], search.Select(c => (double)c!["exponent"]!));
        Assert.Equal([null, null, null, null, null, "l1"], search.Select(c => (string?)c!["select"]));
        Assert.All(search, c => Assert.True((double)c!["parameters_percent"]! <= 100 * target + 0.01 || strategy == "flops"));
        Assert.All(search, c => Assert.True((double)c!["macs_percent"]! <= 100 * target + 0.01 || strategy == "footprint"));
        Assert.All(search, c => Assert.Equal(Samples / 2, (int)c!["samples"]!));     // half the data when it has fewer than 2,000
        var chosen = Assert.Single(search, c => (bool)c!["chosen"]!);
        int analytic = (int)search[0]!["correct"]!, best = search.Max(c => (int)c!["correct"]!);
        if (best - analytic > CandidateSearch.Margin * Samples / 2) Assert.Equal(best, (int)chosen!["correct"]!);
        else Assert.Equal(1.0, (double)chosen!["exponent"]!);
        Assert.Equal(chosen["widths"]!.AsArray().Select(w => (int)w!), Widths(recipe));
        var report = File.ReadAllText(_dir[strategy + "/report.html"]);
        Assert.Contains("<h2>Candidate allocations</h2>", report);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(report, "<b>chosen</b>"));
    }

    [Fact]
    public void The_uniform_end_of_the_family_and_the_l1_peer_are_the_uniform_strategy_at_the_same_target()
    {
        var searched = Compress("""{ "strategy": "footprint", "target": 0.4, "finetune": { "epochs": 0 } }""", "searched");
        var uniform = Compress("""{ "strategy": "uniform", "target": 0.4, "finetune": { "epochs": 0 } }""", "uniform");
        var alphaZero = searched["strategy"]!["search"]!.AsArray().Where(c => (double)c!["exponent"]! == 0).ToList();
        Assert.Equal(2, alphaZero.Count);
        Assert.All(alphaZero, c => Assert.Equal(Widths(uniform), c!["widths"]!.AsArray().Select(w => (int)w!)));
        // The peer's filters are uniform + l1's: the same recipe as the strategy, criterion and all.
        var peer = Compress("""{ "strategy": "uniform", "target": 0.4, "select": "l1", "finetune": { "epochs": 0 } }""", "peer");
        Assert.Equal("l1", (string?)peer["strategy"]!["select"]);
        Assert.NotEqual(Kept(peer), Kept(uniform));
        Assert.Equal(Kept(peer), Kept(KeptOf(new CandidateSearch.Shape(0, "l1"))));

        JsonNode KeptOf(CandidateSearch.Shape shape)
        {
            File.WriteAllText(_dir["fp.json"], """{ "strategy": "footprint", "target": 0.4 }""");
            using var network = PfaModel.Load(_dir["model.json"], _dir["model.dat"]);
            var analysis = AnalysisResult.Load(_dir["searched/analysis"]);
            var budget = PfaBudget.Load(_dir["fp.json"]);
            var recipe = CandidateSearch.Make(network, analysis, budget, File.ReadAllBytes(_dir["searched/analysis/stats.safetensors"]), PfaModel.WeightsOf(network), shape);
            return JsonNode.Parse(recipe.ToJson())!;
        }
    }

    static string Kept(JsonNode recipe) => string.Join(";", recipe["layers"]!.AsArray().Select(l => l!["kept"]!.ToJsonString()));

    [Fact]
    public void Search_false_is_the_analytic_recipe_that_the_recipe_verb_gives()
    {
        var off = Compress("""{ "strategy": "footprint", "target": 0.4, "search": false, "finetune": { "epochs": 0 } }""", "off");
        Assert.Null(off["strategy"]!["search"]);
        Assert.All(off["layers"]!.AsArray(), l => Assert.Equal("kl-scaled", (string)l!["rule"]!));
        File.WriteAllText(_dir["b.json"], """{ "strategy": "footprint", "target": 0.4 }""");
        var (code, _, err) = TestCli.Cli("recipe", "--model", _dir["model.json"], "--analysis", _dir["off/analysis"], "--budget", _dir["b.json"], "--out", _dir["r.json"]);
        Assert.True(code == 0, err);
        Assert.Contains("compress measures 5 shapes and the uniform + l1 peer", err);
        Assert.Equal(Widths(off), Widths(JsonNode.Parse(File.ReadAllText(_dir["r.json"]))!));
    }

    [Theory]
    [InlineData(null, 5, 2000, 60)]
    [InlineData("false", 0, 2000, 60)]
    [InlineData("""{ "candidates": 3 }""", 3, 2000, 60)]
    [InlineData("""{ "samples": 500 }""", 5, 500, 60)]
    [InlineData("""{ "train_batches": 0 }""", 5, 2000, 0)]
    public void The_budget_s_search_is_an_object_true_or_false(string? json, int candidates, int samples, int trainBatches = 60)
    {
        var b = PfaBudget.Parse(json is null ? """{ "strategy": "footprint", "target": 0.5 }""" : $$"""{ "strategy": "footprint", "target": 0.5, "search": {{json}} }""");
        Assert.Equal(candidates, b.Budget.EffectiveSearch.Candidates);
        Assert.Equal(samples, b.Budget.EffectiveSearch.Samples);
        Assert.Equal(trainBatches, b.Budget.EffectiveSearch.TrainBatches);
        Assert.Equal(candidates >= 2, CandidateSearch.Applies(b));
        Assert.False(CandidateSearch.Applies(PfaBudget.Parse("""{ "strategy": "uniform", "target": 0.5 }""")));
    }

    [Theory]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "search": { "candidates": 1 } }""", "PFA0007")]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "search": { "candidate": 3 } }""", "PFA0002")]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "search": { "train_batches": -1 } }""", "PFA0007")]
    public void A_bad_search_is_a_located_error(string json, string code) =>
        Assert.Equal(code, Assert.Throws<Pfa.Core.Errors.PfaException>(() => PfaBudget.Parse(json)).Code);

    [Fact]
    public void A_candidate_that_cannot_meet_the_target_is_left_out_and_other_errors_still_stop_the_search()
    {
        var lines = new List<string>();
        var shape = new CandidateSearch.Shape(0.5);
        Assert.Null(CandidateSearch.Candidate(() => throw new Pfa.Core.Errors.PfaException(Pfa.Core.Errors.ErrorCodes.InvalidBudget,
            "the latency target of 0.455 ms at batch 1 cannot be met"), shape, lines.Add));
        Assert.Equal("  candidate α = 0.5: left out, the latency target of 0.455 ms at batch 1 cannot be met", Assert.Single(lines));
        Assert.Throws<Pfa.Core.Errors.PfaException>(() => CandidateSearch.Candidate(() => throw new Pfa.Core.Errors.PfaException(Pfa.Core.Errors.ErrorCodes.InvalidArgument, "x"), shape, lines.Add));
        Assert.Throws<InvalidOperationException>(() => CandidateSearch.Candidate(() => throw new InvalidOperationException(), shape, lines.Add));
    }
}

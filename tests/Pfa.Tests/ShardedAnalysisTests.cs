using Pfa.Core.Analysis;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Testing;
using static Pfa.Tests.TestCli;

namespace Pfa.Tests;

/// <summary>
/// Analysis spread over a CI matrix (issue 24): <c>analyze --shard k/n</c> for n = 1…4, merged, equals the one-process
/// analysis (counts exactly, covariances to the float32 accumulation of the statistics) and gives the same recipes; the README workflow's
/// steps as separate processes, ending in <c>compress --analysis</c> without a second data pass; and every wrong
/// set of parts refused by name.
/// </summary>
public sealed class ShardedAnalysisTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();
    const string Limit = "900";

    string[] Analyze(string outDir, params string[] extra) =>
        ["analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", Limit, "--out", outDir, .. extra];

    string Run(params string[] args)
    {
        var (code, stdout, stderr) = Cli(args);
        Assert.True(code == 0, $"{string.Join(' ', args)}: {stderr}");
        return stdout;
    }

    [Fact]
    public void Merged_shards_equal_the_one_process_analysis_and_give_the_same_recipes_for_n_1_to_4()
    {
        Run(Analyze(_dir["whole"]));
        var whole = StatisticsFile.Read(Path.Combine(_dir["whole"], AnalysisResult.StatsFileName), out _, out var wholeData);
        Assert.Equal(900, wholeData!.Samples);
        Assert.Null(wholeData.Shard);
        foreach (int n in new[] { 1, 2, 3, 4 })
        {
            var parts = Enumerable.Range(1, n).Select(k => _dir[$"n{n}/part{k}"]).ToArray();
            long counted = 0;
            for (int k = 1; k <= n; k++)
            {
                var said = Run(Analyze(parts[k - 1], "--shard", $"{k}/{n}"));
                Assert.Contains($"part {k}/{n} of 900", said);
                var part = StatisticsFile.Read(Path.Combine(parts[k - 1], AnalysisResult.StatsFileName), out _, out var data);
                Assert.Equal(new Pfa.Core.Data.Shard(k, n), data!.Shard);
                counted += part.Values.First().Count;
                foreach (var s in part.Values) s.Dispose();
            }
            Assert.Equal(900, counted);   // every sample in exactly one part
            var merged = _dir[$"n{n}/merged"];
            Run(["merge", .. parts, "--out", merged]);
            var stats = StatisticsFile.Read(Path.Combine(merged, AnalysisResult.StatsFileName), out _, out var mergedData);
            Assert.Equal(wholeData, mergedData);   // the whole selection, no part
            foreach (var (layer, w) in whole)
            {
                var m = stats[layer];
                Assert.Equal(w.Count, m.Count);
                using var wm = w.Covariance();
                using var mm = m.Covariance();
                var a = wm.data<double>().ToArray();
                var b = mm.data<double>().ToArray();
                double scale = a.Max(Math.Abs);
                // Each part accumulates in float32 blocks about its own reference (ResponseStatistics: one GEMM per
                // batch, flushed to float64), so parts agree to float32 accumulation: measured ≤ 4.6e-7 of the scale.
                Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() <= 2e-6 * scale, $"n = {n}, {layer}: covariance differs beyond float32 accumulation");
            }
            foreach (var s in stats.Values) s.Dispose();
            // The same recipes: the parameter-free one and a size target.
            foreach (var (name, json) in new[] { ("kl", "{}"), ("footprint", """{ "strategy": "footprint", "target": 0.5 }""") })
            {
                var budget = _dir[$"{name}.json"];
                File.WriteAllText(budget, json);
                Run("recipe", "--model", model.Model, "--budget", budget, "--analysis", _dir["whole"], "--out", _dir[$"whole-{name}.json"]);
                Run("recipe", "--model", model.Model, "--budget", budget, "--analysis", merged, "--out", _dir[$"n{n}-{name}.json"]);
                Assert.Empty(RecipeDiff.Compare(Recipe.Load(_dir[$"whole-{name}.json"]), Recipe.Load(_dir[$"n{n}-{name}.json"])));
                Assert.Equal(Recipe.Load(_dir[$"whole-{name}.json"]).Layers.Select(l => string.Join(",", l.Kept)),
                    Recipe.Load(_dir[$"n{n}-{name}.json"]).Layers.Select(l => string.Join(",", l.Kept)));
            }
        }
        foreach (var s in whole.Values) s.Dispose();
    }

    /// <summary>README's GitHub Actions workflow, step by step, each step its own process: a matrix of analyze jobs,
    /// then one job that merges and compresses with the merged analysis.</summary>
    [Fact]
    public void The_readme_workflow_as_separate_processes()
    {
        var work = _dir.Path;
        RunResult Tool(params string[] args) => ChildProcess.Run(work, null, "dotnet", [Repository.ToolDll, .. args]);
        for (int k = 1; k <= 3; k++)
        {
            var r = Tool(Analyze($"analysis-{k}", "--shard", $"{k}/3"));
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        var merge = Tool("merge", "analysis-1", "analysis-2", "analysis-3", "--out", "analysis");
        Assert.True(merge.ExitCode == 0, merge.ToString());
        Assert.Contains("all 900 of the selection", merge.Output);
        var compress = Tool("compress", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", Limit,
            "--analysis", "analysis", "--epochs", "0", "--out", "pfa");
        Assert.True(compress.ExitCode == 0, compress.ToString());
        Assert.Contains("analysis: analysis (all 900 samples)", compress.Output);
        Assert.DoesNotContain("analysing responses", compress.Output);
        // The run's artifacts carry the merged analysis itself.
        Assert.Equal(File.ReadAllBytes(Path.Combine(work, "analysis", AnalysisResult.StatsFileName)),
            File.ReadAllBytes(Path.Combine(work, "pfa", "analysis", AnalysisResult.StatsFileName)));
    }

    [Fact]
    public void Wrong_sets_of_parts_are_refused_by_name()
    {
        Run(Analyze(_dir["a1"], "--shard", "1/3"));
        Run(Analyze(_dir["a2"], "--shard", "2/3"));
        Run(Analyze(_dir["a3"], "--shard", "3/3"));
        Run(Analyze(_dir["b1"], "--shard", "1/2"));
        Run(["analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "800", "--out", _dir["c2"], "--shard", "2/3"]);
        Run(Analyze(_dir["whole"]));
        void Refused(string expected, params string[] folders)
        {
            var (code, _, err) = Cli(["merge", .. folders, "--out", _dir["m"]]);
            Assert.Equal(2, code);
            Assert.Contains(expected, err);
            Assert.False(Directory.Exists(_dir["m"]));
        }
        Refused("part 3/3 of 900 samples is missing", _dir["a1"], _dir["a2"]);
        Refused("parts 2/3, 3/3 of 900 samples are missing", _dir["a1"]);
        Refused("splits into different numbers of parts", _dir["a1"], _dir["a2"], _dir["b1"]);
        Refused("of different data", _dir["a1"], _dir["c2"], _dir["a3"]);
        Refused("is an analysis of all 900 samples", _dir["a1"], _dir["a2"], _dir["a3"], _dir["whole"]);
        Refused("hold the same statistics", _dir["a1"], _dir["a1"], _dir["a2"]);
        Directory.CreateDirectory(_dir["copy"]);
        foreach (var f in Directory.GetFiles(_dir["a2"])) File.Copy(f, Path.Combine(_dir["copy"], Path.GetFileName(f)));
        Refused("hold the same statistics", _dir["a1"], _dir["a2"], _dir["copy"], _dir["a3"]);

        // compress takes only a whole analysis of its model.
        var (code, _, err) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", Limit,
            "--analysis", _dir["a2"], "--epochs", "0", "--out", _dir["out"]);
        Assert.Equal(2, code);
        Assert.Contains("holds the analysis of part 2/3 only", err);
        var otherBudget = _dir["exclude.json"];
        File.WriteAllText(otherBudget, """{ "exclude": ["c2"] }""");
        (code, _, err) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", otherBudget, "--data", TinyFashionModel.Data, "--limit", Limit,
            "--analysis", _dir["whole"], "--epochs", "0", "--out", _dir["out"]);
        Assert.Equal(2, code);
        Assert.Contains("this model under this budget analyses", err);
        Assert.False(Directory.Exists(_dir["out"]));
    }

    [Fact]
    public void Bad_shards_and_shards_where_a_whole_dataset_is_needed_are_coded_errors()
    {
        foreach (var bad in new[] { "0/4", "5/4", "a/b", "3", "1/0", "-1/2" })
        {
            var (code, _, err) = Cli(Analyze(_dir["x"], "--shard", bad));
            Assert.Equal(2, code);
            Assert.Contains("PFA0009", err);
            Assert.Contains("k/n", err);
        }
        var (c1, _, e1) = Cli(["analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "3", "--out", _dir["x"], "--shard", "1/4"]);
        Assert.Equal(2, c1);
        Assert.Contains("shard 1/4 of 3 samples is empty", e1);
        // A budget's shard is for analyze: compress and finetune refuse it.
        var budget = _dir["sharded.json"];
        File.WriteAllText(budget, $$"""{ "data": { "path": "{{TinyFashionModel.Data}}", "limit": 300, "shard": "1/2" } }""");
        var (c2, _, e2) = Cli("compress", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--epochs", "0", "--out", _dir["out"]);
        Assert.Equal(2, c2);
        Assert.Contains("'data.shard' (1/2) is for 'dotnet pfa analyze'", e2);
        Run("analyze", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--out", _dir["from-budget"]);
        var part = StatisticsFile.Read(Path.Combine(_dir["from-budget"], AnalysisResult.StatsFileName), out _, out var data);
        Assert.Equal((new Pfa.Core.Data.Shard(1, 2), 300L, 150L), (data!.Shard!.Value, data.Samples, part.Values.First().Count));
        foreach (var s in part.Values) s.Dispose();
        File.WriteAllText(budget, """{ "data": { "path": "x", "shard": "2/1" } }""");
        var (c3, _, e3) = Cli("analyze", "--model", model.Model, "--weights", model.Weights, "--budget", budget, "--out", _dir["y"]);
        Assert.Equal(2, c3);
        Assert.Contains("data.shard", e3);
        Assert.Contains("(1,", e3);   // located in the budget file
        // Garg et al.'s sampling stops early: its analysis does not shard.
        File.WriteAllText(budget, """{ "strategy": "garg" }""");
        var (c4, _, e4) = Cli(Analyze(_dir["z"], "--shard", "1/2", "--budget", budget));
        Assert.Equal(2, c4);
        Assert.Contains("does not merge", e4);
    }
}

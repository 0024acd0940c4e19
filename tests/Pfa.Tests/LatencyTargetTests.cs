using System.Globalization;
using System.Text.Json.Nodes;
using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Metrics;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Tests;

/// <summary>The latency strategy (issue 22): the search with a latency model and its end-to-end correction, the
/// per-layer table and its cache, the budget's rules, and compress's verdict on the target.</summary>
public sealed class LatencyTargetTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static readonly ModelDescription Cnn = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 40, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 60, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "f1", "type": "linear", "out": 24 }, { "type": "relu" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    static Dictionary<string, LayerSpectrum> Spectra(ChannelSpaces spaces, int seed)
    {
        var rng = new Random(seed);
        return spaces.Prunable.ToDictionary(s => spaces.Graph.Nodes[s.Producer].Name, s =>
        {
            var raw = Enumerable.Range(0, s.Channels).Select(_ => Math.Pow(rng.NextDouble(), 3) + 1e-3).OrderDescending().ToArray();
            return new LayerSpectrum { Layer = spaces.Graph.Nodes[s.Producer].Name, Filters = s.Channels, Samples = 100, Eigenvalues = raw.Select(v => v / raw.Sum()).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray() };
        });
    }

    /// <summary>A machine whose time is proportional to the MACs plus a fixed cost, and whose per-layer prediction
    /// is off by a known factor (what the end-to-end correction must undo).</summary>
    sealed class FakeMachine(double predictionError, double busier = 1, Func<int, double>? disturbance = null) : FakeRuntime
    {
        public override double OriginalMs => Time(ModelGraph.Build(Cnn));
        public static double Time(ModelGraph g) => 0.1 + ModelCost.Of(g).Macs * 1e-5;
        public override double Predict(ModelGraph narrowed) => Time(narrowed) * predictionError;
        /// <summary>End to end on a machine <c>busier</c> times slower than when the original was first measured,
        /// the n-th measurement (from 0) scaled by <c>disturbance(n)</c>.</summary>
        public override double Measure(ModelDescription description)
        {
            double factor = disturbance?.Invoke(EndToEnd) ?? 1;
            EndToEnd++;
            double time = Time(ModelGraph.Build(description));
            Measured.Add(time);
            return busier * factor * time;
        }
        /// <summary>The undisturbed time of every model measured (candidates and the original).</summary>
        public List<double> Measured { get; } = [];
    }

    static (RecipePlan Plan, FakeMachine Machine) Plan(double target, double predictionError, int seed = 1, double busier = 1, Func<int, double>? disturbance = null)
    {
        var graph = ModelGraph.Build(Cnn);
        var budget = PfaBudget.Parse(string.Create(CultureInfo.InvariantCulture, $$"""{ "strategy": "latency", "target": {{target}} }"""));
        var machine = new FakeMachine(predictionError, busier, disturbance);
        return (new RecipePlanner(graph.Spaces, budget, Spectra(graph.Spaces, seed), null, machine).Plan(), machine);
    }

    static double MeasuredOf(RecipePlan plan)
    {
        var graph = ModelGraph.Build(Cnn);
        var widths = graph.Spaces.Prunable.ToDictionary(s => s.Id, s => plan.Layers.Single(l => l.Layer == s.Name).After);
        return FakeMachine.Time(ModelGraph.Build(Widths.Apply(graph.Spaces, widths)));
    }

    [Theory]
    [InlineData(0.5, 1.25, 1)]   // the table overestimates (batch norms, activations counted at full width): corrected upwards
    [InlineData(0.3, 1.25, 2)]
    [InlineData(0.5, 0.8, 3)]    // the table underestimates: the first pick misses and is corrected downwards
    [InlineData(0.4, 1.0, 4)]
    [InlineData(0.5, 1.0, 5, 2.0)]   // the machine got twice as busy after the table was made: a fraction of the original measured beside it still holds
    public void The_plan_meets_the_target_end_to_end_and_does_not_undershoot_it_by_more_than_the_tolerance(double target, double error, int seed, double busier = 1)
    {
        var (plan, machine) = Plan(target, error, seed, busier);
        var l = plan.Latency!;
        Assert.True(Math.Abs(busier * machine.OriginalMs - l.OriginalMs) < 1e-3);
        double goal = target * machine.OriginalMs;
        Assert.True(Math.Abs(busier * goal - l.TargetMs) < 1e-3);
        double measured = MeasuredOf(plan);
        Assert.True(Math.Abs(busier * measured - l.MeasuredMs) < 1e-3);
        Assert.True(measured <= goal + 1e-9, $"measured {measured} over the target {goal}");
        // Under the aim by more than the tolerance only where the plan tried larger widths and they were over the aim
        // (the knots are too coarse there for the band).
        double aim = goal * (1 - RecipePlanner.LatencyMargin), floor = aim - goal * RecipePlanner.LatencyTolerance;
        Assert.True(measured <= aim + 1e-9 || machine.Measured.All(m => m <= measured || m > goal), $"measured {measured} over the aim {aim} while nothing larger within the target was tried");
        Assert.True(measured >= floor - 1e-9 || machine.Measured.Any(m => m > aim && m < machine.OriginalMs), $"measured {measured} undershoots the aim {aim} by more than the tolerance and nothing larger was tried");
        Assert.InRange(machine.EndToEnd, 2 * 2 * RecipePlanner.LatencyPairs, 2 * RecipePlanner.LatencyPairs * (RecipePlanner.LatencyRounds + 2 * RecipePlanner.LatencyRechecks));   // each candidate with the original beside it; the kept widths checked twice
        Assert.True(l.Rechecks >= 1);
        Assert.True(machine.Saved);
        Assert.True(Math.Abs(measured * error - l.PredictedMs) < 1e-3);
    }

    [Theory]
    [InlineData(0.25)]   // the first candidate measured 4x too fast once (what a one-off measurement of the VGG at batch 64 did: 52 ms for 170)
    [InlineData(4.0)]    // or the original measured 4x too slow once
    public void One_disturbed_measurement_does_not_choose_the_widths(double factor)
    {
        // The first check's first measurement of the candidate (n = 0) or of the original beside it (n = 1) is off.
        int disturbed = factor < 1 ? 0 : 1;
        var (plan, _) = Plan(0.5, 1.0, seed: 4, disturbance: n => n == disturbed ? factor : 1);
        var (clean, _) = Plan(0.5, 1.0, seed: 4);
        Assert.Equal(clean.Layers.Select(l => l.After), plan.Layers.Select(l => l.After));
        double measured = MeasuredOf(plan), goal = 0.5 * FakeMachine.Time(ModelGraph.Build(Cnn));
        Assert.True(measured <= goal + 1e-9, $"measured {measured} over the target {goal}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Widths_that_one_lucky_check_put_under_the_target_are_measured_again_before_they_are_kept(int seed)
    {
        // The table underestimates (the first pick is truly over the target), and the whole first check — all its
        // candidate runs — reads 25% fast: a quiet spell on a shared machine (the latency bench's VGG at batch 1,
        // target 0.3: planned at 29% of the original, measured again at 38%). Chosen as the largest widths read under
        // the aim, such widths would ship over the target; a fresh check before keeping them sees it.
        int pairs = RecipePlanner.LatencyPairs;
        var (plan, _) = Plan(0.5, 0.8, seed, disturbance: n => n < 2 * pairs && n % 2 == 0 ? 0.75 : 1);
        double measured = MeasuredOf(plan), goal = 0.5 * FakeMachine.Time(ModelGraph.Build(Cnn));
        Assert.True(measured <= goal + 1e-9, $"measured {measured} over the target {goal}");
        Assert.True(plan.Latency!.Rechecks >= 1 && plan.Latency.Rejected >= 1);
    }

    [Fact]
    public void A_target_below_the_smallest_widths_is_a_located_error()
    {
        var e = Assert.Throws<PfaException>(() => Plan(0.001, 1.0));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains("latency target", e.Message);
        Assert.Contains("cannot be met", e.Message);
    }

    [Theory]
    [InlineData("""{ "strategy": "latency" }""", "needs exactly one of 'target'")]
    [InlineData("""{ "strategy": "latency", "target": 0.5, "milliseconds": 3 }""", "needs exactly one of 'target'")]
    [InlineData("""{ "strategy": "latency", "milliseconds": 0 }""", "'milliseconds' must be a positive number")]
    [InlineData("""{ "strategy": "latency", "milliseconds": -2 }""", "'milliseconds' must be a positive number")]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "milliseconds": 3 }""", "'milliseconds' applies to strategy 'latency', not 'footprint'")]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "search": { "depth": 2 } }""", "'search.depth' applies to strategy 'latency'")]
    [InlineData("""{ "strategy": "latency", "target": 0.5, "search": { "depth": 21 } }""", "'search.depth' is the number of depth candidates")]
    [InlineData("""{ "strategy": "latency", "target": 0.5, "search": { "depth": -1 } }""", "'search.depth' is the number of depth candidates")]
    public void A_bad_latency_target_is_a_located_error(string json, string message)
    {
        var e = Assert.Throws<PfaException>(() => PfaBudget.Parse(json));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains(message, e.Message);
        Assert.NotNull(e.Line);
    }

    [Fact]
    public void The_table_measures_a_layer_once_and_a_second_run_reads_it_from_the_cache()
    {
        var graph = ModelGraph.Build(Cnn);
        var serving = new LatencyBudget { Batch = 4 };
        var table = new LatencyTable(serving, _dir["cache"]);
        var c2 = graph.Nodes.Single(n => n.Name == "c2");
        Assert.True(LatencyTable.Covers(c2));
        Assert.False(LatencyTable.Covers(graph.Nodes.Single(n => n.Type == LayerType.ReLU && n.Index == 1)));
        double ms = table.Of(c2);
        Assert.True(ms > 0);
        Assert.Equal(ms, table.Of(c2));
        Assert.Equal(1, table.Measured);
        Assert.Contains("conv2d b4 40x8x8->60 k3x3 s1x1 p1x1 d1x1 g1 bias1", table.Key(c2));
        table.Save();

        var again = new LatencyTable(serving, _dir["cache"]);
        Assert.Equal(table.Path, again.Path);
        Assert.Equal(ms, again.Of(c2));
        Assert.Equal(0, again.Measured);
        // Another batch is another entry; other threads another machine (another file).
        Assert.NotEqual(again.Key(c2), new LatencyTable(serving with { Batch = 8 }, _dir["cache"]).Key(c2));
        Assert.NotEqual(table.Path, new LatencyTable(serving with { Threads = 1 }, _dir["cache"]).Path);
        Assert.Contains("threads=1", new LatencyTable(serving with { Threads = 1 }, _dir["cache"]).Fingerprint);
    }

    [Fact]
    public void A_damaged_or_foreign_cache_is_measured_again()
    {
        var graph = ModelGraph.Build(Cnn);
        var serving = new LatencyBudget { Batch = 2 };
        var path = new LatencyTable(serving, _dir["cache"]).Path;
        Directory.CreateDirectory(_dir["cache"]);
        foreach (var content in new[] { "{ not json", """{ "Fingerprint": "another machine", "Entries": { "x": 1 } }""" })
        {
            File.WriteAllText(path, content);
            var table = new LatencyTable(serving, _dir["cache"]);
            Assert.Equal(0, table.Count);
            Assert.True(table.Of(graph.Nodes.Single(n => n.Name == "f1")) > 0);
            Assert.Equal(1, table.Measured);
        }
    }

    [Fact]
    public void The_predictor_gives_the_original_its_measured_time_and_splits_it_into_layers_and_the_rest()
    {
        var graph = ModelGraph.Build(Cnn);
        var predictor = LatencyPredictor.For(graph, new LatencyBudget { Batch = 2 }, _dir["cache"]);
        Assert.Same(predictor, LatencyPredictor.For(graph, new LatencyBudget { Batch = 2 }, _dir["cache"]));
        Assert.True(predictor.OriginalMs > 0);
        // The rest is the original minus its layers (at least 0), spread over the other layers' elements: the original predicts as measured, or above when its layers alone took longer.
        Assert.True(predictor.Predict(graph) >= predictor.OriginalMs - 1e-9);
        Assert.Equal(4, predictor.TableEntries);   // c1, c2, f1, out
    }

    [Fact]
    public void Compress_with_a_latency_target_records_the_plan_and_says_whether_the_model_met_it()
    {
        var old = Environment.GetEnvironmentVariable(LatencyTable.CacheVariable);
        Environment.SetEnvironmentVariable(LatencyTable.CacheVariable, _dir["cache"]);
        try
        {
            var rng = new Random(3);
            const int n = 64;
            DataFiles.Npy(_dir["x.npy"], "<f4", [n, 3, 8, 8], Enumerable.Range(0, n * 192).SelectMany(_ => BitConverter.GetBytes((float)rng.NextDouble())).ToArray());
            DataFiles.Npy(_dir["y.npy"], "|u1", [n], Enumerable.Range(0, n).Select(i => (byte)(i % 3)).ToArray());
            Cnn.Save(_dir["model.json"]);
            using (var net = new PfaNetwork(Cnn)) Pfa.Core.Checkpoints.Checkpoint.Write(_dir["model.dat"], Pfa.Core.Checkpoints.Checkpoint.StateOf(net));
            // A generous absolute target (the tiny model's time is mostly overhead): it must be met, and recorded.
            File.WriteAllText(_dir["b.json"], """{ "strategy": "latency", "milliseconds": 1000, "latency": { "batch": 4 }, "search": false, "finetune": { "epochs": 0 }, "onnx": false }""");
            var (code, _, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir["x.npy"], "--labels", _dir["y.npy"],
                "--eval-data", _dir["x.npy"], "--eval-labels", _dir["y.npy"], "--budget", _dir["b.json"], "--out", _dir["out"]);
            Assert.True(code == 0, err);
            Assert.Matches(@"latency target: 1000 ms at batch 4 \(libtorch\); measured \d+\.\d+ ms: met", err);
            var latency = JsonNode.Parse(File.ReadAllText(_dir["out/recipe.json"]))!["strategy"]!["latency"]!;
            Assert.Equal(1000, (double)latency["target_ms"]!);
            Assert.Equal(4, (int)latency["batch"]!);
            Assert.True((int)latency["table_entries"]! >= 4);
            Assert.Contains("runtime=libtorch", (string)latency["machine"]!);
            var summary = JsonNode.Parse(File.ReadAllText(_dir["out/summary.json"]))!["latency_target"]!;
            Assert.True((bool)summary["met"]!);
            Assert.True((double)summary["off_percent"]! < 0);
            Assert.Single(Directory.GetFiles(_dir["cache"], "latency-*.json"));
            Assert.Contains("latency target, measured after compression", File.ReadAllText(_dir["out/report.html"]));
        }
        finally { Environment.SetEnvironmentVariable(LatencyTable.CacheVariable, old); }
    }
}

/// <summary>The depth tests' network: a padding-mode ResNet-14 (width 4, 3 classes, 12×12 inputs, 6 removable blocks),
/// with 64 random samples written as x.npy and y.npy.</summary>
static class SmallResNet
{
    public static ModelDescription WithData(TempDir dir)
    {
        var rng = new Random(3);
        const int n = 64;
        DataFiles.Npy(dir["x.npy"], "<f4", [n, 1, 12, 12], Enumerable.Range(0, n * 144).SelectMany(_ => BitConverter.GetBytes((float)rng.NextDouble())).ToArray());
        DataFiles.Npy(dir["y.npy"], "|u1", [n], Enumerable.Range(0, n).Select(i => (byte)(i % 3)).ToArray());
        return SequentialExporter.Describe(Pfa.Core.Model.Blocks.ResidualNets.ResNet(new Pfa.Core.Model.Blocks.ResNetOptions
            { Depth = 14, InChannels = 1, Width = 4, Classes = 3, Shortcut = Pfa.Core.Model.Blocks.Shortcut.Padding }), [1, 12, 12]);
    }
}

/// <summary>Depth candidates of a latency target's search (issue 22): blocks removed, widths planned again, recorded.</summary>
public sealed class DepthSearchTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Compress_with_depth_candidates_records_them_and_the_chosen_recipe_removes_its_blocks()
    {
        var old = Environment.GetEnvironmentVariable(LatencyTable.CacheVariable);
        Environment.SetEnvironmentVariable(LatencyTable.CacheVariable, _dir["cache"]);
        try
        {
            var model = SmallResNet.WithData(_dir);
            model.Save(_dir["model.json"]);
            using (var net = new PfaNetwork(model)) Pfa.Core.Checkpoints.Checkpoint.Write(_dir["model.dat"], Pfa.Core.Checkpoints.Checkpoint.StateOf(net));
            File.WriteAllText(_dir["b.json"], """{ "strategy": "latency", "milliseconds": 1000, "latency": { "batch": 2 }, "residual": "padding", "search": { "candidates": 2, "samples": 16, "train_batches": 1, "depth": 2 }, "finetune": { "epochs": 0 }, "onnx": false }""");
            var (code, _, err) = TestCli.Cli("compress", "--model", _dir["model.json"], "--weights", _dir["model.dat"], "--data", _dir["x.npy"], "--labels", _dir["y.npy"],
                "--eval-data", _dir["x.npy"], "--eval-labels", _dir["y.npy"], "--budget", _dir["b.json"], "--out", _dir["out"]);
            Assert.True(code == 0, err);
            Assert.Contains("block(s) removed", err);
            var recipe = Recipe.Load(_dir["out/recipe.json"]);
            var candidates = recipe.Strategy.Search!;
            // ResNet-14: 6 removable blocks; depth 2 → 3 and 6 of them removed, on the family's choice.
            Assert.Equal([3, 6], candidates.Where(c => c.RemovedBlocks is not null).Select(c => c.RemovedBlocks!.Value));
            var chosen = candidates.Single(c => c.Chosen);
            Assert.Equal(chosen.RemovedBlocks, recipe.RemovedBlocks?.Count);
            // The candidates without blocks are cheaper in nothing but widths; those with blocks count them out.
            Assert.All(candidates.Where(c => c.RemovedBlocks is not null), c => Assert.True(c.ParametersPercent < 100));
            var compressed = ModelDescription.Load(_dir["out/model.json"]);
            foreach (var sum in recipe.RemovedBlocks ?? []) Assert.DoesNotContain(compressed.Layers, l => l.Name == sum);
            Assert.Equal(recipe.Totals.ParametersAfter, ModelCost.Of(ModelGraph.Build(compressed)).Parameters);

            // The recipe verb plans widths only: a target they cannot reach says that compress would also remove blocks.
            File.WriteAllText(_dir["fast.json"], """{ "strategy": "latency", "milliseconds": 0.000001, "latency": { "batch": 2 }, "residual": "padding" }""");
            (code, _, err) = TestCli.Cli("recipe", "--model", _dir["model.json"], "--analysis", _dir["out/analysis"], "--budget", _dir["fast.json"], "--out", _dir["r.json"]);
            Assert.Equal(2, code);
            Assert.Contains("error PFA0007", err);
            Assert.Contains("compress's search also removes residual blocks", err);
            Assert.False(File.Exists(_dir["r.json"]));
        }
        finally { Environment.SetEnvironmentVariable(LatencyTable.CacheVariable, old); }
    }
}

/// <summary>Depth when widths alone fall short: a target the narrowest widths cannot reach is met by removing blocks.</summary>
public sealed class DepthWhenWidthsFallShortTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A machine where every convolution costs 1 ms whatever its width (a small network at batch 1: per-layer
    /// overhead), plus 1 µs per output channel so that wider is still slower.</summary>
    sealed class OverheadMachine(double originalMs) : FakeRuntime
    {
        public override double OriginalMs => originalMs;
        public override double Predict(ModelGraph narrowed) => Time(narrowed);
        public override double Measure(ModelDescription description) { EndToEnd++; return Time(ModelGraph.Build(description)); }
        public static double Time(ModelGraph g) => g.Nodes.Where(n => n.Type == LayerType.Conv2d).Sum(n => 1 + 1e-3 * n.Spec.Out!.Value);
    }

    [Fact]
    public void A_latency_target_out_of_reach_by_widths_is_met_by_depth_candidates_and_without_depth_it_stays_an_error()
    {
        var model = SmallResNet.WithData(_dir);
        using var network = new PfaNetwork(model);
        using var data = Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"] }, null);
        var graph = network.Graph;
        double original = OverheadMachine.Time(graph);   // 13 convolutions: the stem and two per block
        // 0.6 of the original: 7.8 convolutions' worth, which no widths reach (13 stay) and removing 3 of 6 blocks does (7).
        var budget = PfaBudget.Parse("""{ "strategy": "latency", "target": 0.6, "residual": "padding", "search": { "candidates": 2, "samples": 16, "train_batches": 1, "depth": 2 } }""");
        using var analysis = AnalysisResult.Run(network, data, budget, 16);
        var stats = analysis.Save(_dir["analysis"]);
        var log = new List<string>();
        var recipe = CandidateSearch.Choose(network, analysis, budget, stats, PfaModel.WeightsOf(network), data, 16, log.Add, new OverheadMachine(original));
        Assert.Contains(log, l => l.Contains("widths alone cannot meet the target"));
        var candidates = recipe.Strategy.Search!;
        Assert.All(candidates, c => Assert.NotNull(c.RemovedBlocks));                // no width-only candidate: none met the target
        Assert.Equal([3, 6], candidates.Select(c => c.RemovedBlocks!.Value));
        Assert.Equal(candidates.Single(c => c.Chosen).RemovedBlocks, recipe.RemovedBlocks!.Count);
        var (description, compressed) = Pfa.Core.Surgery.ChannelSurgery.Apply(network, recipe);
        using (compressed) Assert.True(OverheadMachine.Time(ModelGraph.Build(description)) <= 0.6 * original);

        // Without depth candidates the target is an error that names them.
        var widthsOnly = PfaBudget.Parse("""{ "strategy": "latency", "target": 0.6, "residual": "padding", "search": { "candidates": 2, "samples": 16, "train_batches": 1, "depth": 0 } }""");
        var e = Assert.Throws<PfaException>(() => CandidateSearch.Choose(network, analysis, widthsOnly, stats, PfaModel.WeightsOf(network), data, 16, _ => { }, new OverheadMachine(original)));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains("\"depth\": 3", e.Message);
        // Below one convolution's time nothing reaches it: the widths' error, saying that depth was tried (the default 3).
        var tooFast = PfaBudget.Parse("""{ "strategy": "latency", "target": 0.05, "residual": "padding", "search": { "candidates": 2, "samples": 16, "train_batches": 1 } }""");
        e = Assert.Throws<PfaException>(() => CandidateSearch.Choose(network, analysis, tooFast, stats, PfaModel.WeightsOf(network), data, 16, _ => { }, new OverheadMachine(original)));
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains("cannot be met", e.Message);
        Assert.Contains("Removing residual blocks (3 depth candidates", e.Message);
        Assert.DoesNotContain("\"depth\": 3", e.Message);
    }

    [Theory]
    [InlineData("""{ "strategy": "latency", "target": 0.5 }""", 3)]
    [InlineData("""{ "strategy": "latency", "target": 0.5, "search": { "depth": 0 } }""", 0)]
    [InlineData("""{ "strategy": "latency", "target": 0.5, "search": { "depth": 5 } }""", 5)]
    [InlineData("""{ "strategy": "footprint", "target": 0.5 }""", 0)]
    [InlineData("""{ "strategy": "footprint", "target": 0.5, "search": { "candidates": 3 } }""", 0)]
    public void Depth_candidates_are_on_by_default_for_latency_targets_only(string json, int depth) =>
        Assert.Equal(depth, PfaBudget.Parse(json).Budget.EffectiveSearch.DepthFor(PfaBudget.Parse(json).Budget.Strategy));
}

/// <summary>round_to "auto" (issue 22): per layer, the multiple its measured latency rewards.</summary>
public sealed class AutoRoundToTests
{
    static readonly ModelDescription Wide = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 64, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 96, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "name": "c3", "type": "conv2d", "out": 20, "kernel": 3, "padding": 1 }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "out", "type": "linear", "out": 3 } ] }
    """);

    [Theory]
    [InlineData(new int[0], 1)]
    [InlineData(new[] { 16, 32, 48 }, 16)]
    [InlineData(new[] { 8, 16 }, 8)]
    [InlineData(new[] { 7, 16 }, 1)]
    [InlineData(new[] { 64, 128 }, 32)]
    [InlineData(new[] { 4, 12 }, 4)]
    public void The_multiple_is_the_largest_power_of_two_dividing_every_efficient_width(int[] steps, int multiple) =>
        Assert.Equal(multiple, LatencySteps.Multiple(steps));

    /// <summary>Kernels that work in blocks of <paramref name="block"/> output channels and <paramref name="inBlock"/> input channels.</summary>
    static Func<LayerNode, double> Blocked(int block, int inBlock) => n =>
        Math.Ceiling((double)n.Spec.Out!.Value / block) * block * Math.Ceiling((double)n.InShape[0] / inBlock) * inBlock * 1e-3;

    [Theory]
    [InlineData(16, 1, 16)]
    [InlineData(8, 1, 8)]
    [InlineData(1, 1, 1)]
    [InlineData(16, 16, 16)]  // the space's readers step at the same widths
    public void A_blocked_kernel_s_block_is_found_and_narrow_layers_are_left_alone(int block, int inBlock, int expected)
    {
        var graph = ModelGraph.Build(Wide);
        var spaces = graph.Spaces;
        var c2 = spaces.Prunable.Single(s => s.Name == "c2");
        Assert.Equal(expected, LatencySteps.Of(spaces, c2, Blocked(block, inBlock)));
        Assert.Equal(1, LatencySteps.Of(spaces, spaces.Prunable.Single(s => s.Name == "c3"), Blocked(block, inBlock)));   // 20 channels: too narrow to tell
    }

    [Fact]
    public void Noise_lowers_the_multiple_never_raises_it()
    {
        var graph = ModelGraph.Build(Wide);
        var c2 = graph.Spaces.Prunable.Single(s => s.Name == "c2");
        var blocked = Blocked(16, 1);
        // A spike at width 75 changes nothing: 80 is still the cheapest way to 75 channels and more.
        Assert.Equal(16, LatencySteps.Of(graph.Spaces, c2, n => blocked(n) * (n.Name == "c2" && n.Spec.Out == 75 ? 1.5 : 1)));
        // A dip at 75 makes 75 efficient besides the step tops 64 and 80: the multiple drops to 1.
        Assert.Equal(1, LatencySteps.Of(graph.Spaces, c2, n => blocked(n) * (n.Name == "c2" && n.Spec.Out == 75 ? 0.7 : 1)));
    }

    [Fact]
    public void A_comb_of_fast_input_widths_is_found()
    {
        // ONNX Runtime's CPU convolution on the bench's EPYC: an input width that is a multiple of 4 ran ~40% faster
        // than its neighbours (bench/results/latency-onnx.md); the layer that writes the space is smooth.
        var graph = ModelGraph.Build(Wide);
        var c2 = graph.Spaces.Prunable.Single(s => s.Name == "c2");
        double Comb(LayerNode n) => n.Spec.Out!.Value * n.InShape[0] * 1e-3 * (n.Name == "c3" && n.InShape[0] % 4 == 0 ? 0.6 : 1);
        Assert.Equal(4, LatencySteps.Of(graph.Spaces, c2, Comb));
    }

    [Theory]
    [InlineData(new[] { 10.0, 10, 10, 10 }, new int[0])]                 // flat: nothing to gain
    [InlineData(new[] { 5.0, 5, 8, 8 }, new[] { 2 })]                    // a staircase: the step's top
    [InlineData(new[] { 6.0, 9, 9, 7, 9, 9.5, 9.5, 8 }, new[] { 1, 4 })] // a comb: the teeth
    [InlineData(new[] { 10.0, 10.2, 10.5, 10.7 }, new int[0])]           // rises under 4% per width
    public void Efficient_widths_are_those_every_wider_one_exceeds_by_more_than_the_rise(double[] ms, int[] efficient) =>
        Assert.Equal(efficient, LatencySteps.Efficient(ms.Select((t, i) => (i + 1, t)).ToList()));

    static Dictionary<string, LayerSpectrum> WideSpectra(ChannelSpaces spaces)
    {
        var rng = new Random(5);
        return spaces.Prunable.ToDictionary(s => s.Name, s =>
        {
            var raw = Enumerable.Range(0, s.Channels).Select(_ => Math.Pow(rng.NextDouble(), 3) + 1e-3).OrderDescending().ToArray();
            return new LayerSpectrum { Layer = s.Name, Filters = s.Channels, Samples = 100, Eigenvalues = raw.Select(v => v / raw.Sum()).ToArray(), Variances = Enumerable.Repeat(1.0, s.Channels).ToArray() };
        });
    }

    /// <summary>A runtime whose end-to-end time is <paramref name="time"/> of the model's conv widths.</summary>
    sealed class Runtime(Func<int[], double> time) : FakeRuntime
    {
        public List<int[]> Measured { get; } = [];
        public override double OriginalMs => 1;
        public override double Predict(ModelGraph narrowed) => throw new InvalidOperationException("a size target predicts nothing");
        public override double Measure(ModelDescription description)
        {
            var widths = ModelGraph.Build(description).Nodes.Where(n => n.Type == LayerType.Conv2d).Select(n => n.Spec.Out!.Value).ToArray();
            Measured.Add(widths);
            EndToEnd++;
            return time(widths);
        }
    }

    [Fact]
    public void Auto_rounds_each_layer_to_its_own_multiple_inside_the_exact_search()
    {
        var graph = ModelGraph.Build(Wide);
        var spaces = graph.Spaces;
        var spectra = WideSpectra(spaces);
        var budget = PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.4, "round_to": "auto" }""");
        Assert.True(budget.Budget.RoundTo!.Auto);
        var multiples = new Dictionary<string, int> { ["c1"] = 8, ["c2"] = 16, ["c3"] = 1 };
        var asked = new List<string>();
        // A runtime where no rounding is faster than another: the per-layer multiples, the finest, stay.
        var flat = new Runtime(_ => 1.0);
        var plan = new RecipePlanner(spaces, budget, spectra, latency: flat, measuredMultiple: s => { asked.Add(s.Name); return multiples[s.Name]; }).Plan();
        Assert.Equal(asked.Distinct().Count(), asked.Count);   // measured once per layer
        foreach (var l in plan.Layers)
        {
            Assert.Equal(multiples[l.Layer], l.RoundTo);
            Assert.True(l.After % multiples[l.Layer] == 0 || l.After == l.Before, $"{l.Layer}: {l.After} is not a multiple of {multiples[l.Layer]}");
        }
        Assert.True(plan.ParametersAfter <= 0.4 * plan.ParametersBefore);
        Assert.Null(plan.RoundToChoice![0].Multiple);
        Assert.True(plan.RoundToChoice[0].Chosen);
        Assert.Equal(plan.Layers.Select(l => l.After), plan.RoundToChoice[0].Widths);
        // The same widths as a fixed round_to when every layer has that multiple.
        var fixedPlan = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.4, "round_to": 8 }"""), spectra).Plan();
        var autoEight = new RecipePlanner(spaces, budget, spectra, latency: flat, measuredMultiple: _ => 8).Plan();
        Assert.Equal(fixedPlan.Layers.Select(l => l.After), autoEight.Layers.Select(l => l.After));
    }

    [Fact]
    public void Auto_keeps_the_rounding_the_runtime_rewards_end_to_end()
    {
        // ONNX Runtime's blocked layout: the whole chain runs fast only when every width is a multiple of 16, which
        // no per-layer table shows; each rounding is planned to the target and measured, interleaved.
        var graph = ModelGraph.Build(Wide);
        var spaces = graph.Spaces;
        var budget = PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.4, "round_to": "auto" }""");
        var blocked = new Runtime(w => w.Sum() * (w.All(c => c % 16 == 0 || c == 20) ? 0.5 : 1));
        var plan = new RecipePlanner(spaces, budget, WideSpectra(spaces), latency: blocked, measuredMultiple: _ => 1).Plan();
        var chosen = plan.RoundToChoice!.Single(o => o.Chosen);
        Assert.Equal(16, chosen.Multiple);
        Assert.All(plan.Layers, l => Assert.Equal(16, l.RoundTo));
        Assert.All(plan.Layers, l => Assert.True(l.After % 16 == 0 || l.After == l.Before, $"{l.Layer}: {l.After}"));
        Assert.Equal(plan.Layers.Select(l => l.After), chosen.Widths);
        Assert.True(plan.ParametersAfter <= 0.4 * plan.ParametersBefore);
        // Every distinct plan measured LatencyPairs times; the options listed finest first.
        Assert.Equal(plan.RoundToChoice!.Count * RecipePlanner.LatencyPairs, blocked.Measured.Count);
        Assert.Equal(plan.RoundToChoice.Select(o => o.Multiple ?? 0).Order(), plan.RoundToChoice.Select(o => o.Multiple ?? 0));
        Assert.Equal(plan.RoundToChoice.Count, plan.RoundToChoice.Select(o => string.Join(",", o.Widths)).Distinct().Count());

        // Faster by less than the tie margin: the finer rounding is kept.
        var slightly = new Runtime(w => w.All(c => c % 16 == 0 || c == 20) ? 0.97 : 1);
        var kept = new RecipePlanner(spaces, budget, WideSpectra(spaces), latency: slightly, measuredMultiple: _ => 1).Plan();
        Assert.True(kept.RoundToChoice![0].Chosen);
        Assert.Null(kept.RoundToChoice[0].Multiple);
    }

    /// <summary>A runtime like ONNX Runtime's blocked layout: a model runs at half the time per MAC when every conv
    /// width is a multiple of 16 (or whole); its per-layer table (<see cref="Predict"/>) cannot see that.</summary>
    sealed class BlockedRuntime : FakeRuntime
    {
        static readonly int[] Original = ModelGraph.Build(Wide).Nodes.Where(n => n.Type == LayerType.Conv2d).Select(n => n.Spec.Out!.Value).ToArray();
        public static double Time(ModelGraph g)
        {
            var widths = g.Nodes.Where(n => n.Type == LayerType.Conv2d).Select(n => n.Spec.Out!.Value).ToArray();
            bool blocked = widths.Select((w, i) => w % 16 == 0 || w == Original[i]).All(b => b);
            return 0.1 + ModelCost.Of(g).Macs * 1e-5 * (blocked ? 0.5 : 1);
        }
        public override double OriginalMs => Time(ModelGraph.Build(Wide));
        public override double Predict(ModelGraph narrowed) => 0.1 + ModelCost.Of(narrowed).Macs * 1e-5 * 0.75;
        public override double Measure(ModelDescription description) { EndToEnd++; return Time(ModelGraph.Build(description)); }
    }

    static double ParametersPercent(ChannelSpaces spaces, IReadOnlyList<int> widths)
    {
        var counts = spaces.Prunable.OrderBy(s => s.Producer).Select((s, i) => (s.Id, widths[i])).ToDictionary(p => p.Id, p => p.Item2);
        return 100.0 * ModelCost.Of(Widths.Apply(spaces, counts)).Parameters / ModelCost.Of(spaces.Graph).Parameters;
    }

    [Fact]
    public void A_latency_target_with_auto_keeps_the_rounding_that_keeps_the_most_parameters_within_the_target()
    {
        // Each rounding is planned to the target with its own end-to-end checks; all meet it, so the one with the
        // most parameters wins: on a blocked runtime, 16 for every layer buys twice the MACs of odd widths.
        var spaces = ModelGraph.Build(Wide).Spaces;
        var runtime = new BlockedRuntime();
        var budget = PfaBudget.Parse("""{ "strategy": "latency", "target": 0.5, "round_to": "auto" }""");
        var plan = new RecipePlanner(spaces, budget, WideSpectra(spaces), latency: runtime, measuredMultiple: _ => 1).Plan();
        var options = plan.RoundToChoice!;
        Assert.True(options.Count >= 2);
        var chosen = options.Single(o => o.Chosen);
        Assert.Equal(16, chosen.Multiple);
        Assert.Equal(plan.Layers.Select(l => l.After), chosen.Widths);
        Assert.All(plan.Layers, l => Assert.True(l.After % 16 == 0 || l.After == l.Before, $"{l.Layer}: {l.After}"));
        Assert.Equal(options.Max(o => o.ParametersPercent), chosen.ParametersPercent);
        foreach (var o in options)
        {
            // Every option met the target, and records what it keeps and what it measured.
            Assert.Equal(ParametersPercent(spaces, o.Widths), o.ParametersPercent!.Value, 1);
            double ms = BlockedRuntime.Time(ModelGraph.Build(Widths.Apply(spaces, spaces.Prunable.OrderBy(s => s.Producer).Select((s, i) => (s.Id, o.Widths[i])).ToDictionary(p => p.Id, p => p.Item2))));
            Assert.True(ms <= 0.5 * runtime.OriginalMs + 1e-9, $"{o.Multiple}: {ms} over {0.5 * runtime.OriginalMs}");
            Assert.Equal(ms, o.Milliseconds, 3);
        }
        var perLayer = options.Single(o => o.Multiple is null);
        Assert.True(chosen.ParametersPercent > perLayer.ParametersPercent, $"16: {chosen.ParametersPercent}% vs per layer {perLayer.ParametersPercent}%");
        Assert.Equal(chosen.Milliseconds, plan.Latency!.MeasuredMs, 3);

        // Without "auto" the per-layer plan is the answer, as before.
        var plain = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.5 }"""), WideSpectra(spaces), latency: new BlockedRuntime()).Plan();
        Assert.Null(plain.RoundToChoice);
        Assert.Equal(perLayer.Widths, plain.Layers.Select(l => l.After));
    }

    [Fact]
    public void A_rounding_that_cannot_meet_the_latency_target_is_left_out_and_none_meeting_it_is_the_usual_error()
    {
        var spaces = ModelGraph.Build(Wide).Spaces;
        // 5% of the original: 16 filters per layer already take longer; finer roundings reach it.
        var plan = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.05, "round_to": "auto" }"""), WideSpectra(spaces),
            latency: new BlockedRuntime(), measuredMultiple: _ => 1).Plan();
        Assert.DoesNotContain(plan.RoundToChoice!, o => o.Multiple == 16);
        Assert.Contains(plan.RoundToChoice!, o => o.Multiple is null);
        Assert.True(plan.Latency!.MeasuredMs <= plan.Latency.TargetMs);
        Assert.DoesNotContain(plan.RoundToChoice!, o => o.Multiple == 1);   // the per-layer plan is the unrounded one here

        // Each layer's own multiple is 16, which cannot meet it either: the unrounded plan is tried and can.
        var rounded = new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.05, "round_to": "auto" }"""), WideSpectra(spaces),
            latency: new BlockedRuntime(), measuredMultiple: _ => 16).Plan();
        Assert.DoesNotContain(rounded.RoundToChoice!, o => o.Multiple is null or 16);
        Assert.Contains(rounded.RoundToChoice!, o => o.Multiple == 1);
        Assert.True(rounded.Latency!.MeasuredMs <= rounded.Latency.TargetMs);

        var e = Assert.Throws<PfaException>(() => new RecipePlanner(spaces, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.001, "round_to": "auto" }"""), WideSpectra(spaces),
            latency: new BlockedRuntime(), measuredMultiple: _ => 1).Plan());
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Contains("cannot be met", e.Message);
    }

    [Fact]
    public void The_report_lists_the_roundings_measured_and_the_one_chosen()
    {
        var recipe = new Recipe
        {
            Strategy = new RecipeStrategy
            {
                Name = "footprint", Target = 0.3, RoundToAuto = true,
                RoundToChoice = [new() { Widths = [7, 19], Milliseconds = 2.5 }, new() { Multiple = 16, Widths = [16, 16], Milliseconds = 1.25, Chosen = true }],
            },
            Layers = [new RecipeLayer { Name = "c1", FiltersBefore = 32, FiltersAfter = 16 }, new RecipeLayer { Name = "c2", FiltersBefore = 64, FiltersAfter = 16 }],
        };
        var html = Pfa.Core.Pipeline.HtmlReport.Render(recipe, null);
        Assert.Contains("round_to \"auto\": roundings measured end to end", html);
        Assert.Contains("<tr><td>per layer</td><td>7</td><td>19</td><td>2.5</td><td></td></tr>", html);
        Assert.Contains("<tr><td>16</td><td>16</td><td>16</td><td>1.25</td><td><b>chosen</b></td></tr>", html);
        Assert.Contains("the fastest is chosen", html);

        // A latency target's roundings all meet it: the parameters they keep are shown and decide.
        var latency = recipe with { Strategy = recipe.Strategy with { Name = "latency", RoundToChoice = [
            new() { Widths = [7, 19], Milliseconds = 1.9, ParametersPercent = 12.5 }, new() { Multiple = 16, Widths = [16, 32], Milliseconds = 1.95, ParametersPercent = 30.25, Chosen = true }] } };
        var latencyHtml = Pfa.Core.Pipeline.HtmlReport.Render(latency, null);
        Assert.Contains("the one that keeps the most parameters is chosen", latencyHtml);
        Assert.Contains("<tr><td>16</td><td>16</td><td>32</td><td>1.95</td><td>30.25%</td><td><b>chosen</b></td></tr>", latencyHtml);
    }

    [Theory]
    [InlineData("""{ "round_to": "fast" }""", "'round_to' must be a whole number or \"auto\"")]
    [InlineData("""{ "round_to": 0 }""", "'round_to' must be between 1 and 4096 (e.g. 8 or 16) or \"auto\"")]
    [InlineData("""{ "round_to": true }""", "'round_to' must be a whole number or \"auto\"")]
    public void A_bad_round_to_is_a_located_error(string json, string message)
    {
        var e = Assert.Throws<PfaException>(() => PfaBudget.Parse(json));
        Assert.Contains(message, e.Message);
        Assert.NotNull(e.Line);
    }
}

/// <summary>What the fake runtimes of these tests share: no per-layer table, a count of end-to-end measurements.</summary>
abstract class FakeRuntime : ILatencyModel
{
    public abstract double OriginalMs { get; }
    public abstract double Predict(ModelGraph narrowed);
    public abstract double Measure(ModelDescription description);
    public int TableEntries => 0;
    public int TableMeasured => 0;
    public double TableSeconds => 0;
    public int EndToEnd { get; protected set; }
    public string Machine => "fake";
    public bool Saved { get; private set; }
    public void Save() => Saved = true;
}

using MathNet.Numerics.LinearAlgebra;
using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Recipes.Allocation;
using Pfa.Core.Recipes.Design;
using Pfa.Core.Spectra;
using TorchSharp;
using static Pfa.Tests.TestCli;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>Garg et al.'s PCA design (§III): sampling per position, significant dimensions, the depth rule
/// against Table 2, the designed description, the method's stated limits, and compress end to end.</summary>
public sealed class GargTests : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Depth_rule_reproduces_table_2s_final_vgg16_configuration()
    {
        // Table 2, CIFAR-10 VGG-16_BN: significant dimensions of the 13 conv layers and the final configuration.
        int[] s = [11, 42, 103, 118, 238, 249, 249, 424, 271, 160, 36, 38, 42];
        var layers = s.Select((d, i) => ($"conv{i + 1}", d)).ToList();
        var dropped = GargDesign.Depth(layers).Select(d => d.Layer).ToHashSet();
        var kept = layers.Where(l => !dropped.Contains(l.Item1)).Select(l => l.d).ToArray();
        Assert.Equal([11, 42, 103, 118, 238, 249, 424], kept);
        var reason = GargDesign.Depth(layers).First(d => d.Layer == "conv7");
        Assert.Equal(("conv6", 249), (reason.Previous, reason.PreviousDimensions));
        Assert.Contains("does not exceed 249 of conv6", reason.Reason);
    }

    /// <summary>Filters [rank, …) of a layer are fixed random combinations of its first <paramref name="rank"/>
    /// filters (no bias): its responses then span exactly <paramref name="rank"/> dimensions.</summary>
    static void Plant(Tensor weight, int rank, Generator g)
    {
        using var _ = no_grad();
        long n = weight.shape[0];
        var basis = weight[..rank].reshape(rank, -1);
        basis.copy_(randn(basis.shape, generator: g));
        var mix = randn([n - rank, rank], generator: g);
        weight[rank..].copy_(mix.matmul(basis).reshape(weight[rank..].shape));
    }

    [Fact]
    public void Planted_ranks_give_exactly_those_widths_and_the_layer_after_the_peak_is_dropped()
    {
        // Ranks 3, 5, 4 in three convs (8, 10, 12 filters) and 2 in a 6-unit linear layer: S_L = the ranks; the
        // curve rises 3 → 5, then falls to 4, so c3 goes and c2, c1 stay; fc1 keeps its width (never dropped).
        var d = ModelDescription.Parse("""
        { "schema": "pfa.model/1", "input": [2, 8, 8], "layers": [
          { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1, "bias": false }, { "type": "relu" },
          { "name": "c2", "type": "conv2d", "out": 10, "kernel": 3, "padding": 1, "bias": false }, { "type": "relu" },
          { "name": "c3", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1, "bias": false }, { "type": "relu" },
          { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
          { "name": "fc1", "type": "linear", "out": 6, "bias": false }, { "type": "relu" },
          { "name": "out", "type": "linear", "out": 3 } ] }
        """);
        using var net = new PfaNetwork(d);
        var g = new Generator(11);
        var sd = net.state_dict();
        Plant(sd["c1.weight"], 3, g);
        Plant(sd["c2.weight"], 5, g);
        Plant(sd["c3.weight"], 4, g);
        Plant(sd["fc1.weight"], 2, g);
        var pixels = new byte[3000 * 2 * 64];
        var rng = new Random(5);
        rng.NextBytes(pixels);
        DataFiles.Npy(_dir["x.npy"], "|u1", [3000, 2, 8, 8], pixels);
        DataFiles.Npy(_dir["y.npy"], "|u1", [3000], Enumerable.Range(0, 3000).Select(i => (byte)(i % 3)).ToArray());
        using var data = Dataset.Open(new DataSpec { Path = _dir["x.npy"], Labels = _dir["y.npy"], Format = "npy" }, null);
        var budget = PfaBudget.Parse("""{ "strategy": "garg" }""");
        using var analysis = Pfa.Core.Pipeline.AnalysisResult.Run(net, data, budget, 256);
        var recipe = Pfa.Core.Pipeline.RecipeMaker.Make(net.Graph, analysis, budget, []);
        Assert.Equal([3, 5, 4, 2], recipe.Layers.Select(l => l.FiltersAfter));
        Assert.Equal(["c3"], recipe.Layers.Where(l => l.Dropped is not null).Select(l => l.Name));
        var designed = ModelGraph.Build(GargDesign.Designed(net.Graph, recipe));
        Assert.Equal(["c1", "c2", "fc1", "out"], designed.Nodes.Where(n => n.Type is LayerType.Conv2d or LayerType.Linear).Select(n => n.Name));
        Assert.Equal(5 * 4 * 4, designed.Nodes.First(n => n.Name == "fc1").InShape[0]);   // fc1 now reads c2's 5 channels
    }

    [Fact]
    public void Significant_dimensions_are_the_first_count_that_reaches_the_threshold()
    {
        // Cumulative 0.5, 0.8, 0.999, 1: "reaches 0.999" is 3 (Algorithm 1's "var_cumul < threshold" would count 2).
        var spectrum = new LayerSpectrum { Layer = "c", Filters = 4, Eigenvalues = [0.5, 0.3, 0.199, 0.001], Variances = [1, 1, 1, 1] };
        var garg = new GargAllocation();
        Assert.Equal(3, garg.Count(spectrum, 0.999));
        Assert.Equal(2, garg.Count(spectrum, 0.8));
        Assert.Equal(4, garg.Count(spectrum, 1.0));
        Assert.Equal(1, garg.Count(spectrum, 0.3));
    }

    static readonly ModelDescription Vgg = ModelDescription.Parse("""
    { "schema": "pfa.model/1", "input": [1, 8, 8], "layers": [
      { "name": "c1", "type": "conv2d", "out": 4, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "c2", "type": "conv2d", "out": 6, "kernel": 3, "padding": 1 }, { "name": "b2", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "p1", "type": "maxpool2d", "kernel": 2 },
      { "name": "c3", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "name": "b3", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "p2", "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "fc", "type": "linear", "out": 3 } ] }
    """);

    [Fact]
    public void Removing_a_layer_drops_its_batch_norm_and_activation_keeps_pooling_and_adapts_the_next_layers()
    {
        var graph = ModelGraph.Build(Vgg);
        var designed = GargDesign.Designed(graph, new Dictionary<string, int> { ["c1"] = 3, ["c2"] = 2, ["c3"] = 5 }, new HashSet<string> { "c2" });
        // By hand: c1(3) b1 relu, [c2 b2 relu removed], p1, c3(5) b3 relu, p2, flatten, fc; names written out.
        Assert.Equal(["c1", "b1", "2", "p1", "c3", "b3", "9", "p2", "11", "fc"], designed.Layers.Select(l => l.Name));
        var g = ModelGraph.Build(designed);
        Assert.Equal(3, g.Nodes.First(n => n.Name == "c3").InShape[0]);   // c3 now reads c1's 3 channels
        Assert.Equal(5 * 2 * 2, g.Nodes.First(n => n.Name == "fc").InShape[0]);
        Assert.Equal([3], g.OutputShape);
    }

    [Fact]
    public void Selected_init_keeps_trained_filters_where_the_layer_and_its_input_survive()
    {
        torch.manual_seed(3);
        using var source = new PfaNetwork(Vgg);
        var recipe = new Recipe
        {
            Strategy = new RecipeStrategy { Name = "garg" },
            Layers =
            [
                new RecipeLayer { Name = "c1", FiltersBefore = 4, FiltersAfter = 2, Kept = [1, 3] },
                new RecipeLayer { Name = "c2", FiltersBefore = 6, FiltersAfter = 2, Kept = [0, 5], Dropped = "test" },
                new RecipeLayer { Name = "c3", FiltersBefore = 8, FiltersAfter = 4, Kept = [0, 2, 4, 6] },
            ],
        };
        var (description, network) = GargDesign.Build(source, recipe, selected: true, seed: 1);
        using var _ = network;
        Assert.DoesNotContain(description.Layers, l => l.Name == "c2");
        var c1 = source.state_dict()["c1.weight"].index_select(0, tensor(new long[] { 1, 3 }));
        Assert.True(network.state_dict()["c1.weight"].allclose(c1, 0, 0));               // c1 survives with its input: copied
        var c3Rows = source.state_dict()["c3.bias"].index_select(0, tensor(new long[] { 0, 2, 4, 6 }));
        Assert.False(network.state_dict()["c3.bias"].allclose(c3Rows, 1e-4, 1e-4));     // c3 now reads c1, not c2: fresh
        var (_, random) = GargDesign.Build(source, recipe, selected: false, seed: 1);
        using var __ = random;
        Assert.False(random.state_dict()["c1.weight"].allclose(c1, 1e-4, 1e-4));
    }

    [Fact]
    public void Per_position_sampling_gives_the_covariance_of_every_position_and_stops_at_100_samples_per_filter()
    {
        torch.manual_seed(5);
        var d = ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [1, 5, 5], "layers": [ { "name": "c", "type": "conv2d", "out": 4, "kernel": 3, "padding": 1 }, { "name": "b", "type": "batchnorm2d" }, { "type": "relu" }, { "type": "flatten" }, { "name": "o", "type": "linear", "out": 2 } ] }""");
        using var net = new PfaNetwork(d);
        using (no_grad()) { net.state_dict()["b.running_mean"].copy_(tensor(new float[] { 0.1f, -0.2f, 0.3f, 0f })); net.state_dict()["b.weight"].copy_(tensor(new float[] { 1.5f, 0.5f, 2f, 1f })); }
        DataFiles.Idx(_dir["x.idx"], _dir["y.idx"], 40, 5, 5, i => (byte)(i % 2), gzip: false);
        using var data = Dataset.Open(new DataSpec { Path = _dir["x.idx"], Labels = _dir["y.idx"], Format = "idx" }, null);
        var options = new CollectOptions { Sampling = Sampling.Positions, PreActivation = true, SamplesPerChannel = 100 };
        var stats = ResponseCollector.Collect(net, data, ["c"], 8, out var inputs, null, options);
        // 100·4 = 400 samples of 25 positions per image: 16 images, two batches of 8.
        Assert.Equal(16, inputs);
        Assert.Equal(400, stats["c"].Count);

        // Independent: the batch norm's output of those 16 images, every position a row, covariance in MathNet.
        Tensor? bn = null;
        net.eval();
        using (var first16 = data.Batches(16).First())
        using (no_grad()) net.Forward(first16.X, (node, y) => { if (node.Name == "b") bn = y.permute(0, 2, 3, 1).reshape(-1, 4).to_type(ScalarType.Float64).clone(); }).Dispose();
        var rows = Matrix<double>.Build.DenseOfRowMajor(400, 4, bn!.data<double>().ToArray());
        var mean = rows.ColumnSums() / 400;
        var centered = rows - Matrix<double>.Build.Dense(400, 4, (i, j) => mean[j]);
        var expected = centered.TransposeThisAndMultiply(centered) / 399;
        using var actual = stats["c"].Covariance();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(expected[i, j], actual[i, j].item<double>(), 1e-5 * Math.Max(1, Math.Abs(expected[i, j])));
    }

    [Fact]
    public void Residual_and_grouped_models_are_refused_with_the_papers_limitation()
    {
        var residual = ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [2, 4, 4], "layers": [ { "name": "a", "type": "conv2d", "out": 2, "kernel": 1 }, { "name": "s", "type": "add", "inputs": ["input", "a"] }, { "type": "flatten" }, { "name": "o", "type": "linear", "out": 2 } ] }""");
        var e = Assert.Throws<PfaException>(() => GargDesign.CheckApplies(ModelGraph.Build(residual), PfaBudget.Parse("""{ "strategy": "garg" }""")));
        Assert.Equal(ErrorCodes.NotApplicable, e.Code);
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("shortcut connections", e.Message);
        var grouped = ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [4, 4, 4], "layers": [ { "name": "g", "type": "conv2d", "out": 4, "kernel": 1, "groups": 2 }, { "type": "flatten" }, { "name": "o", "type": "linear", "out": 2 } ] }""");
        Assert.Contains("grouped convolution", Assert.Throws<PfaException>(() => GargDesign.CheckApplies(ModelGraph.Build(grouped), PfaBudget.Parse("""{ "strategy": "garg" }"""))).Message);
    }

    [Theory]
    [InlineData("""{ "strategy": "garg", "threshold": 1.5 }""", "'threshold' is a fraction")]
    [InlineData("""{ "strategy": "garg", "responses": "post" }""", "'responses' must be")]
    [InlineData("""{ "strategy": "kl", "depth": false }""", "'depth' applies to strategy 'garg', not 'kl'")]
    public void Garg_options_are_validated(string json, string expected) =>
        Assert.Contains(expected, Assert.Throws<PfaException>(() => PfaBudget.Parse(json)).Message);

    [Fact]
    public void Compress_with_garg_designs_and_trains_a_new_model_and_recipe_refuses_pfa_statistics()
    {
        var data = TinyFashionModel.Data;
        if (!Directory.Exists(data)) throw new InvalidOperationException($"Fashion-MNIST is missing from {data}: run scripts/setup.sh.");
        torch.manual_seed(2);
        using (var seq = nn.Sequential(("c1", nn.Conv2d(1, 8, 3, padding: 1)), ("b1", nn.BatchNorm2d(8)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)),
                   ("c2", nn.Conv2d(8, 12, 3, padding: 1)), ("b2", nn.BatchNorm2d(12)), ("r2", nn.ReLU()), ("p2", nn.MaxPool2d(2)),
                   ("flat", nn.Flatten()), ("out", nn.Linear(12 * 7 * 7, 10))))
        {
            using var train = Dataset.Open(new DataSpec { Path = data, Split = "train", Limit = 2000 }, new Normalization { Mean = [0.286], Std = [0.353] });
            Pfa.Core.Training.Trainer.Train(seq, train, new Pfa.Core.Training.TrainOptions { Epochs = 1, LearningRate = 0.05, BatchSize = 64 });
            PfaModel.Export(seq, [1, 28, 28], new Normalization { Mean = [0.286], Std = [0.353] }, _dir["m.json"], _dir["m.dat"], "g");
        }
        File.WriteAllText(_dir["garg.json"], """{ "strategy": "garg", "threshold": 0.99, "finetune": { "epochs": 1, "learning_rate": 0.05, "batch_size": 64 } }""");
        var (code, output, err) = Cli("compress", "--model", _dir["m.json"], "--weights", _dir["m.dat"], "--budget", _dir["garg.json"],
            "--data", data, "--limit", "2000", "--json", "--out", _dir["out"]);
        Assert.True(code == 0, err);
        Assert.Contains("training the designed model from scratch", err);
        var recipe = Recipe.Load(Path.Combine(_dir["out"], "recipe.json"));
        Assert.Equal(("garg", 0.99, "random", "pre_activation"), (recipe.Strategy.Name, recipe.Strategy.Threshold!.Value, recipe.Strategy.Init, recipe.Strategy.Responses));
        Assert.All(recipe.Layers, l => Assert.Equal("significant_dimensions", l.Rule));
        // Every conv saw at least 100 samples per filter; the widths are the significant dimensions at 0.99.
        Assert.All(recipe.Layers, l => Assert.True(l.Samples >= 100L * l.FiltersBefore, $"{l.Name}: {l.Samples}"));
        Assert.All(recipe.Layers, l => Assert.Equal(RecipePlanner.EnergyCount(Cumulative(l.Spectrum), 0.99 - 1e-6), l.FiltersAfter));
        var designed = ModelDescription.Load(Path.Combine(_dir["out"], "model.json"));
        Assert.Equal(recipe.Layers.Select(l => l.FiltersAfter), designed.Layers.Where(l => l.Name is "c1" or "c2").Select(l => l.Out!.Value));
        var summary = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.True(summary.GetProperty("accuracy_after").GetDouble() > 30, output);   // one epoch from scratch on 2,000 images
        Assert.Contains("Trade-off", File.ReadAllText(Path.Combine(_dir["out"], "report.html")));

        // PFA's pooled statistics cannot make a garg recipe (nor the reverse).
        Assert.Equal(0, Cli("analyze", "--model", _dir["m.json"], "--weights", _dir["m.dat"], "--data", data, "--limit", "300", "--out", _dir["pfa"]).Code);
        var (rc, _, rerr) = Cli("recipe", "--model", _dir["m.json"], "--analysis", _dir["pfa"], "--budget", _dir["garg.json"], "--out", _dir["r.json"]);
        Assert.Equal(2, rc);
        Assert.Contains("needs per-position statistics", rerr);
    }

    static double[] Cumulative(double[] lambda)
    {
        var c = new double[lambda.Length];
        double s = 0;
        for (int i = 0; i < c.Length; i++) c[i] = s += lambda[i];
        return c;
    }
}

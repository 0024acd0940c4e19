using Pfa.Core.Budget;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Pipeline;
using Pfa.Core.Selection;
using TorchSharp;

namespace Pfa.Tests;

/// <summary>Issue 21: the variance selection hands the layer before the last of each residual branch to ℓ1 (it
/// fine-tuned better there, bench/results/selection-study.md). Which layers those are, read off the graph in both
/// residual modes, and what the recipe keeps there — checked against an ℓ1 ranking computed here.</summary>
public class ResidualBranchSelectionTests
{
    static ModelGraph Graph(TorchSharp.Modules.Sequential m) => ModelGraph.Build(SequentialExporter.Describe(m, [1, 12, 12]));
    static string[] Names(ModelGraph g) => ResidualBranches.BeforeLast(g).Select(i => g.Nodes[i].Name).Order().ToArray();

    [Fact]
    public void The_layer_before_the_last_of_each_branch_is_found_on_the_graph()
    {
        // Basic blocks (identity, projection and padding shortcuts, post- and pre-activation): every block's conv1.
        string[] conv1s = ["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1"];
        Assert.Equal(conv1s, Names(Graph(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5 }))));
        Assert.Equal(conv1s, Names(Graph(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5, Shortcut = Shortcut.Padding }))));
        Assert.Equal(conv1s, Names(Graph(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 4, Classes = 5, PreActivation = true }))));
        // Bottlenecks (1×1 → 3×3 → 1×1): the 3×3, whose output reaches the sum through the last 1×1 only.
        var bottleneck = Names(Graph(ResidualNets.ResNet(new ResNetOptions { Depth = 50, InChannels = 1, Width = 4, Classes = 5 })));
        Assert.Equal(3 + 4 + 6 + 3, bottleneck.Length);
        Assert.All(bottleneck, n => Assert.EndsWith(".conv2", n));
        // Inverted residuals: the expansion (its output passes the depthwise conv, then the projection reaches the sum).
        var mobile = Graph(ResidualNets.MobileNet(inChannels: 1, classes: 5, stem: 6, head: 16, settings: [(1, 6, 1, 1), (2, 8, 2, 2), (3, 8, 1, 1)]));
        // features.0 (t = 1) has no expansion; features.1 (stride 2) has no sum of its own, but its projection's output
        // is the next block's shortcut: its expansion reaches a sum through one dense conv all the same.
        Assert.Equal(["features.1.expand", "features.2.expand", "features.3.expand"], Names(mobile));
        // No sums, no branches: a plain CNN keeps variance everywhere.
        Assert.Empty(ResidualBranches.BeforeLast(ModelGraph.Build(ModelDescription.Parse("""
            { "schema": "pfa.model/1", "input": [1, 8, 8], "layers": [ { "name": "c1", "type": "conv2d", "out": 4, "kernel": 3 }, { "type": "relu" },
              { "name": "c2", "type": "conv2d", "out": 4, "kernel": 3 }, { "type": "flatten" }, { "name": "fc", "type": "linear", "out": 2 } ] }
            """))));
    }

    [Theory]
    [InlineData("projection")]
    [InlineData("padding")]
    public void Variance_keeps_the_largest_l1_filters_there_when_the_weights_are_given_and_nothing_else_changes(string residual)
    {
        torch.manual_seed(3);
        var description = SequentialExporter.Describe(ResidualNets.ResNet(new ResNetOptions { Depth = 8, InChannels = 1, Width = 8, Classes = 10 }), [1, 28, 28], "r8",
            new Normalization { Mean = [0.286], Std = [0.353] });
        using var network = new PfaNetwork(description);
        TrainedLooking.Apply(network);
        using var data = Pfa.Core.Data.Dataset.Open(new Pfa.Core.Data.DataSpec { Path = TinyFashionModel.Data, Split = "train", Limit = 300 }, description.Normalize);
        var budget = PfaBudget.Parse($$"""{ "strategy": "footprint", "target": 0.5, "residual": "{{residual}}" }""");
        using var analysis = AnalysisResult.Run(network, data, budget, 100);
        var withWeights = RecipeMaker.Make(network.Graph, analysis, budget, [], PfaModel.WeightsOf(network));
        var without = RecipeMaker.Make(network.Graph, analysis, budget, []);
        var branch = Names(network.Graph);
        Assert.Equal(3, branch.Length);
        var weights = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (l, v) in withWeights.Layers.Zip(without.Layers))
        {
            Assert.Equal(v.FiltersAfter, l.FiltersAfter);   // the widths do not depend on the selection
            Assert.Null(v.Select);
            if (branch.Contains(l.Name))
            {
                Assert.Equal("l1", l.Select);
                // ℓ1 of each filter in float64, the largest kept, ties to the lower index.
                var w = weights[l.Name + ".weight"].detach().to_type(torch.ScalarType.Float64);
                int n = (int)w.shape[0];
                var norms = Enumerable.Range(0, n).Select(i => w[i].abs().sum().item<double>()).ToArray();
                Assert.Equal(Enumerable.Range(0, n).OrderByDescending(i => norms[i]).ThenBy(i => i).Take(l.FiltersAfter).Order().ToArray(), l.Kept);
            }
            else
            {
                Assert.Null(l.Select);
                Assert.Equal(v.Kept, l.Kept);
            }
        }
        Assert.Contains(withWeights.Layers, l => branch.Contains(l.Name) && l.FiltersAfter < l.FiltersBefore);   // the rule was exercised
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Model;

namespace Pfa.Tests;

public class ModelDescriptionTests
{
    const string Small = """
    {
      "schema": "pfa.model/1",
      "input": [1, 8, 8],
      "layers": [
        { "name": "conv1", "type": "conv2d", "out": 4, "kernel": 3, "padding": 1 },
        { "type": "batchnorm2d" },
        { "type": "relu" },
        { "type": "maxpool2d", "kernel": 2 },
        { "type": "flatten" },
        { "name": "fc", "type": "linear", "out": 3 }
      ]
    }
    """;

    [Fact]
    public void Shapes_are_inferred_and_default_names_are_positions()
    {
        var graph = ModelGraph.Build(ModelDescription.Parse(Small));
        Assert.Equal(["conv1", "1", "2", "3", "4", "fc"], graph.Nodes.Select(n => n.Name));
        Assert.Equal([4, 8, 8], graph.Nodes[0].OutShape);
        Assert.Equal([4, 4, 4], graph.Nodes[3].OutShape);
        Assert.Equal([64], graph.Nodes[4].OutShape);
        Assert.Equal([3], graph.OutputShape);
        Assert.Equal(64, graph.Nodes[5].InShape[0]);
    }

    /// <summary>What is written is what was read: the canonical JSON equals the source document as JSON (compared
    /// by System.Text.Json's own DOM, not by the product's parser), with nothing added or lost.</summary>
    [Fact]
    public void Description_round_trips_through_json()
    {
        var d = ModelDescription.Parse(Small);
        var written = System.Text.Json.Nodes.JsonNode.Parse(d.ToJson());
        var source = System.Text.Json.Nodes.JsonNode.Parse(Small);
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(source, written), d.ToJson());
        Assert.EndsWith("}\n", d.ToJson());                       // canonical: a final newline
        Assert.Contains("\"input\": [1, 8, 8]", d.ToJson());       // number arrays on one line
    }

    [Fact]
    public void Residual_graph_with_named_inputs_and_add_is_valid()
    {
        var d = ModelDescription.Parse("""
        { "schema": "pfa.model/1", "input": [3, 8, 8], "layers": [
          { "name": "stem", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 },
          { "name": "a", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 },
          { "name": "dw", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 8 },
          { "name": "sum", "type": "add", "inputs": ["stem", "dw"] },
          { "type": "adaptive_avgpool2d", "output_size": 1 },
          { "type": "flatten" },
          { "type": "linear", "out": 2 } ] }
        """);
        var g = ModelGraph.Build(d);
        Assert.Equal([0, 2], g.Nodes[3].Inputs);
        Assert.Equal([8, 8, 8], g.Nodes[3].OutShape);
    }

    static PfaException Fails(string json) => Assert.Throws<PfaException>(() => ModelDescription.Parse(json, "m.json"));

    [Fact]
    public void Unknown_layer_type_names_the_layer_and_its_line()
    {
        var e = Fails("{\n \"schema\": \"pfa.model/1\",\n \"input\": [1, 8, 8],\n \"layers\": [\n  { \"type\": \"relu\" },\n  { \"type\": \"conv3d\", \"out\": 2 }\n ]\n}");
        Assert.Equal(ErrorCodes.InvalidModel, e.Code);
        Assert.Equal(6, e.Line);
        Assert.Contains("layer 1", e.Message);
        Assert.Contains("conv3d", e.Message);
        Assert.Contains("m.json(6,", e.Format());
    }

    [Fact]
    public void Malformed_json_reports_line_and_column()
    {
        var e = Fails("{\n \"schema\": \"pfa.model/1\",\n \"input\": [1, 8, 8]\n \"layers\": []\n}");
        Assert.Equal(ErrorCodes.InvalidJson, e.Code);
        Assert.Equal(4, e.Line);
    }

    [Fact]
    public void Unknown_property_is_rejected()
    {
        var e = Fails("""{ "schema": "pfa.model/1", "input": [4], "layers": [ { "type": "linear", "out": 2, "outt": 3 } ] }""");
        Assert.Equal(ErrorCodes.InvalidJson, e.Code);
        Assert.Contains("outt", e.Message);
    }

    [Theory]
    [InlineData("""{ "type": "linear", "out": 2 }""", "Insert a 'flatten'")]
    [InlineData("""{ "type": "conv2d", "out": 3, "kernel": 3, "groups": 2 }""", "groups = 2")]
    [InlineData("""{ "type": "conv2d", "out": 3, "kernel": 9 }""", "does not fit")]
    [InlineData("""{ "type": "relu", "kernel": 3 }""", "'kernel' is not a property of relu")]
    [InlineData("""{ "type": "add", "inputs": ["input", "nope"] }""", "'nope'")]
    [InlineData("""{ "name": "a..b", "type": "relu" }""", "joined by single dots")]
    [InlineData("""{ "name": "a b", "type": "relu" }""", "joined by single dots")]
    [InlineData("""{ "type": "conv2d", "kernel": 3 }""", "needs 'out'")]
    [InlineData("""{ "type": "dropout", "p": 1.5 }""", "'p' must be in [0, 1)")]
    [InlineData("""{ "type": "concat", "inputs": ["input"] }""", "takes at least 2 input(s); found 1")]
    [InlineData("""{ "type": "add", "inputs": ["input", "input", "input"] }""", "takes 2 input(s); found 3")]
    public void Inconsistent_layers_are_rejected_with_a_reason(string layer, string reason)
    {
        var e = Fails($$"""{ "schema": "pfa.model/1", "input": [2, 8, 8], "layers": [ {{layer}} ] }""");
        Assert.Equal(ErrorCodes.InvalidModel, e.Code);
        Assert.Contains(reason, e.Message);
        Assert.NotNull(e.Line);
    }

    [Fact]
    public void Concat_joins_channels_of_equal_spatial_size_and_refuses_others_at_its_inputs()
    {
        var ok = ModelGraph.Build(ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [2, 8, 8], "layers": [ { "name": "a", "type": "conv2d", "out": 3, "kernel": 1 }, { "type": "concat", "inputs": ["input", "a", "a"] } ] }"""));
        Assert.Equal([8, 8, 8], ok.OutputShape);   // 2 + 3 + 3 channels
        var e = Fails("{ \"schema\": \"pfa.model/1\", \"input\": [2, 8, 8], \"layers\": [ { \"name\": \"p\", \"type\": \"maxpool2d\", \"kernel\": 2 },\n\n  { \"type\": \"concat\", \"inputs\": [\"input\", \"p\"] } ] }");
        Assert.Equal(ErrorCodes.InvalidModel, e.Code);
        Assert.Contains("joins tensors of shapes [2, 8, 8] and [2, 4, 4]", e.Message);
        Assert.Equal(3, e.Line);   // at the concat's inputs
    }

    /// <summary>Dotted names are PyTorch's nested-module keys: a layer can live in a scope, but a scope cannot also be
    /// a layer (their parameter keys would mix), in either order.</summary>
    [Fact]
    public void Dotted_names_nest_and_a_scope_cannot_also_be_a_layer()
    {
        var ok = ModelGraph.Build(ModelDescription.Parse("""{ "schema": "pfa.model/1", "input": [2], "layers": [ { "name": "block.fc", "type": "linear", "out": 3 }, { "name": "block.fc2", "type": "linear", "out": 2 } ] }"""));
        Assert.Equal(["block.fc", "block.fc2"], ok.Nodes.Select(n => n.Name));
        using (var net = new PfaNetwork(ok.Description))
            Assert.Equal(["block.fc.weight", "block.fc.bias", "block.fc2.weight", "block.fc2.bias"], net.state_dict().Keys);
        var after = Fails("{ \"schema\": \"pfa.model/1\", \"input\": [2], \"layers\": [ { \"name\": \"block\", \"type\": \"relu\" },\n  { \"name\": \"block.fc\", \"type\": \"linear\", \"out\": 3 } ] }");
        Assert.Contains("inside 'block', which is the name of layer 0", after.Message);
        Assert.Equal(2, after.Line);
        var before = Fails("""{ "schema": "pfa.model/1", "input": [2], "layers": [ { "name": "a.b.fc", "type": "linear", "out": 3 }, { "name": "a.b", "type": "relu" } ] }""");
        Assert.Contains("layer 0 ('a.b.fc') lies inside it", before.Message);
    }

    [Theory]
    [InlineData("""{ "type": "channel_pad", "out": 3, "offset": 2 }""", "'out' ≥ its input's 2 channels + offset 2")]
    [InlineData("""{ "type": "channel_pad", "out": 4, "offset": -1 }""", "'offset' must be ≥ 0")]
    [InlineData("""{ "type": "channel_scatter", "out": 4, "index": [1] }""", "one output position per input channel (2)")]
    [InlineData("""{ "type": "channel_scatter", "out": 4, "index": [2, 1] }""", "must ascend strictly within [0, 4)")]
    [InlineData("""{ "type": "channel_scatter", "out": 4, "index": [1, 4] }""", "must ascend strictly within [0, 4)")]
    public void Channel_pad_and_scatter_check_their_positions(string layer, string reason)
    {
        var e = Fails($$"""{ "schema": "pfa.model/1", "input": [2, 4, 4], "layers": [ {{layer}} ] }""");
        Assert.Equal(ErrorCodes.InvalidModel, e.Code);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Duplicate_names_and_wrong_schema_are_rejected()
    {
        Assert.Contains("reuses the name", Fails("""{ "schema": "pfa.model/1", "input": [2], "layers": [ { "name": "x", "type": "relu" }, { "name": "x", "type": "relu" } ] }""").Message);
        Assert.Contains("unknown schema", Fails("""{ "schema": "pfa.model/9", "input": [2], "layers": [ { "type": "relu" } ] }""").Message);
        Assert.Contains("'layers' is empty", Fails("""{ "schema": "pfa.model/1", "input": [2], "layers": [] }""").Message);
    }
}

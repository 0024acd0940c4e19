using Pfa.Core.Data;
using Pfa.Core.Layers;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>
/// The ONNX export checked by the real runtime: each shipped network, original and compressed (in both residual
/// modes where it has sums), exported and run by Microsoft.ML.OnnxRuntime on 64 real Fashion-MNIST test images as
/// raw [0, 1] pixels, against TorchSharp's logits on the same images normalised as the tool's datasets do: the
/// largest difference within 1e-4 of the logits' scale and the same predictions.
/// </summary>
public class OnnxExportTests
{
    static readonly Normalization Fashion = new() { Mean = [0.286], Std = [0.353] };
    static readonly int[] Input = [1, 28, 28];

    /// <summary>A model with every layer type of the rule table, in configurations that take each export path
    /// (dilation, groups, pool padding, both GELU forms, adaptive pooling to a size that does and one that does not divide).</summary>
    const string EveryType = """
        { "schema": "pfa.model/1", "name": "every-type", "input": [1, 28, 28], "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
          { "name": "c1", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "name": "r6", "type": "relu6" },
          { "name": "c2", "type": "conv2d", "out": 8, "kernel": 3, "padding": 2, "dilation": 2, "bias": false }, { "name": "lr", "type": "leaky_relu", "negative_slope": 0.1 },
          { "name": "mp", "type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1 },
          { "name": "c3", "type": "conv2d", "out": 8, "kernel": 3, "padding": 1, "groups": 2 }, { "name": "g1", "type": "gelu" },
          { "name": "ap", "type": "avgpool2d", "kernel": 3, "stride": 1, "padding": 1 }, { "name": "g2", "type": "gelu", "approximate": "tanh" },
          { "name": "sum", "type": "add", "inputs": ["g2", "mp"] },
          { "name": "cat", "type": "concat", "inputs": ["sum", "g1"] },
          { "name": "pad", "type": "channel_pad", "offset": 2, "out": 20 },
          { "name": "sc", "type": "channel_scatter", "inputs": ["g1"], "index": [1, 2, 4, 7, 8, 11, 13, 19], "out": 20 },
          { "name": "sum2", "type": "add", "inputs": ["pad", "sc"] }, { "name": "r", "type": "relu" },
          { "name": "a7", "type": "adaptive_avgpool2d", "output_size": 7 }, { "name": "sg", "type": "sigmoid" },
          { "name": "a3", "type": "adaptive_avgpool2d", "output_size": 3 }, { "name": "th", "type": "tanh" },
          { "name": "flat", "type": "flatten" }, { "name": "fc1", "type": "linear", "out": 32 }, { "name": "bn", "type": "batchnorm1d" },
          { "name": "r2", "type": "relu" }, { "name": "drop", "type": "dropout", "p": 0.3 }, { "name": "fc2", "type": "linear", "out": 10 } ] }
        """;

    static readonly Dictionary<string, Func<ModelDescription>> Networks = new()
    {
        ["vgg"] = () => ModelDescription.Parse("""
            { "schema": "pfa.model/1", "name": "vgg", "input": [1, 28, 28], "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
              { "name": "conv1", "type": "conv2d", "out": 16, "kernel": 3, "padding": 1 }, { "name": "bn1", "type": "batchnorm2d" }, { "type": "relu" },
              { "name": "conv2", "type": "conv2d", "out": 16, "kernel": 3, "padding": 1 }, { "name": "bn2", "type": "batchnorm2d" }, { "type": "relu" },
              { "type": "maxpool2d", "kernel": 2 },
              { "name": "conv3", "type": "conv2d", "out": 32, "kernel": 3, "padding": 1 }, { "name": "bn3", "type": "batchnorm2d" }, { "type": "relu" },
              { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
              { "name": "fc1", "type": "linear", "out": 64 }, { "type": "relu" }, { "type": "dropout", "p": 0.3 },
              { "name": "fc2", "type": "linear", "out": 10 } ] }
            """),
        ["resnet20-projection"] = () => SequentialExporter.Describe(ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8 }), Input, "resnet20-projection", Fashion),
        ["resnet20-padding"] = () => SequentialExporter.Describe(ResidualNets.ResNet(new ResNetOptions { Depth = 20, InChannels = 1, Width = 8, Shortcut = Shortcut.Padding }), Input, "resnet20-padding", Fashion),
        ["mobilenet"] = () => SequentialExporter.Describe(ResidualNets.MobileNet(inChannels: 1), Input, "mobilenet", Fashion),
        ["grouped+concat"] = () => ModelDescription.Parse("""
            { "schema": "pfa.model/1", "name": "grouped", "input": [1, 28, 28], "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
              { "name": "c1", "type": "conv2d", "out": 12, "kernel": 3, "padding": 1 }, { "name": "b1", "type": "batchnorm2d" }, { "name": "r1", "type": "relu" },
              { "name": "g", "type": "conv2d", "out": 12, "kernel": 3, "stride": 2, "padding": 1, "groups": 4 }, { "name": "bg", "type": "batchnorm2d" }, { "name": "rg", "type": "relu" },
              { "name": "d", "type": "conv2d", "out": 12, "kernel": 3, "stride": 2, "padding": 1, "inputs": ["r1"] }, { "name": "rd", "type": "relu" },
              { "name": "cat", "type": "concat", "inputs": ["rg", "rd"] },
              { "type": "adaptive_avgpool2d", "output_size": 1 }, { "type": "flatten" }, { "name": "fc", "type": "linear", "out": 10 } ] }
            """),
        ["every layer type"] = () => ModelDescription.Parse(EveryType),
    };

    /// <summary>Each activation alone after a conv, its outputs compared directly (deep in a network a small error fades).</summary>
    static readonly string[] Activations = ["relu", "relu6", "leaky_relu", "gelu", "gelu tanh", "sigmoid", "tanh"];

    static ModelDescription Activation(string name) => ModelDescription.Parse($$"""
        { "schema": "pfa.model/1", "name": "act", "input": [1, 28, 28], "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
          { "name": "c", "type": "conv2d", "out": 2, "kernel": 3, "padding": 1 },
          { "name": "a", "type": "{{name.Split(' ')[0]}}"{{(name.EndsWith(" tanh") ? ", \"approximate\": \"tanh\"" : "")}} }, { "type": "flatten" } ] }
        """);

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var a in Activations) data.Add(a, "activation");
        foreach (var net in Networks.Keys)
        {
            data.Add(net, "original");
            if (net == "every layer type") continue;
            data.Add(net, "compressed, projection");
            if (ModelGraph.Build(Networks[net]()).HasResidual) data.Add(net, "compressed, padding");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Onnx_runtime_agrees_with_torchsharp_on_real_images(string network, string form)
    {
        torch.manual_seed(3);
        using var original = new PfaNetwork(form == "activation" ? Activation(network) : Networks[network]());
        if (form == "activation")
        {
            // Pre-activations over [-3, 3] and beyond, where the activations' shapes differ most.
            using var three = 3.0.ToScalar();
            using (no_grad()) foreach (var p in original.parameters()) p.mul_(three);
        }
        TrainedLooking.Apply(original);
        if (form is "original" or "activation") { Agree(original, $"{network}, {form}"); return; }
        var (description, compressed) = Compress(original, form.EndsWith("padding") ? ResidualMode.Padding : ResidualMode.Projection);
        using var _ = compressed;
        Assert.True(compressed.Graph.Nodes.Count > 0);
        if (form.EndsWith("padding")) Assert.Contains(description.Layers, l => l.Type == ChannelScatterRule.Name);
        Agree(compressed, $"{network}, {form}");
    }

    [Fact]
    public void Every_layer_type_of_the_rule_table_is_in_the_every_type_model_and_exports()
    {
        // A new layer type must show how it exports: add it to EveryType (and give its rule a ToOnnx).
        var types = ModelDescription.Parse(EveryType).Layers.Select(l => l.Type).ToHashSet();
        Assert.Empty(LayerRules.Types.Except(types));
        Assert.All(LayerRules.Types, t => Assert.Contains(LayerRules.Get(t).GetType().GetMethods(), m => m.Name == nameof(LayerRule.ToOnnx) && m.DeclaringType != typeof(LayerRule)));
    }

    [Fact]
    public void The_contract_input_logits_dynamic_batch_opset_and_metadata()
    {
        torch.manual_seed(1);
        using var network = new PfaNetwork(Networks["vgg"]());
        var model = OnnxExporter.Build(network, new Dictionary<string, string> { ["pfa.recipe_sha256"] = "abc" });
        Assert.Equal([OnnxExporter.InputName], model.Graph.Input.Select(i => i.Name));
        Assert.Equal([OnnxExporter.OutputName], model.Graph.Output.Select(o => o.Name));
        var inShape = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.Equal("N", inShape[0].DimParam);
        Assert.Equal([1L, 28, 28], inShape.Skip(1).Select(d => d.DimValue));
        Assert.Equal([10L], model.Graph.Output[0].Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue));
        Assert.Equal(OnnxExporter.Opset, model.OpsetImport.Single().Version);
        Assert.Equal("vgg", model.MetadataProps.Single(p => p.Key == "pfa.model").Value);
        Assert.Equal("abc", model.MetadataProps.Single(p => p.Key == "pfa.recipe_sha256").Value);
        // The normalisation is the graph's first step: Sub then Div on the input.
        Assert.Equal(["Sub", "Div"], model.Graph.Node.Take(2).Select(n => n.OpType));
        Assert.Equal(OnnxExporter.InputName, model.Graph.Node[0].Input[0]);
        // Any batch size runs.
        using var ort = OnnxRuntimeModel.Of(network);
        Assert.Equal(3 * 10, ort.Run(new float[3 * 28 * 28], 3).Length);
    }

    /// <summary>Random halves of every prunable space (whole groups where a grouped conv reads it), as surgery tests do.</summary>
    static (ModelDescription, PfaNetwork) Compress(PfaNetwork original, ResidualMode mode)
    {
        var spaces = original.Graph.SpacesFor(mode);
        var rng = new Random(7);
        var kept = spaces.Prunable.ToDictionary(s => s.Id,
            s => Enumerable.Range(0, s.Channels / s.Granule).OrderBy(_ => rng.Next()).Take(Math.Max(1, s.Channels / s.Granule / 2))
                .SelectMany(j => Enumerable.Range(j * s.Granule, s.Granule)).Order().ToArray());
        return ChannelSurgery.Apply(original, spaces, kept, randomInit: false, seed: 1);
    }

    static void Agree(PfaNetwork network, string what)
    {
        const int batch = 64;
        network.eval();
        var spec = new DataSpec { Path = TinyFashionModel.Data, Split = "test", Limit = batch };
        using var raw = Dataset.Open(spec, null);   // bytes / 255: pixels in [0, 1]
        using var normalized = Dataset.Open(spec, network.Graph.Description.Normalize);
        float[] expected, pixels;
        using (var b = normalized.Batches(batch).First())
        using (no_grad())
        using (var logits = network.forward(b.X))
            expected = logits.data<float>().ToArray();
        using (var b = raw.Batches(batch).First())
            pixels = b.X.data<float>().ToArray();
        Assert.True(pixels.All(p => p is >= 0 and <= 1) && pixels.Any(p => p > 0.5f), $"{what}: the ONNX input must be raw [0, 1] pixels");

        using var ort = OnnxRuntimeModel.Of(network);
        var actual = ort.Run(pixels, batch);
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs(v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(scale > 0, $"{what}: logits all zero");
        Assert.True(worst <= 1e-4 * scale, $"{what}: ONNX Runtime differs from TorchSharp by {worst:G3} (logits' scale {scale:G3})");
        int classes = expected.Length / batch;
        for (int i = 0; i < batch; i++)
        {
            var e = expected.AsSpan(i * classes, classes).ToArray();
            var a = actual.AsSpan(i * classes, classes).ToArray();
            int pe = Array.IndexOf(e, e.Max()), pa = Array.IndexOf(a, a.Max());
            // A prediction may differ only where TorchSharp's own top two are closer than the tolerance.
            var sorted = e.OrderDescending().ToArray();
            Assert.True(pe == pa || sorted[0] - sorted[1] <= 1e-4 * scale, $"{what}: sample {i} predicted {pa} by ONNX Runtime, {pe} by TorchSharp");
        }
    }
}

using Google.Protobuf;
using Onnx;
using Pfa.Core.Errors;
using Pfa.Core.Layers;
using Pfa.Core.Model;

namespace Pfa.Core.Onnx;

/// <summary>
/// A model the tool can describe (original or compressed) as an ONNX model for ONNX Runtime. The contract a
/// deployer relies on (README, "Deploy"): one input <c>input</c>, float32 <c>[N, C, H, W]</c> (or <c>[N, D]</c>)
/// with pixels in [0, 1] — the description's normalisation is the graph's first step — and one output
/// <c>logits</c> <c>[N, classes]</c>; the batch dimension is dynamic; opset <see cref="Opset"/>; the description's
/// name and the recipe's hash in the metadata. Each layer writes itself (<see cref="LayerRule.ToOnnx"/>), in
/// inference form: batch norms use their running statistics, dropout is the identity.
/// </summary>
public static class OnnxExporter
{
    /// <summary>Opset 17 (IR 8): read by ONNX Runtime since 1.13 and by every current converter and mobile build.</summary>
    public const int Opset = 17;
    public const long IrVersion = 8;
    public const string InputName = "input", OutputName = "logits";

    /// <summary>The ONNX model of <paramref name="network"/>; <paramref name="metadata"/> goes into metadata_props.</summary>
    public static ModelProto Build(PfaNetwork network, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var graph = network.Graph;
        var description = graph.Description;
        var g = new OnnxGraph();
        g.Proto.Name = description.Name ?? "pfa_model";
        g.Name(InputName);
        g.Name(OutputName);
        var state = network.state_dict();

        var names = new string[graph.Nodes.Count];
        string input = Normalize(g, description.Normalize, graph.InputShape);
        foreach (var node in graph.Nodes)
        {
            var inputs = node.Inputs.Select(i => i == LayerNode.ModelInput ? input : names[i]).ToList();
            var output = node.Index == graph.Nodes.Count - 1 ? OutputName : g.Name(node.Name);
            var layer = new OnnxLayer(g, node, inputs, key => state.TryGetValue($"{node.Name}.{key}", out var t) ? t : null, output);
            var written = LayerRules.Get(node.Type).ToOnnx(layer)
                ?? throw new PfaException(ErrorCodes.UnsupportedModule, $"layer '{node.Name}' ({node.Type}) has no ONNX form; the model cannot be exported.");
            if (written != output) throw new InvalidOperationException($"the {node.Type} rule wrote '{written}' instead of '{output}'");
            names[node.Index] = output;
        }
        g.Proto.Input.Add(OnnxGraph.Value(InputName, graph.InputShape));
        g.Proto.Output.Add(OnnxGraph.Value(OutputName, graph.OutputShape));

        var model = new ModelProto
        {
            IrVersion = IrVersion, ProducerName = "Pfa.Build", ProducerVersion = Recipes.Recipe.ToolVersion,
            Graph = g.Proto, DocString = "input: float32 pixels in [0, 1], the model's normalisation included; output: logits.",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "pfa.model", Value = description.Name ?? "" });
        // A target domain's model: output i is the original class classes[i].
        if (description.Classes is { } classes)
            model.MetadataProps.Add(new StringStringEntryProto { Key = "pfa.classes", Value = string.Join(",", classes) });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>
    /// Writes the model atomically after ONNX Runtime has run it next to TorchSharp on the same random pixels: an
    /// export that disagrees (beyond 1e-4 of the logits' scale) is never written. Returns the largest difference.
    /// </summary>
    public static double Save(PfaNetwork network, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = Build(network, metadata);
        var bytes = model.ToByteArray();
        double difference = Check(network, bytes);
        AtomicFile.Write(path, s => s.Write(bytes));
        return difference;
    }

    /// <summary>The largest |ONNX Runtime − TorchSharp| logit on 4 random [0, 1] images; throws PFA0013 beyond the tolerance.</summary>
    public static double Check(PfaNetwork network, byte[] model)
    {
        const int batch = 4;
        var shape = network.Graph.InputShape;
        int elements = shape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(0);
        var pixels = Enumerable.Range(0, batch * elements).Select(_ => (float)rng.NextDouble()).ToArray();
        var normalized = Data.Normalizer.Apply(pixels, shape, network.Graph.Description.Normalize);
        float[] expected;
        bool training = network.training;
        network.eval();
        try
        {
            using var _ = TorchSharp.torch.no_grad();
            using var x = TorchSharp.torch.tensor(normalized, [batch, .. shape.Select(d => (long)d)]);
            using var y = network.forward(x);
            expected = y.data<float>().ToArray();
        }
        finally { network.train(training); }
        using var runtime = new OnnxRuntimeModel(model, shape, threads: 1);
        var actual = runtime.Run(pixels, batch);
        double scale = expected.Length == 0 ? 0 : expected.Max(v => Math.Abs((double)v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).DefaultIfEmpty(0).Max();
        if (!(worst <= 1e-4 * Math.Max(scale, 1e-6)))
            throw new PfaException(ErrorCodes.SelfCheckFailed, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"the ONNX export of '{network.Graph.Description.Name}' disagrees with TorchSharp (largest logit difference {worst:G3}, logits' scale {scale:G3}); nothing was written. Please report it with the model description."));
        return worst;
    }

    /// <summary>(x − mean) / std, per channel for images, as <see cref="Data.Dataset"/> does after scaling bytes to [0, 1].</summary>
    static string Normalize(OnnxGraph g, Normalization? n, int[] sampleShape)
    {
        if (n is null || (n.Mean.Count == 0 && n.Std.Count == 0)) return InputName;
        int channels = Data.Normalizer.Channels(sampleShape);
        long[] dims = sampleShape.Length == 3 ? [1, channels, 1, 1] : [1, 1];
        var mean = g.Floats("normalize/mean", Data.Normalizer.Expand(n.Mean, channels, 0), dims);
        var std = g.Floats("normalize/std", Data.Normalizer.Expand(n.Std, channels, 1), dims);
        var centred = g.Node("Sub", [InputName, mean], g.Name("normalize/centred"));
        return g.Node("Div", [centred, std], g.Name("normalize/scaled"));
    }
}

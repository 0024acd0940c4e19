using System.Text.RegularExpressions;
using Pfa.Core.Json;

namespace Pfa.Core.Model;

/// <summary>A layer of a validated description with its resolved inputs and shapes (per sample, no batch).</summary>
public sealed record LayerNode(int Index, string Name, LayerSpec Spec, IReadOnlyList<int> Inputs, int[] InShape, int[] OutShape)
{
    public string Type => Spec.Type;
    /// <summary>Index used in <see cref="Inputs"/> for the model's input tensor.</summary>
    public const int ModelInput = -1;
}

/// <summary>
/// The validated layer graph of a description: every reference resolved, every shape inferred. Layers are
/// evaluated in the order written; a layer may read any earlier layer, so residual blocks are plain graphs.
/// </summary>
public sealed partial class ModelGraph
{
    public ModelDescription Description { get; }
    public IReadOnlyList<LayerNode> Nodes { get; }
    public int[] InputShape { get; }
    public int[] OutputShape => Nodes[^1].OutShape;

    /// <summary>A warning ("PFA2003: …") when the model does not end in a linear classifier: accuracy then takes
    /// whatever the last layer outputs as class scores, which is rarely what was meant.</summary>
    public string? ClassifierWarning()
    {
        var last = Nodes[^1];
        if (last.Type == LayerType.Linear || (last.Type == LayerType.Dropout && Nodes.Count > 1 && Nodes[^2].Type == LayerType.Linear)) return null;
        return Errors.WarningCodes.Format(Errors.WarningCodes.NoClassifier,
            $"the model ends in layer '{last.Name}' ({last.Type}), not a linear classifier: accuracy takes its {string.Join("×", last.OutShape)} outputs as class scores.");
    }

    ModelGraph(ModelDescription description, IReadOnlyList<LayerNode> nodes)
    {
        Description = description;
        Nodes = nodes;
        InputShape = description.Input.ToArray();
    }

    public static ModelGraph Build(ModelDescription d) => Build(d, null);

    [GeneratedRegex("^[A-Za-z0-9_]+$")]
    private static partial Regex NamePattern();

    // Which optional properties each type accepts; anything else set on a layer is reported.
    static readonly Dictionary<string, string[]> Allowed = new()
    {
        [LayerType.Conv2d] = ["out", "kernel", "stride", "padding", "dilation", "groups", "bias"],
        [LayerType.Linear] = ["out", "bias"],
        [LayerType.BatchNorm1d] = ["eps", "momentum"],
        [LayerType.BatchNorm2d] = ["eps", "momentum"],
        [LayerType.ReLU] = [],
        [LayerType.LeakyReLU] = ["negative_slope"],
        [LayerType.GELU] = ["approximate"],
        [LayerType.Sigmoid] = [],
        [LayerType.Tanh] = [],
        [LayerType.MaxPool2d] = ["kernel", "stride", "padding"],
        [LayerType.AvgPool2d] = ["kernel", "stride", "padding"],
        [LayerType.AdaptiveAvgPool2d] = ["output_size"],
        [LayerType.Dropout] = ["p"],
        [LayerType.Flatten] = [],
        [LayerType.Add] = [],
    };

    internal static ModelGraph Build(ModelDescription d, JsonInput<ModelDescription>? src)
    {
        PfaInvalid Fail(string path, string message) => new(ModelDescription.Invalid(src, path, message));

        try
        {
            if (d.Schema != ModelDescription.SchemaId)
                throw Fail("$.schema", $"unknown schema '{d.Schema}'; expected \"{ModelDescription.SchemaId}\".");
            if (d.Input.Count is not (1 or 3) || d.Input.Any(v => v <= 0))
                throw Fail("$.input", $"'input' must be the shape of one sample, [channels, height, width] or [features], with positive sizes; found [{string.Join(", ", d.Input)}].");
            if (Checkpoints.SizeMath.Bytes(d.Input.Select(v => (long)v), 1) is not { } inputSize || inputSize > MaxElements)
                throw Fail("$.input", $"'input' [{string.Join(", ", d.Input)}] has more than {MaxElements:N0} values per sample; this tool describes models up to that size.");
            if (d.Layers.Count > MaxLayers)
                throw Fail("$.layers", $"the model has {d.Layers.Count:N0} layers; this tool describes models of up to {MaxLayers:N0}.");
            if (d.Layers.Count == 0)
                throw Fail("$.layers", "'layers' is empty; a model needs at least one layer.");
            if (d.Normalize is { } n)
            {
                int channels = d.Input[0];
                if (n.Mean.Count != n.Std.Count || (n.Mean.Count != 1 && n.Mean.Count != channels))
                    throw Fail("$.normalize", $"'normalize' needs one mean and one std per input channel ({channels}) or a single pair; found {n.Mean.Count} means and {n.Std.Count} stds.");
                if (n.Std.Any(s => !(s > 0)))
                    throw Fail("$.normalize.std", "every 'std' must be greater than 0.");
            }

            var nodes = new List<LayerNode>();
            var byName = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < d.Layers.Count; i++)
            {
                var spec = d.Layers[i];
                string at = $"$.layers[{i}]";
                string name = d.LayerName(i);
                string where = $"layer {i} ('{name}', {spec.Type})";
                if (!NamePattern().IsMatch(name))
                    throw Fail($"{at}.name", $"layer {i} has name '{name}'; names may contain only letters, digits and '_' (they prefix parameter keys such as '{name}.weight').");
                if (!byName.TryAdd(name, i))
                    throw Fail($"{at}.name", $"layer {i} reuses the name '{name}' of layer {byName[name]}; names must be unique.");
                if (!Allowed.TryGetValue(spec.Type, out var allowed))
                    throw Fail($"{at}.type", $"layer {i} has unknown type '{spec.Type}'; supported types: {string.Join(", ", LayerType.All)}.");
                foreach (var prop in SetProperties(spec))
                    if (!allowed.Contains(prop))
                        throw Fail($"{at}.{prop}", $"{where}: '{prop}' is not a property of {spec.Type} layers (allowed: {(allowed.Length == 0 ? "none" : string.Join(", ", allowed))}).");

                // Resolve inputs: by default the previous layer, or the model input for the first layer.
                var inputs = new List<int>();
                if (spec.Inputs is null) inputs.Add(i == 0 ? LayerNode.ModelInput : i - 1);
                else
                {
                    for (int k = 0; k < spec.Inputs.Count; k++)
                    {
                        var r = spec.Inputs[k];
                        if (r == "input") inputs.Add(LayerNode.ModelInput);
                        else if (r == name) throw Fail($"{at}.inputs[{k}]", $"{where} reads itself; a layer can read only the model input or earlier layers.");
                        else if (byName.TryGetValue(r, out var j) && j < i) inputs.Add(j);
                        else throw Fail($"{at}.inputs[{k}]", $"{where} reads '{r}', which is not the name of an earlier layer (or \"input\").");
                    }
                }
                int arity = spec.Type == LayerType.Add ? 2 : 1;
                if (inputs.Count != arity)
                    throw Fail($"{at}.inputs", $"{where} takes {arity} input(s); found {inputs.Count}.");

                int[] Shape(int input) => input == LayerNode.ModelInput ? d.Input.ToArray() : nodes[input].OutShape;
                var inShape = Shape(inputs[0]);
                var outShape = InferShape(spec, inShape, inputs.Count > 1 ? Shape(inputs[1]) : null, at, where, Fail);
                if (Checkpoints.SizeMath.Bytes(outShape.Select(v => (long)v), 1) is not { } outSize || outSize > MaxElements)
                    throw Fail(at, $"{where} outputs [{string.Join(", ", outShape)}], more than {MaxElements:N0} values per sample.");
                if (spec.Out is { } o && (long)o * inShape[0] * (spec.Kernel is { } kk ? (long)kk.H * kk.W : 1) > MaxElements)
                    throw Fail($"{at}.out", $"{where} would have more than {MaxElements:N0} weights.");
                var node = new LayerNode(i, name, spec, inputs, inShape, outShape);
                if (Metrics.ModelCost.Of(node).Macs > MaxMacs)
                    throw Fail(at, $"{where} would take more than {MaxMacs:N0} multiply-accumulates per sample.");
                nodes.Add(node);
            }
            return new ModelGraph(d, nodes);
        }
        catch (PfaInvalid e)
        {
            throw e.Error;
        }
    }

    // Carries a located error out of the local functions without losing its type.
    /// <summary>Limits of what a description may describe (README, "Model description"): values per sample and
    /// per layer's weights, and layers. Far beyond any CNN this tool is for; they keep sizes exact in 64-bit
    /// arithmetic and a damaged file from exhausting memory.</summary>
    public const long MaxElements = 1L << 31;
    public const int MaxLayers = 10_000;
    public const long MaxMacs = 1L << 40;

    sealed class PfaInvalid(Errors.PfaException error) : Exception(error.Message)
    {
        public Errors.PfaException Error { get; } = error;
    }

    static IEnumerable<string> SetProperties(LayerSpec s)
    {
        if (s.Out is not null) yield return "out";
        if (s.Kernel is not null) yield return "kernel";
        if (s.Stride is not null) yield return "stride";
        if (s.Padding is not null) yield return "padding";
        if (s.Dilation is not null) yield return "dilation";
        if (s.Groups is not null) yield return "groups";
        if (s.Bias is not null) yield return "bias";
        if (s.OutputSize is not null) yield return "output_size";
        if (s.Eps is not null) yield return "eps";
        if (s.Momentum is not null) yield return "momentum";
        if (s.NegativeSlope is not null) yield return "negative_slope";
        if (s.P is not null) yield return "p";
        if (s.Approximate is not null) yield return "approximate";
    }

    static int[] InferShape(LayerSpec s, int[] x, int[]? y, string at, string where, Func<string, string, PfaInvalid> fail)
    {
        string Shape(int[] v) => $"[{string.Join(", ", v)}]";
        void NeedImage()
        {
            if (x.Length != 3) throw fail($"{at}.type", $"{where} needs an image input [channels, height, width]; its input has shape {Shape(x)}. Add a 'flatten' only after the last image layer.");
        }
        void NeedVector()
        {
            if (x.Length != 1) throw fail($"{at}.type", $"{where} needs a vector input [features]; its input has shape {Shape(x)}. Insert a 'flatten' layer before it.");
        }
        static int Spatial(int size, int kernel, int stride, int pad, int dilation) =>
            (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;

        switch (s.Type)
        {
            case LayerType.Conv2d:
            {
                NeedImage();
                if (s.Out is not > 0) throw fail($"{at}.out", $"{where} needs 'out' (the number of filters) > 0.");
                if (s.Kernel is not { } k) throw fail($"{at}", $"{where} needs 'kernel'.");
                var st = s.Stride ?? 1; var p = s.Padding ?? 0; var dl = s.Dilation ?? 1; int g = s.Groups ?? 1;
                if (k.H <= 0 || k.W <= 0 || st.H <= 0 || st.W <= 0 || dl.H <= 0 || dl.W <= 0 || p.H < 0 || p.W < 0)
                    throw fail($"{at}", $"{where}: kernel, stride and dilation must be positive and padding non-negative.");
                if (g <= 0 || x[0] % g != 0 || s.Out.Value % g != 0)
                    throw fail($"{at}.groups", $"{where}: groups = {g} must divide both the input channels ({x[0]}) and 'out' ({s.Out}).");
                int h = Spatial(x[1], k.H, st.H, p.H, dl.H), w = Spatial(x[2], k.W, st.W, p.W, dl.W);
                if (h <= 0 || w <= 0) throw fail($"{at}.kernel", $"{where}: a {k} kernel does not fit its {x[1]}x{x[2]} input.");
                return [s.Out.Value, h, w];
            }
            case LayerType.Linear:
                NeedVector();
                if (s.Out is not > 0) throw fail($"{at}.out", $"{where} needs 'out' (the number of output features) > 0.");
                return [s.Out.Value];
            case LayerType.BatchNorm2d:
                NeedImage();
                return x;
            case LayerType.BatchNorm1d:
                NeedVector();
                return x;
            case LayerType.MaxPool2d or LayerType.AvgPool2d:
            {
                NeedImage();
                if (s.Kernel is not { } k || k.H <= 0 || k.W <= 0) throw fail($"{at}", $"{where} needs a positive 'kernel'.");
                var st = s.Stride ?? k; var p = s.Padding ?? 0;
                if (st.H <= 0 || st.W <= 0) throw fail($"{at}.stride", $"{where}: stride must be positive.");
                if (p.H < 0 || p.W < 0 || 2 * p.H > k.H || 2 * p.W > k.W)
                    throw fail($"{at}.padding", $"{where}: padding must be between 0 and half the kernel.");
                int h = Spatial(x[1], k.H, st.H, p.H, 1), w = Spatial(x[2], k.W, st.W, p.W, 1);
                if (h <= 0 || w <= 0) throw fail($"{at}.kernel", $"{where}: a {k} window does not fit its {x[1]}x{x[2]} input.");
                return [x[0], h, w];
            }
            case LayerType.AdaptiveAvgPool2d:
                NeedImage();
                if (s.OutputSize is not { } o || o.H <= 0 || o.W <= 0) throw fail($"{at}.output_size", $"{where} needs a positive 'output_size'.");
                return [x[0], o.H, o.W];
            case LayerType.Flatten:
                return [x.Aggregate(1, (a, b) => a * b)];
            case LayerType.Add:
                if (!x.SequenceEqual(y!))
                    throw fail($"{at}.inputs", $"{where} adds tensors of different shapes {Shape(x)} and {Shape(y!)}.");
                return x;
            case LayerType.Dropout:
                if (s.P is { } pr && (pr < 0 || pr >= 1)) throw fail($"{at}.p", $"{where}: 'p' must be in [0, 1); found {pr}.");
                return x;
            case LayerType.GELU:
                if (s.Approximate is not (null or "none" or "tanh")) throw fail($"{at}.approximate", $"{where}: 'approximate' must be \"none\" or \"tanh\".");
                return x;
            default: // activations keep the shape
                return x;
        }
    }
}

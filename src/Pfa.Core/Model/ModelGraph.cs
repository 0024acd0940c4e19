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

    readonly Surgery.ChannelSpaces?[] _spaces = new Surgery.ChannelSpaces?[2];
    /// <summary>The channel spaces of this graph (residual sums in projection mode), built once on first use and shared by every stage.</summary>
    public Surgery.ChannelSpaces Spaces => SpacesFor(Surgery.ResidualMode.Projection);

    /// <summary>The channel spaces for a residual mode (pfa.json <c>residual</c>), built once each.</summary>
    public Surgery.ChannelSpaces SpacesFor(Surgery.ResidualMode mode) => _spaces[(int)mode] ??= new Surgery.ChannelSpaces(this, mode);

    /// <summary>True when the graph has a residual sum (the residual mode matters).</summary>
    public bool HasResidual => Nodes.Any(n => n.Type == LayerType.Add);

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

    [GeneratedRegex(@"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")]
    private static partial Regex NamePattern();

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
                if (n.Std.Any(s => !(s > 0 && double.IsFinite(s))))
                    throw Fail("$.normalize.std", "every 'std' must be a finite number greater than 0.");
                if (n.Mean.Any(m => !double.IsFinite(m)))
                    throw Fail("$.normalize.mean", "every 'mean' must be a finite number.");
            }

            var nodes = new List<LayerNode>();
            var byName = new Dictionary<string, int>(StringComparer.Ordinal);
            var scopes = new Dictionary<string, int>(StringComparer.Ordinal);   // dotted prefixes → first layer inside
            for (int i = 0; i < d.Layers.Count; i++)
            {
                var spec = d.Layers[i];
                string at = $"$.layers[{i}]";
                string name = d.LayerName(i);
                string where = $"layer {i} ('{name}', {spec.Type})";
                if (!NamePattern().IsMatch(name))
                    throw Fail($"{at}.name", $"layer {i} has name '{name}'; names are letters, digits and '_', in parts joined by single dots as in PyTorch's state_dict keys ('layer1.0.conv1'); they prefix parameter keys such as '{name}.weight'.");
                if (name == "input")
                    throw Fail($"{at}.name", $"layer {i} is named 'input', the name 'inputs' lists use for the model's input; rename the layer.");
                if (!byName.TryAdd(name, i))
                    throw Fail($"{at}.name", $"layer {i} reuses the name '{name}' of layer {byName[name]}; names must be unique.");
                // A dotted name lives in scopes (its prefixes), like a nested module: a scope cannot also be a layer.
                if (Scopes(name).FirstOrDefault(byName.ContainsKey) is { } layerScope)
                    throw Fail($"{at}.name", $"layer {i} is named '{name}', inside '{layerScope}', which is the name of layer {byName[layerScope]}; a layer's parameters and another layer's cannot share the prefix '{layerScope}.'. Rename one of them.");
                if (scopes.TryGetValue(name, out var inner))
                    throw Fail($"{at}.name", $"layer {i} is named '{name}', but layer {inner} ('{d.LayerName(inner)}') lies inside it; a layer's parameters and another layer's cannot share the prefix '{name}.'. Rename one of them.");
                foreach (var scope in Scopes(name)) scopes.TryAdd(scope, i);
                if (Layers.LayerRules.Find(spec.Type) is not { } rule)
                    throw Fail($"{at}.type", $"layer {i} has unknown type '{spec.Type}'; supported types: {string.Join(", ", Layers.LayerRules.Types)}.");
                var allowed = rule.Properties;
                foreach (var prop in SetProperties(spec))
                    if (!allowed.Contains(prop))
                        throw Fail($"{at}.{prop}", $"{where}: '{prop}' is not a property of {spec.Type} layers (allowed: {(allowed.Count == 0 ? "none" : string.Join(", ", allowed))}).");

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
                if (inputs.Count < rule.MinInputs || inputs.Count > rule.MaxInputs)
                {
                    string arity = rule.MinInputs == rule.MaxInputs ? $"{rule.MinInputs}" : rule.MaxInputs == int.MaxValue ? $"at least {rule.MinInputs}" : $"{rule.MinInputs} to {rule.MaxInputs}";
                    throw Fail($"{at}.inputs", $"{where} takes {arity} input(s); found {inputs.Count}.");
                }

                int[] Shape(int input) => input == LayerNode.ModelInput ? d.Input.ToArray() : nodes[input].OutShape;
                var inShape = Shape(inputs[0]);
                var outShape = rule.OutShape(spec, inputs.Select(Shape).ToList(), new Layers.ShapeCheck(at, where, (path, message) => Fail(path, message)));
                if (Checkpoints.SizeMath.Bytes(outShape.Select(v => (long)v), 1) is not { } outSize || outSize > MaxElements)
                    throw Fail(at, $"{where} outputs [{string.Join(", ", outShape)}], more than {MaxElements:N0} values per sample.");
                if (spec.Out is { } o && (long)o * inShape[0] * (spec.Kernel is { } kk ? (long)kk.H * kk.W : 1) > MaxElements)
                    throw Fail($"{at}.out", $"{where} would have more than {MaxElements:N0} weights.");
                var node = new LayerNode(i, name, spec, inputs, inShape, outShape);
                if (Metrics.ModelCost.Of(node).Macs > MaxMacs)
                    throw Fail(at, $"{where} would take more than {MaxMacs:N0} multiply-accumulates per sample.");
                nodes.Add(node);
            }
            if (d.Classes is { } classes)
            {
                var output = nodes[^1].OutShape;
                if (output.Length != 1 || output[0] != classes.Count)
                    throw Fail("$.classes", $"'classes' names {classes.Count} classes but the model's output is [{string.Join(", ", output)}]; it needs one class per output.");
                if (classes.Any(c => c < 0) || classes.Distinct().Count() != classes.Count)
                    throw Fail("$.classes", "'classes' must be distinct class labels ≥ 0.");
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

    /// <summary>"a.b.c" → "a", "a.b".</summary>
    internal static IEnumerable<string> Scopes(string name)
    {
        for (int dot = name.IndexOf('.'); dot >= 0; dot = name.IndexOf('.', dot + 1)) yield return name[..dot];
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
        if (s.Offset is not null) yield return "offset";
        if (s.Index is not null) yield return "index";
    }
}

using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Onnx;
using Pfa.Core.Surgery;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Layers;

/// <summary>How a parameter of a layer follows a change of channels.</summary>
public enum Slice
{
    /// <summary>Not per channel (a counter): copied as it is.</summary>
    Whole,
    /// <summary>Dimension 0 follows the layer's output channels (biases, batch-norm vectors, depthwise weights).</summary>
    Out,
    /// <summary>Dimension 0 follows the output channels and dimension 1 the input channels (conv, linear weights).</summary>
    OutIn,
}

/// <summary>
/// Everything the engine knows about one layer type (model.json's <c>"type"</c>), in one place: which properties
/// it takes and how many inputs, its output shape, its TorchSharp module and forward step, what it does to
/// channel spaces (opens one, passes it through, merges, maps indices), how each parameter is sliced, its new
/// description at a new width, its cost, and how a TorchSharp module of its kind is described.
/// Graph validation, the network, the exporter, channel spaces, surgery, widths and cost loop over
/// <see cref="LayerRules"/>; adding a layer type is one subclass (found by reflection) plus its tests.
/// Pattern: Torch-Pruning's per-op pruner table (<c>pruner/function.py</c>).
/// </summary>
public abstract class LayerRule
{
    /// <summary>model.json's type name.</summary>
    public abstract string Type { get; }

    /// <summary>Optional description properties the type accepts (anything else set is an error).</summary>
    public virtual IReadOnlyList<string> Properties => [];
    public virtual int MinInputs => 1;
    public virtual int MaxInputs => 1;

    /// <summary>The output shape for one sample, or a located error through <paramref name="check"/>.</summary>
    public abstract int[] OutShape(LayerSpec spec, IReadOnlyList<int[]> inputs, ShapeCheck check);

    /// <summary>The module holding the layer's parameters; null for parameter-free operations done in <see cref="Forward"/>.</summary>
    public abstract nn.Module<Tensor, Tensor>? CreateModule(LayerNode node);

    public virtual Tensor Forward(nn.Module<Tensor, Tensor>? module, IReadOnlyList<Tensor> inputs) => module!.call(inputs[0]);

    /// <summary>True when the layer's output channels are filters: what PFA analyses and surgery shrinks.</summary>
    public virtual bool HasFilters => false;

    /// <summary>The channel space of the layer's output, given its inputs' spaces. Default: passes the first through.</summary>
    public virtual int Channels(LayerNode node, IReadOnlyList<int> inputSpaces, SpaceBuilder spaces) => inputSpaces[0];

    /// <summary>How each parameter and buffer (by its key after <c>name.</c>) is sliced. A key not listed is an error.</summary>
    public virtual IReadOnlyDictionary<string, Slice> Parameters(LayerNode node) => NoParameters;

    /// <summary>The layer's description when its output space keeps <paramref name="width"/> channels.
    /// Default: unchanged (the width follows from the inputs).</summary>
    public virtual LayerSpec Resize(LayerNode node, int width) => node.Spec;

    /// <summary>The layers that stand for this one in a compressed description, given its description at its new
    /// width and the channels each input keeps (null: all). Default: itself. A layer that records channel positions
    /// renumbers them (channel_scatter); a residual sum in padding mode puts a shrunk input back at the trunk's
    /// positions first (PFA appendix C.2).</summary>
    public virtual IEnumerable<LayerSpec> Rewrite(LayerNode node, LayerSpec resized, IReadOnlyList<int[]?> keptInputs, ChannelSpaces spaces) => [resized];

    public virtual LayerCost Cost(LayerNode node) => new(node.Name, node.Type, node.OutShape, 0, 0);

    /// <summary>The description of a TorchSharp module of this kind (for <c>PfaModel.Export</c>), or null when the
    /// module is not of this kind or is in a configuration the type cannot express (then say why in
    /// <see cref="UnsupportedDetail"/>).</summary>
    public virtual LayerSpec? Describe(string name, nn.Module module) => null;

    /// <summary>When the module is of this kind but in a configuration a description cannot express: why.</summary>
    public virtual string? UnsupportedDetail(nn.Module module) => null;

    /// <summary>The input channels/features a module of this kind declares (checked against the description).</summary>
    public virtual long? DeclaredInput(nn.Module module) => null;

    /// <summary>For the exporter's "Supported: …" list; null when no TorchSharp module maps to the type.</summary>
    public virtual string? ExportNote => null;

    /// <summary>Writes the layer into an ONNX graph (inference semantics, opset <see cref="Onnx.OnnxExporter.Opset"/>)
    /// and returns its output's name (<see cref="Onnx.OnnxLayer.Output"/>); null when the type cannot be exported
    /// (the exporter then refuses the model, and the rule-table test fails for the type).</summary>
    public virtual string? ToOnnx(Onnx.OnnxLayer layer) => null;

    protected static readonly IReadOnlyDictionary<string, Slice> NoParameters = new Dictionary<string, Slice>();
}

/// <summary>Located shape errors for <see cref="LayerRule.OutShape"/>.</summary>
public sealed class ShapeCheck(string at, string where, Func<string, string, Exception> fail)
{
    /// <summary>The JSON path of the layer (<c>$.layers[3]</c>).</summary>
    public string At => at;
    /// <summary>"layer 3 ('conv2', conv2d)".</summary>
    public string Where => where;
    /// <summary>An error at the layer's property (or the layer itself with an empty <paramref name="property"/>).</summary>
    public Exception Fail(string property, string message) => fail(property.Length == 0 ? at : $"{at}.{property}", $"{where}{message}");

    public static string Shape(int[] v) => $"[{string.Join(", ", v)}]";

    public void NeedImage(int[] x)
    {
        if (x.Length != 3) throw Fail("type", $" needs an image input [channels, height, width]; its input has shape {Shape(x)}. Add a 'flatten' only after the last image layer.");
    }

    public void NeedVector(int[] x)
    {
        if (x.Length != 1) throw Fail("type", $" needs a vector input [features]; its input has shape {Shape(x)}. Insert a 'flatten' layer before it.");
    }

    /// <summary>Output size of a window op (PyTorch's floor formula); 0 or less when the window does not fit. The
    /// numerator can be negative, where C#'s division would round toward zero and let a too-large window pass.</summary>
    public static int Spatial(int size, int kernel, int stride, int pad, int dilation)
    {
        long span = (long)size + 2L * pad - (long)dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : (int)(span / stride + 1);
    }
}

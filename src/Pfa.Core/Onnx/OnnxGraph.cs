using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Pfa.Core.Onnx;

/// <summary>
/// Builds an ONNX graph (the protobuf classes of the OnnxSharp package, written by Google.Protobuf): nodes with
/// typed attributes, float32 initializers copied from TorchSharp tensors, int64 constants. Each layer rule emits
/// its own nodes through <see cref="OnnxLayer"/>; names are unique because every one is prefixed with the
/// layer's name, which the description already makes unique.
/// </summary>
public sealed class OnnxGraph
{
    public GraphProto Proto { get; } = new();
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>A fresh value name built from <paramref name="hint"/>.</summary>
    public string Name(string hint)
    {
        var name = hint;
        for (int i = 1; !_names.Add(name); i++) name = $"{hint}_{i}";
        return name;
    }

    /// <summary>Adds a node and returns its (single) output's name.</summary>
    public string Node(string opType, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Name(output + "/" + opType), Output = { output } };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        return output;
    }

    /// <summary>A float32 initializer holding a copy of <paramref name="tensor"/>.</summary>
    public string Initializer(string hint, Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
        var data = cpu.data<float>().ToArray();
        return Floats(hint, data, cpu.shape);
    }

    public string Floats(string hint, float[] data, params long[] dims)
    {
        var name = Name(hint);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        var bytes = new byte[data.Length * sizeof(float)];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian");
        t.RawData = ByteString.CopyFrom(bytes);
        Proto.Initializer.Add(t);
        return name;
    }

    public string Int64s(string hint, long[] data, params long[] dims)
    {
        var name = Name(hint);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(data);
        Proto.Initializer.Add(t);
        return name;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    public static AttributeProto Float(string name, double value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)value };
    public static AttributeProto Text(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A float32 tensor value with a dynamic batch dimension "N" and the given per-sample shape.</summary>
    public static ValueInfoProto Value(string name, IEnumerable<int> sampleShape)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (var d in sampleShape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}

using Pfa.Core.Errors;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Checkpoints;

/// <summary>Weights files by extension: <c>.dat</c> (TorchSharp) or <c>.safetensors</c>.</summary>
public static class Checkpoint
{
    public static readonly string[] Extensions = [".dat", ".safetensors"];

    public static List<(string Key, Tensor Value)> Read(string path)
    {
        InputFiles.Require(path, "weights file");
        var ext = Extension(path);
        var entries = ext switch
        {
            ".safetensors" => SafetensorsFormat.Read(path),
            _ => DatFormat.Read(path),
        };
        TensorCodec.RequireFinite(entries, path, "weights file", ErrorCodes.InvalidWeights);
        return entries;
    }

    public static void Write(string path, IEnumerable<(string Key, Tensor Value)> entries)
    {
        var list = entries.ToList();
        var ext = Extension(path);
        AtomicFile.Write(path, s =>
        {
            if (ext == ".safetensors") SafetensorsFormat.Write(s, list);
            else DatFormat.Write(s, list);
        });
    }

    static string Extension(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (!Extensions.Contains(ext))
            throw new PfaException(ErrorCodes.InvalidArgument,
                $"weights file '{path}' has extension '{ext}'; expected .dat (TorchSharp Module.save) or .safetensors.", path);
        return ext;
    }

    /// <summary>The network's parameters and buffers under their stable keys, in registration order.</summary>
    public static IEnumerable<(string Key, Tensor Value)> StateOf(PfaNetwork network) =>
        network.state_dict().Select(kv => (kv.Key, kv.Value));

    /// <summary>
    /// Copies weights into <paramref name="network"/> after checking that the keys and shapes match its
    /// description exactly (a batch norm's <c>num_batches_tracked</c> may be absent, as in old PyTorch files).
    /// </summary>
    public static void LoadInto(PfaNetwork network, IReadOnlyList<(string Key, Tensor Value)> weights, string source)
    {
        var expected = network.state_dict();
        var given = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in weights)
            if (!given.TryAdd(k, v))
                throw new PfaException(ErrorCodes.InvalidWeights, $"'{source}' contains the key '{k}' twice.", source);

        foreach (var (key, target) in expected)
        {
            if (!given.TryGetValue(key, out var value))
            {
                if (key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
                throw new PfaException(ErrorCodes.WeightsMismatch,
                    $"'{source}' has no tensor '{key}' (the description expects shape {TensorCodec.Shape(target.shape)}). Keys present: {Sample(given.Keys)}.", source);
            }
            if (!value.shape.SequenceEqual(target.shape))
                throw new PfaException(ErrorCodes.WeightsMismatch,
                    $"tensor '{key}' in '{source}' has shape {TensorCodec.Shape(value.shape)} but the description expects {TensorCodec.Shape(target.shape)}.", source);
        }
        foreach (var key in given.Keys)
            if (!expected.ContainsKey(key))
                throw new PfaException(ErrorCodes.WeightsMismatch,
                    $"'{source}' has a tensor '{key}' of shape {TensorCodec.Shape(given[key].shape)} that the description does not have (does the description match the model that was saved?).", source);

        using (no_grad())
            foreach (var (key, target) in expected)
                if (given.TryGetValue(key, out var value))
                    target.copy_(value.to_type(target.dtype));
    }

    static string Sample(IEnumerable<string> keys)
    {
        var list = keys.Take(6).ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list) + (keys.Count() > 6 ? ", …" : "");
    }
}

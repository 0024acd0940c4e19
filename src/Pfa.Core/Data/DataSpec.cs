using Pfa.Core.Errors;

namespace Pfa.Core.Data;

/// <summary>
/// Which data to read. <see cref="Path"/> is a folder (Fashion-MNIST/MNIST IDX files, CIFAR-10 or CIFAR-100
/// binaries; <see cref="Split"/> picks train or test) or a samples file (IDX images or .npy) with
/// <see cref="Labels"/> beside it.
/// </summary>
public sealed record DataSpec
{
    public string Path { get; init; } = "";
    public string? Labels { get; init; }
    /// <summary>auto, idx, cifar10, cifar100 or npy.</summary>
    public string Format { get; init; } = "auto";
    /// <summary>train or test (folders only).</summary>
    public string Split { get; init; } = "test";
    /// <summary>Keep only these classes (PFA §4.3: analyse a target domain). Labels keep their values.</summary>
    public List<int>? Classes { get; init; }
    /// <summary>Use only the first N samples (after the class filter).</summary>
    public int? Limit { get; init; }
    /// <summary>Only this part of the selection (after classes and limit): <c>analyze</c>'s shards.</summary>
    public Shard? Shard { get; init; }
    /// <summary>A model cut to these classes: each label becomes its position in the list (the model's output index).</summary>
    public List<int>? Relabel { get; init; }

    public static readonly string[] Formats = ["auto", "idx", "cifar10", "cifar100", "npy"];

    /// <summary>Opens the source this spec names, detecting the format of a folder or file.</summary>
    public SampleSource OpenSource()
    {
        if (!Formats.Contains(Format))
            throw new PfaException(ErrorCodes.InvalidArgument, $"data format '{Format}' is unknown; expected one of {string.Join(", ", Formats)}.");
        if (Split is not ("train" or "test"))
            throw new PfaException(ErrorCodes.InvalidArgument, $"data split '{Split}' is unknown; expected train or test.");
        if (Directory.Exists(Path)) return OpenFolder();
        if (!File.Exists(Path))
            throw new PfaException(ErrorCodes.FileNotFound, $"data '{Path}' is neither a file nor a folder. For Fashion-MNIST install Debian's dataset-fashion-mnist and pass /usr/share/datasets/fashion-mnist.", Path);

        var format = Format;
        if (format == "auto")
        {
            var name = System.IO.Path.GetFileName(Path).ToLowerInvariant();
            format = name.EndsWith(".npy") ? "npy"
                : name.Contains("idx") || name.EndsWith(".gz") ? "idx"
                : name.StartsWith("data_batch") || name.StartsWith("test_batch") ? "cifar10"
                : name is "train.bin" or "test.bin" ? "cifar100"
                : throw new PfaException(ErrorCodes.InvalidArgument, $"cannot tell the format of '{Path}' from its name; pass --format idx, npy, cifar10 or cifar100.", Path);
        }
        return format switch
        {
            "npy" => new NpySource(Path, RequireLabels()),
            "idx" => new IdxSource(Path, RequireLabels()),
            "cifar10" => new CifarSource([Path], cifar100: false),
            _ => new CifarSource([Path], cifar100: true),
        };
    }

    string RequireLabels() => Labels ?? throw new PfaException(ErrorCodes.InvalidArgument,
        $"samples file '{Path}' needs its labels file too (--labels).", Path);

    SampleSource OpenFolder()
    {
        string F(string name) => System.IO.Path.Combine(Path, name);
        string? First(params string[] names) => names.Select(F).FirstOrDefault(File.Exists);
        bool train = Split == "train";
        if (Format is "auto" or "idx")
        {
            string prefix = train ? "train" : "t10k";
            var images = First($"{prefix}-images-idx3-ubyte.gz", $"{prefix}-images-idx3-ubyte", $"{prefix}-images.idx3-ubyte");
            var labels = First($"{prefix}-labels-idx1-ubyte.gz", $"{prefix}-labels-idx1-ubyte", $"{prefix}-labels.idx1-ubyte");
            if (images is not null && labels is not null) return new IdxSource(images, labels);
        }
        if (Format is "auto" or "cifar10")
        {
            var files = train ? Enumerable.Range(1, 5).Select(i => F($"data_batch_{i}.bin")).Where(File.Exists).ToList() : [.. new[] { F("test_batch.bin") }.Where(File.Exists)];
            if (files.Count > 0) return new CifarSource(files, cifar100: false);
        }
        if (Format is "auto" or "cifar100")
        {
            var file = F(train ? "train.bin" : "test.bin");
            if (File.Exists(file)) return new CifarSource([file], cifar100: true);
        }
        if (Format is "auto" or "npy")
        {
            var x = First($"{Split}-images.npy", $"x_{Split}.npy");
            var y = First($"{Split}-labels.npy", $"y_{Split}.npy");
            if (x is not null && y is not null) return new NpySource(x, y);
        }
        throw new PfaException(ErrorCodes.InvalidData,
            $"folder '{Path}' has no {Split} data in a known layout: expected {(train ? "train" : "t10k")}-images-idx3-ubyte[.gz] + {(train ? "train" : "t10k")}-labels-idx1-ubyte[.gz] (IDX), " +
            $"{(train ? "data_batch_1..5.bin" : "test_batch.bin")} (CIFAR-10), {(train ? "train.bin" : "test.bin")} (CIFAR-100) or {Split}-images.npy + {Split}-labels.npy.", Path);
    }
}

using System.CommandLine;
using System.Globalization;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Model.Blocks;

namespace Pfa.Tool.Cli;

/// <summary>
/// <c>dotnet pfa describe resnet|mobilenet</c>: writes the model.json of a standard residual network, with the
/// layer names PyTorch's state_dict uses for it (torchvision's for ResNets), so that weights trained in PyTorch
/// and saved with <c>safetensors.torch.save_file(model.state_dict(), "model.safetensors")</c> load as they are.
/// </summary>
public static class DescribeCommand
{
    public static Command Create(CliContext ctx)
    {
        var kind = new Argument<string>("network") { Description = "resnet or mobilenet." };
        var depth = new Option<int>("--depth") { Description = "ResNet depth: 6n+2 for the CIFAR ResNets (20, 32, 44, 56, 110; basic blocks, widths 16/32/64, 3×3 stem) or 18, 34, 50, 101, 152 (torchvision).", DefaultValueFactory = _ => 20 };
        var shortcut = new Option<string>("--shortcut") { Description = "Where width or resolution changes: projection (1×1 conv + batch norm, torchvision's downsample) or padding (parameter-free, option A).", DefaultValueFactory = _ => "projection" };
        var preact = new Option<bool>("--preact") { Description = "Pre-activation basic blocks (CIFAR depths)." };
        var width = new Option<int?>("--width") { Description = "Width of the first stage (default 16 for CIFAR depths, 64 for torchvision's)." };
        var input = new Option<string>("--input") { Description = "One sample's shape C,H,W.", DefaultValueFactory = _ => "3,32,32" };
        var classes = new Option<int>("--classes") { Description = "Outputs of the classifier.", DefaultValueFactory = _ => 10 };
        var mean = new Option<string?>("--mean") { Description = "Input normalisation means per channel, comma-separated (as used in training)." };
        var std = new Option<string?>("--std") { Description = "Input normalisation standard deviations per channel, comma-separated." };
        var output = new Option<string>("--out", "-o") { Description = "Where to write model.json.", Required = true };
        var cmd = new Command("describe", "Write the model.json of a standard ResNet or MobileNet-style network, with PyTorch's state_dict names, to compress weights trained elsewhere.")
        {
            kind, depth, shortcut, preact, width, input, classes, mean, std, output,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var shape = Numbers(r.GetValue(input)!, "--input").Select(v => (int)v).ToList();
            if (shape.Count != 3 || shape.Any(v => v <= 0))
                throw new PfaException(ErrorCodes.InvalidArgument, $"--input must be C,H,W with positive sizes; found '{r.GetValue(input)}'.");
            if (r.GetValue(shortcut) is not ("projection" or "padding"))
                throw new PfaException(ErrorCodes.InvalidArgument, $"--shortcut must be projection or padding; found '{r.GetValue(shortcut)}'.");
            if (r.GetValue(classes) <= 0) throw new PfaException(ErrorCodes.InvalidArgument, "--classes must be positive.");
            Normalization? normalize = null;
            if (r.GetValue(mean) is not null || r.GetValue(std) is not null)
                normalize = new Normalization { Mean = Numbers(r.GetValue(mean) ?? "", "--mean"), Std = Numbers(r.GetValue(std) ?? "", "--std") };
            TorchSharp.Modules.Sequential module;
            try
            {
                module = r.GetValue(kind) switch
                {
                    "resnet" => ResidualNets.ResNet(new ResNetOptions
                    {
                        Depth = r.GetValue(depth), Shortcut = r.GetValue(shortcut) == "padding" ? Shortcut.Padding : Shortcut.Projection,
                        PreActivation = r.GetValue(preact), Width = r.GetValue(width), InChannels = shape[0], Classes = r.GetValue(classes),
                    }),
                    "mobilenet" => ResidualNets.MobileNet(inChannels: shape[0], classes: r.GetValue(classes)),
                    var other => throw new PfaException(ErrorCodes.InvalidArgument, $"unknown network '{other}'; expected resnet or mobilenet."),
                };
            }
            catch (ArgumentException e)
            {
                throw new PfaException(ErrorCodes.InvalidArgument, e.Message);
            }
            using var _ = module;
            var path = r.GetValue(output)!;
            var description = SequentialExporter.Describe(module, shape, PfaModel.DefaultName(path), normalize);
            description.Save(path);
            var cost = Pfa.Core.Metrics.ModelCost.Of(ModelGraph.Build(description));
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {path}: {description.Layers.Count} layers, {cost.Parameters:N0} parameters, {cost.Macs:N0} MACs per sample"));
            return 0;
        }));
        return cmd;
    }

    static List<double> Numbers(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new List<double>();
        foreach (var p in parts)
            values.Add(double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
                ? v : throw new PfaException(ErrorCodes.InvalidArgument, $"{option} must be comma-separated numbers; found '{text}'."));
        return values;
    }
}

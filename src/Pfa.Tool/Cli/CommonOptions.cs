using System.CommandLine;
using Pfa.Core.Data;
using Pfa.Core.Errors;

namespace Pfa.Tool.Cli;

/// <summary>Options several verbs share: the model and its weights, and the data to run on.</summary>
public static class CommonOptions
{
    /// <summary>A shard is a part of an analysis ('analyze --shard'); training or gating on a part is a mistake.</summary>
    public static DataSpec Whole(DataSpec spec, string verb) => spec.Shard is { } s
        ? throw new PfaException(ErrorCodes.InvalidArgument, $"'data.shard' ({s}) is for 'dotnet pfa analyze'; {verb} needs all the data. Merge the parts' analyses with 'dotnet pfa merge' and pass the result to compress with --analysis.")
        : spec;

    public static Option<string> Model() => new("--model") { Description = "Model description (model.json, schema pfa.model/1).", Required = true };
    public static Option<string> Weights() => new("--weights") { Description = "Weights: TorchSharp .dat (Module.save) or .safetensors.", Required = true };
    public static Option<bool> Json() => new("--json") { Description = "Print machine-readable JSON instead of a table." };
    public static Option<string?> Budget() => new("--budget") { Description = "Budget (pfa.json); default: the parameter-free PFA-KL recipe." };

    public static Pfa.Core.Budget.BudgetFile LoadBudget(ParseResult r, Option<string?> budget) =>
        r.GetValue(budget) is { } path ? Pfa.Core.Budget.PfaBudget.Load(path) : Pfa.Core.Budget.BudgetFile.Default;

    /// <summary>A model with its weights and a dataset that fits its input, for the verbs that run data.</summary>
    public static (Pfa.Core.Model.ModelDescription Description, Pfa.Core.Model.PfaNetwork Network, Dataset Data) LoadModelAndData(string modelPath, string weightsPath, DataSpec spec)
    {
        var description = Pfa.Core.Model.ModelDescription.Load(modelPath);
        var network = Pfa.Core.Model.PfaModel.Load(description, weightsPath);
        try
        {
            // A model cut to a target domain's classes sees only their samples, each label mapped to its output.
            var dataset = Dataset.Open(Pfa.Core.Pipeline.TargetDomain.For(spec, description), description.Normalize);
            try { dataset.CheckShape(network.Graph.InputShape, modelPath); }
            catch { dataset.Dispose(); throw; }
            return (description, network, dataset);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>The data options of a verb, and how they become a <see cref="DataSpec"/>.</summary>
    public sealed class DataOptions(bool required = true, string defaultSplit = "test")
    {
        public Option<string?> Data { get; } = new("--data") { Description = "Data folder (Fashion-MNIST/MNIST IDX, CIFAR-10/100 binary) or samples file (IDX images, .npy).", Required = required };
        public Option<string?> Labels { get; } = new("--labels") { Description = "Labels file, when --data is a samples file." };
        public Option<string> Format { get; } = new("--format") { Description = "auto, idx, cifar10, cifar100 or npy.", DefaultValueFactory = _ => "auto" };
        public Option<string> Split { get; } = new("--split") { Description = $"train or test, for data folders (default {defaultSplit}).", DefaultValueFactory = _ => defaultSplit };
        public Option<string?> Classes { get; } = new("--classes") { Description = "Only these classes, comma-separated (e.g. 0,2,5)." };
        public Option<int?> Limit { get; } = new("--limit") { Description = "Only the first N samples." };
        public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Samples per batch.", DefaultValueFactory = _ => 256 };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Data, Labels, Format, Split, Classes, Limit, BatchSize }) c.Options.Add(o);
        }

        public bool Given(ParseResult r) => r.GetValue(Data) is not null;

        /// <summary>The command line's data when given, else the budget's <c>data</c> section.</summary>
        public DataSpec SpecOrBudget(ParseResult r, Pfa.Core.Budget.BudgetFile b) =>
            Given(r) ? Spec(r) : b.DataSpec(b.Budget.Data, "train") ?? Spec(r);

        public DataSpec Spec(ParseResult r) =>
            Spec(r, r.GetValue(Data) ?? throw new PfaException(ErrorCodes.InvalidArgument, "no data: pass --data, or set 'data' in the budget."));

        /// <summary>The command line's data options applied to another source (compress's --eval-data).</summary>
        public DataSpec Spec(ParseResult r, string path) => new()
        {
            Path = path,
            Labels = r.GetValue(Labels),
            Format = r.GetValue(Format)!,
            Split = r.GetValue(Split)!,
            Classes = ParseClasses(r.GetValue(Classes)),
            Limit = r.GetValue(Limit),
        };

        static List<int>? ParseClasses(string? text)
        {
            if (string.IsNullOrWhiteSpace(text)) return null;
            return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(t => int.TryParse(t, out var v) && v >= 0 ? v
                    : throw new PfaException(ErrorCodes.InvalidArgument, $"--classes must be non-negative integers separated by commas; found '{t}'."))
                .ToList();
        }
    }
}

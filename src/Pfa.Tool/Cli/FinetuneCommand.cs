using Pfa.Core.Errors;
using System.CommandLine;
using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Training;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa finetune</c>: train a (compressed) model with the budget's fine-tune settings.</summary>
public static class FinetuneCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var budget = CommonOptions.Budget();
        var data = new CommonOptions.DataOptions(required: false, defaultSplit: "train");
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (overrides the budget)." };
        var output = new Option<string>("--out") { Description = "Where to write the fine-tuned weights (.dat or .safetensors).", Required = true };
        var cmd = new Command("finetune", "Fine-tune a model (SGD with Nesterov momentum or Adam; step or cosine schedule; optional crop and flip augmentation) with the budget's 'finetune' settings.")
        {
            model, weights, budget, epochs, output,
        };
        data.AddTo(cmd);
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var b = CommonOptions.LoadBudget(r, budget);
            var spec = CommonOptions.Whole(data.SpecOrBudget(r, b), "finetune");
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(budget), "budget"), (spec.Path, "data"), (spec.Labels, "labels file")], [(r.GetValue(output)!, "--out")]);
            var (_, network, dataset) = CommonOptions.LoadModelAndData(r.GetValue(model)!, r.GetValue(weights)!, spec);
            using var _n = network;
            using var _d = dataset;
            var options = b.Budget.TrainOptions() with { Epochs = r.GetValue(epochs) ?? b.Budget.TrainOptions().Epochs };
            // Distillation: the model as given teaches its own fine-tuning (a second copy, never updated).
            using var teacher = options.Distill is null ? null : Pfa.Core.Model.PfaModel.Load(r.GetValue(model)!, r.GetValue(weights)!);
            Trainer.Train(network, dataset, options, e => ctx.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")), ctx.Progress("fine-tuning"), teacher);
            PfaModel.SaveWeights(network, r.GetValue(output)!);
            ctx.Out.WriteLine($"wrote {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}

using System.CommandLine;
using Pfa.Core.Errors;
using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Json;
using Pfa.Core.Model;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa eval</c>: top-1 and top-5 accuracy of a model on a dataset.</summary>
public static class EvalCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var json = CommonOptions.Json();
        var data = new CommonOptions.DataOptions();
        var cmd = new Command("eval", "Evaluate top-1 and top-5 accuracy of a model on a dataset (the model's own input normalisation is applied).")
        {
            model, weights, json,
        };
        data.AddTo(cmd);
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var (_, network, dataset) = CommonOptions.LoadModelAndData(r.GetValue(model)!, r.GetValue(weights)!, data.Spec(r));
            using var _n = network;
            using var _d = dataset;
            if (network.Graph.ClassifierWarning() is { } warning) ctx.Err.WriteLine(WarningCodes.Line(r.GetValue(model), warning));
            var acc = Evaluator.Evaluate(network, dataset, r.GetValue(data.BatchSize), ctx.Progress("evaluating"));
            if (r.GetValue(json))
                ctx.Out.Write(JsonFiles.Serialize(new { top1 = acc.Top1, top5 = acc.Top5, samples = acc.Samples }));
            else
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"top-1 {acc.Top1 * 100:F2}%  top-5 {acc.Top5 * 100:F2}%  on {acc.Samples} samples of {dataset.Description}"));
            return 0;
        }));
        return cmd;
    }
}

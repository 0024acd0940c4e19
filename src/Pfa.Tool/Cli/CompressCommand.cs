using System.CommandLine;
using System.Globalization;
using Pfa.Core.Errors;
using Pfa.Core.Json;
using Pfa.Core.Pipeline;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa compress</c>: analyse → recipe → select → surgery → fine-tune → evaluate → gate.</summary>
public static class CompressCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var budget = CommonOptions.Budget();
        var json = CommonOptions.Json();
        var data = new CommonOptions.DataOptions(required: false, defaultSplit: "train");
        var evalData = new Option<string?>("--eval-data") { Description = "Data for the accuracy gate (default: --data with --split test, or 'eval_data' in the budget)." };
        var evalLabels = new Option<string?>("--eval-labels") { Description = "Labels file, when --eval-data is a samples file (IDX images, .npy)." };
        var evalSplit = new Option<string>("--eval-split") { Description = "train or test, for --eval-data folders.", DefaultValueFactory = _ => "test" };
        var output = new Option<string>("--out") { Description = "Output folder for recipe.json, the compressed model, summary.json and analysis/.", DefaultValueFactory = _ => "artifacts/pfa" };
        var tolerance = new Option<double?>("--tolerance") { Description = "Largest accepted accuracy drop in percentage points (overrides the budget)." };
        var epochs = new Option<int?>("--epochs") { Description = "Fine-tune epochs (overrides the budget; 0 = none)." };
        var format = new Option<string>("--weights-format") { Description = "dat or safetensors, for the compressed weights.", DefaultValueFactory = _ => "dat" };
        format.AcceptOnlyFromAmong("dat", "safetensors");
        var baseline = new Option<string?>("--baseline") { Description = "Committed recipe to compare with: a different recipe fails with PFA1002 (exit 1) before fine-tuning." };
        var updateBaseline = new Option<bool>("--update-baseline") { Description = "Write the new recipe to --baseline instead of comparing." };
        var analysisDir = new Option<string?>("--analysis") { Description = "Use this analysis (a folder from 'analyze' or 'merge', e.g. a CI matrix's merged shards) instead of analysing the data again." };
        var cmd = new Command("compress", "Compress a trained model: analyse its responses, make a recipe from the budget, remove the most correlated filters, fine-tune, evaluate, and fail (exit 1) when accuracy dropped more than the tolerance.")
        {
            model, weights, budget, analysisDir, evalData, evalLabels, evalSplit, output, tolerance, epochs, format, baseline, updateBaseline, json,
        };
        data.AddTo(cmd);
        cmd.SetAction(r => ctx.Guard(() =>
        {
            // The same rules as pfa.json's 'tolerance' and 'finetune.epochs', checked before any work.
            if (r.GetValue(tolerance) is { } tol && !(tol >= 0 && double.IsFinite(tol)))
                throw new PfaException(ErrorCodes.InvalidArgument, $"--tolerance must be a finite number of percentage points ≥ 0; found {tol.ToString(CultureInfo.InvariantCulture)}.");
            if (r.GetValue(epochs) is { } ep && ep < 0)
                throw new PfaException(ErrorCodes.InvalidArgument, $"--epochs must be ≥ 0; found {ep}.");
            if (r.GetValue(baseline) is { } bl && !r.GetValue(updateBaseline) && !File.Exists(bl))
                throw new PfaException(ErrorCodes.FileNotFound, $"the baseline recipe '{bl}' does not exist; create it with --update-baseline (or 'dotnet pfa accept'), or leave --baseline out.");
            // A damaged baseline is found now, not after the analysis and the recipe.
            if (r.GetValue(baseline) is { } committed && !r.GetValue(updateBaseline)) _ = Pfa.Core.Recipes.Recipe.Load(committed);
            var b = CommonOptions.LoadBudget(r, budget);
            var train = CommonOptions.Whole(data.SpecOrBudget(r, b), "compress");
            // The gate's data: --eval-data; else the budget's eval_data (without a path: the training data's
            // source with eval_data's split, limit and classes); else the training data's test split, all of it.
            var evalBudget = b.Budget.EvalData;
            var eval = r.GetValue(evalData) is { } e ? data.Spec(r, e) with { Labels = r.GetValue(evalLabels), Split = r.GetValue(evalSplit)! }
                : b.DataSpec(evalBudget, "test") is { } fromBudget ? fromBudget
                : train with { Split = evalBudget?.Split ?? "test", Limit = evalBudget?.Limit, Classes = evalBudget?.Classes ?? train.Classes };
            eval = CommonOptions.Whole(eval, "the accuracy gate");
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(budget), "budget"),
                    (r.GetValue(updateBaseline) ? null : r.GetValue(baseline), "baseline recipe"),
                    (r.GetValue(analysisDir) is { } ad ? Path.Combine(ad, AnalysisResult.StatsFileName) : null, "analysis statistics"),
                    (r.GetValue(analysisDir) is { } ad2 ? Path.Combine(ad2, AnalysisResult.SpectraFileName) : null, "analysis spectra"), (train.Path, "training data"), (train.Labels, "labels file"), (eval.Path, "evaluation data"), (eval.Labels, "labels file")],
                r.GetValue(updateBaseline) && r.GetValue(baseline) is { } target ? [(target, "--baseline")] : [], (r.GetValue(output)!, "--out"));
            var request = new CompressRequest
            {
                ModelPath = r.GetValue(model)!, WeightsPath = r.GetValue(weights)!, Budget = b,
                TrainData = train, EvalData = eval, OutDir = r.GetValue(output)!,
                BatchSize = b.Budget.BatchSize ?? r.GetValue(data.BatchSize), Tolerance = r.GetValue(tolerance), Epochs = r.GetValue(epochs),
                WeightsExtension = "." + r.GetValue(format),
                Baseline = r.GetValue(baseline), UpdateBaseline = r.GetValue(updateBaseline), AnalysisDir = r.GetValue(analysisDir),
                Progress = ctx.Progress,
            };
            var summary = Compressor.Run(request, line => ctx.Err.WriteLine(line));
            if (r.GetValue(json)) ctx.Out.Write(JsonFiles.Serialize(summary));
            else ctx.Out.WriteLine(summary.OneLine());
            return 0;
        }));
        return cmd;
    }
}

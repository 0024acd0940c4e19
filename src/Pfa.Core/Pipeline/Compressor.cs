using System.Diagnostics;
using System.Globalization;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using Pfa.Core.Training;

namespace Pfa.Core.Pipeline;

/// <summary>Everything <c>dotnet pfa compress</c> needs.</summary>
public sealed record CompressRequest
{
    public required string ModelPath { get; init; }
    public required string WeightsPath { get; init; }
    public required BudgetFile Budget { get; init; }
    /// <summary>Data to analyse and fine-tune on (usually the training split).</summary>
    public required DataSpec TrainData { get; init; }
    /// <summary>Data for the accuracy gate (usually the test split).</summary>
    public required DataSpec EvalData { get; init; }
    public required string OutDir { get; init; }
    public int BatchSize { get; init; } = 256;
    /// <summary>Overrides the budget's tolerance (percentage points).</summary>
    public double? Tolerance { get; init; }
    /// <summary>Overrides the budget's fine-tune epochs.</summary>
    public int? Epochs { get; init; }
    /// <summary>Extension of the compressed weights: .dat or .safetensors.</summary>
    public string WeightsExtension { get; init; } = ".dat";
    /// <summary>A committed recipe to compare with (PFA1002 on drift), or to write when <see cref="UpdateBaseline"/>.</summary>
    public string? Baseline { get; init; }
    public bool UpdateBaseline { get; init; }
    /// <summary>An analysis made beforehand (e.g. merged shards) instead of compress's own pass over the data.</summary>
    public string? AnalysisDir { get; init; }
    /// <summary>Progress of a long stage: given the stage's name, a callback for (done, total), or null. The CLI
    /// draws an updating line with an ETA on a terminal and nothing when its output is redirected.</summary>
    public Func<string, Action<long, long>?>? Progress { get; init; }
    /// <summary>How a model's latency is measured (default: <see cref="Latency.Measure"/> at batch 1); the tests
    /// pass a recorder to see which model each number comes from.</summary>
    public Func<PfaNetwork, LatencyResult>? MeasureLatency { get; init; }
}

/// <summary>
/// analyse → recipe → select → surgery → fine-tune → evaluate → gate, writing every artifact atomically into
/// the output folder: analysis/ (statistics, spectra), recipe.json, model.json + weights (compressed and
/// fine-tuned), summary.json, summary.md and report.html. A failed gate still writes everything, then throws PFA1001.
/// </summary>
public static class Compressor
{
    public const string RecipeFileName = "recipe.json";
    public const string ModelFileName = "model.json";

    /// <summary>Compares the new recipe with the committed baseline (fails fast, before fine-tuning, on drift)
    /// or, when asked, replaces the baseline with it.</summary>
    static void CheckBaseline(CompressRequest r, Recipe recipe, string recipePath, string finalRecipePath, Action<string> log)
    {
        if (r.Baseline is not { } baseline) return;
        if (r.UpdateBaseline)
        {
            AtomicFile.WriteText(baseline, File.ReadAllText(recipePath));
            log($"updated the baseline recipe {baseline}");
            return;
        }
        if (!File.Exists(baseline))
        {
            log($"no baseline recipe at {baseline}; write one with 'dotnet pfa accept' or -p:PfaUpdateBaseline=true to guard against drift");
            return;
        }
        var changes = RecipeDiff.Compare(Recipe.Load(baseline), recipe);
        if (changes.Count > 0)
            throw new PfaException(ErrorCodes.RecipeDrift,
                $"the recipe differs from the baseline: {string.Join("; ", changes)}. If the change is intended, accept it: dotnet pfa accept --recipe {finalRecipePath} --baseline {baseline} (or build with -p:PfaUpdateBaseline=true).",
                baseline, 1, 1);
    }

    public static Summary Run(CompressRequest r, Action<string>? log = null)
    {
        log ??= _ => { };
        var total = Stopwatch.StartNew();
        var description = ModelDescription.Load(r.ModelPath);
        using var loaded = PfaModel.Load(description, r.WeightsPath);
        // A target domain's model (PFA §4.3): from here on, the input restricted to its classes.
        using var restricted = TargetDomain.Restrict(loaded, r.Budget, r.TrainData, log);
        var network = restricted ?? loaded;
        using var train = Dataset.Open(TargetDomain.For(r.TrainData, network.Graph.Description), description.Normalize);
        using var eval = Dataset.Open(TargetDomain.For(r.EvalData, network.Graph.Description), description.Normalize);
        train.CheckShape(network.Graph.InputShape, r.ModelPath);
        eval.CheckShape(network.Graph.InputShape, r.ModelPath);
        // Everything is written into a staging folder and published as one set (RunFolder): with a result
        // (passed, or a gate failure the user must see), never after bad input or a kill.
        using var run = RunFolder.Begin(r.OutDir, "compress", requiredBytes: 2 * new FileInfo(r.WeightsPath).Length + (64L << 20));
        try
        {
            return RunIn(run, r, description, network, train, eval, total, log);
        }
        catch (PfaException e) when (e.ExitCode == ExitCodes.GateFailed)
        {
            run.Publish();
            throw;
        }
    }

    static Summary RunIn(RunFolder run, CompressRequest r, ModelDescription description, PfaNetwork network, Dataset train, Dataset eval, Stopwatch total, Action<string> log)
    {
        var b = r.Budget.Budget;
        var options = b.TrainOptions() with { Epochs = r.Epochs ?? b.TrainOptions().Epochs };

        if (network.Graph.ClassifierWarning() is { } warning) log(WarningCodes.Line(r.ModelPath, warning));
        var watch = Stopwatch.StartNew();
        log($"evaluating the input model on {eval.Count:N0} samples");
        var before = Evaluator.Evaluate(network, eval, r.BatchSize, r.Progress?.Invoke("evaluating"));
        double evalSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        if (r.AnalysisDir is null) log($"analysing responses on {train.Count:N0} samples");
        using var analysis = r.AnalysisDir is { } given
            ? GivenAnalysis.Load(given, network, r.Budget, train, log)
            : AnalysisResult.Run(network, train, r.Budget, r.BatchSize, r.Progress?.Invoke("analysing"));
        var analysisDir = run.Stage("analysis");
        var statsBytes = analysis.Save(analysisDir);
        foreach (var l in analysis.Spectra.Layers)
        {
            foreach (var w in l.Warnings) log(WarningCodes.Line(r.ModelPath, w));
            foreach (var n in l.Notes) log($"note: {n}");
        }
        double analyzeSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        if (CandidateSearch.Applies(r.Budget))
            log($"search: {CandidateSearch.Shapes(b.EffectiveSearch.Candidates, r.Budget, weights: true).Count()} allocations at the target, each recalibrated and scored on held-out training samples");
        var recipe = CandidateSearch.Choose(network, analysis, r.Budget, statsBytes, PfaModel.WeightsOf(network), train, options.BatchSize, log);
        var recipePath = run.Stage(RecipeFileName);
        recipe.Save(recipePath);
        log(string.Create(CultureInfo.InvariantCulture, $"recipe: {string.Join(", ", recipe.Layers.Select(l => $"{l.Name} {l.FiltersBefore}→{l.FiltersAfter}"))}"));
        CheckBaseline(r, recipe, recipePath, run.FinalPath(RecipeFileName), log);
        double recipeSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var strategy = Recipes.Allocation.Strategies.Get(b.Strategy);
        foreach (var l in recipe.Layers.Where(l => l.Dropped is not null)) log($"design: {l.Name} dropped: {l.Dropped}");
        var (compressedDescription, compressed) = strategy.DesignsModel
            ? Recipes.Design.GargDesign.Build(network, recipe, b.EffectiveInit == "selected", b.Seed)
            : ChannelSurgery.Apply(network, recipe);
        using var _ = compressed;
        double applySeconds = watch.Elapsed.TotalSeconds;

        // Accuracy right after surgery, then after recalibration (batch-norm statistics re-estimated and the classifier
        // re-fitted: the stage that makes a pruned ResNet usable before any fine-tuning), each on the gate's data.
        watch.Restart();
        var afterSurgery = Evaluator.Evaluate(compressed, eval, r.BatchSize, r.Progress?.Invoke("evaluating"));
        Evaluation.Accuracy? afterRecalibration = null;
        var recalibration = new Recalibration.Result(0, null);
        if (b.EffectiveRecalibrate.Batches > 0)
        {
            // A randomly initialised design keeps nothing of the original's function: its classifier is not fitted to it.
            bool fromScratch = strategy.DesignsModel && b.EffectiveInit == "random";
            var settings = fromScratch ? b.EffectiveRecalibrate with { Classifier = RecalibrateBudget.None } : b.EffectiveRecalibrate;
            recalibration = Recalibration.Run(network, compressed, train, settings, options.BatchSize, b.Seed);
            if (recalibration.Batches > 0)
            {
                afterRecalibration = Evaluator.Evaluate(compressed, eval, r.BatchSize, r.Progress?.Invoke("evaluating"));
                log(string.Create(CultureInfo.InvariantCulture, $"recalibrated on {recalibration.Batches} batches of {options.BatchSize} ({Recalibration.Describe(recalibration.Classifier)}): accuracy {afterSurgery.Top1 * 100:0.00}% after surgery → {afterRecalibration.Top1 * 100:0.00}%"));
            }
            if (settings.Classifier != RecalibrateBudget.None && recalibration.Classifier is null)
                log(ClassifierRefit.NotApplicable(compressed.Graph) is { } why
                    ? $"note: the classifier is not fitted: {why}"
                    : "note: the classifier's fit was not kept: with it the compressed model agreed with the original's predictions on no more of the recalibration samples");
        }
        evalSeconds += watch.Elapsed.TotalSeconds;

        watch.Restart();
        if (options.Epochs > 0)
        {
            log(strategy.DesignsModel && b.EffectiveInit == "random"
                ? $"training the designed model from scratch for {options.Epochs} epoch(s) on {train.Count:N0} samples (Garg et al.'s one training run; 'finetune' sets it)"
                : $"fine-tuning for {options.Epochs} epoch(s) on {train.Count:N0} samples" + (options.Distill is { } d
                    ? string.Create(CultureInfo.InvariantCulture, $", distilling the original model (T = {d.Temperature}, α = {d.Alpha})") : ""));
            Trainer.Train(compressed, train, options, e => log(string.Create(CultureInfo.InvariantCulture,
                $"  epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")),
                r.Progress?.Invoke("fine-tuning"), teacher: network);
        }
        double finetuneSeconds = watch.Elapsed.TotalSeconds;
        // A model with a non-finite weight or batch-norm statistic is unusable, whatever its accuracy says: it never
        // passes, and nothing is written.
        if (NonFinite.FirstIn(compressed) is { } bad)
            throw new PfaException(ErrorCodes.Diverged, options.Epochs > 0
                ? $"the compressed model's '{bad}' holds non-finite values after fine-tuning; lower 'finetune.learning_rate'."
                : $"the compressed model's '{bad}' holds non-finite values after surgery and recalibration, before any fine-tuning; check the input weights and data.", r.Budget.Source?.File);

        var modelPath = run.Stage(ModelFileName);
        var weightsPath = run.Stage("model" + r.WeightsExtension);
        PfaModel.SaveWeights(compressed, weightsPath);
        (compressedDescription with { Name = description.Name }).Save(modelPath);
        string? onnxPath = null;
        if (b.Onnx != false)
        {
            OnnxArtifact.Write(compressed, run.Stage(OnnxArtifact.FileName), recipePath, b.Strategy);
            onnxPath = run.Stage(OnnxArtifact.FileName);
            log($"ONNX: {run.FinalPath(OnnxArtifact.FileName)} (checked by ONNX Runtime)");
        }

        watch.Restart();
        var after = Evaluator.Evaluate(compressed, eval, r.BatchSize, r.Progress?.Invoke("evaluating"));
        evalSeconds += watch.Elapsed.TotalSeconds;

        // Measured, not only counted: each model in turn, warm, at batch 1 and where the model will serve.
        var latency = LatencyReport.Measure(network, compressed, onnxPath, b, recipe.Totals.MacsPercent, r.MeasureLatency);
        foreach (var w in latency.Warnings) log(WarningCodes.Line(r.ModelPath, w));
        var latencyTarget = LatencyTargetCheck.Check(recipe, b, latency);
        if (latencyTarget is { } lt)
        {
            log(LatencyTargetCheck.Line(lt.Result));
            if (lt.Warning is { } w) log(WarningCodes.Line(r.ModelPath, w));
        }
        double drop = Math.Round((before.Top1 - after.Top1) * 100, 4);
        double? tolerance = r.Tolerance ?? b.Tolerance;
        var summary = new Summary
        {
            Strategy = b.Strategy, Tau = recipe.Strategy.Tau, Classes = network.Graph.Description.Classes,
            Recipe = run.FinalPath(RecipeFileName), CompressedModel = run.FinalPath(ModelFileName), CompressedWeights = run.FinalPath("model" + r.WeightsExtension),
            OnnxModel = onnxPath is null ? null : run.FinalPath(OnnxArtifact.FileName),
            LatencyTarget = latencyTarget?.Result, ServingLatency = latency.Serving, OnnxLatency = latency.Onnx, OnnxServingLatency = latency.OnnxServing,
            AccuracyBefore = Math.Round(before.Top1 * 100, 4), AccuracyAfter = Math.Round(after.Top1 * 100, 4),
            AccuracySurgery = Math.Round(afterSurgery.Top1 * 100, 4),
            AccuracyRecalibrated = afterRecalibration is { } rc ? Math.Round(rc.Top1 * 100, 4) : null,
            RecalibrationBatches = recalibration.Batches > 0 ? recalibration.Batches : null,
            RecalibratedClassifier = recalibration.Classifier,
            Top5Before = Math.Round(before.Top5 * 100, 4), Top5After = Math.Round(after.Top5 * 100, 4),
            Drop = drop, Tolerance = tolerance, Passed = tolerance is not { } t || drop <= t + 1e-9,
            ParametersBefore = recipe.Totals.ParametersBefore, ParametersAfter = recipe.Totals.ParametersAfter,
            MacsBefore = recipe.Totals.MacsBefore, MacsAfter = recipe.Totals.MacsAfter,
            ParametersPercent = recipe.Totals.ParametersPercent, MacsPercent = recipe.Totals.MacsPercent,
            AnalysisSamples = train.Count, EvalSamples = after.Samples, FinetuneEpochs = options.Epochs,
            Latency = latency.Latency,
            Timings = new Timings
            {
                AnalyzeSeconds = Math.Round(analyzeSeconds, 3), RecipeSeconds = Math.Round(recipeSeconds, 3), ApplySeconds = Math.Round(applySeconds, 3),
                FinetuneSeconds = Math.Round(finetuneSeconds, 3), EvaluateSeconds = Math.Round(evalSeconds, 3), TotalSeconds = Math.Round(total.Elapsed.TotalSeconds, 3),
            },
        };
        summary.Save(run.Staging);
        // Other strategies at this size need PFA's pooled statistics; a designing strategy shows its threshold trade-off instead.
        var spectra = analysis.Spectra.ByLayer();
        var alternatives = strategy.DesignsModel ? null : Alternatives.AtSameSize(network.Graph.SpacesFor(b.ResidualMode), r.Budget, spectra, recipe.Totals);
        var sweep = strategy.DesignsModel ? Recipes.Design.GargDesign.TradeOff(network.Graph, r.Budget, spectra) : null;
        AtomicFile.WriteText(run.Stage(HtmlReport.FileName), HtmlReport.Render(recipe, summary, alternatives, sweep));
        run.Publish();
        if (Environment.GetEnvironmentVariable("GITHUB_STEP_SUMMARY") is { Length: > 0 } stepSummary)
            File.AppendAllText(stepSummary, summary.ToMarkdown());
        if (!summary.Passed)
            throw new PfaException(ErrorCodes.AccuracyGate, string.Create(CultureInfo.InvariantCulture,
                $"accuracy dropped {drop:0.00} pp ({summary.AccuracyBefore:0.00}% → {summary.AccuracyAfter:0.00}%), more than the tolerance of {tolerance:0.##} pp. Raise 'tolerance', compress less (a higher energy or target), or fine-tune longer."),
                r.Budget.Source?.File);
        return summary;
    }
}

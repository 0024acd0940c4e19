using System.Globalization;
using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Recipes.Allocation;
using Pfa.Core.Surgery;

namespace Pfa.Core.Pipeline;

/// <summary>
/// A measured choice of allocation for a size target (footprint/flops). The analytic default — the PFA-KL shape
/// scaled to the target — is not the best shape on every network (on a MobileNet-style net uniform + l1 beat it by
/// 2.4 pp at 30%, bench/results/residual.md). So compress builds a small family of allocations that all meet the
/// target exactly, per-layer keep ratios ∝ γ^α for α evenly from 1 (PFA-KL) to 0 (uniform), each with its own exact
/// scale, plus uniform widths with ℓ1 selection (the peer users would otherwise compare by hand); applies each by
/// surgery, recalibrates its batch norms on training batches (EagleEye, Li et al., ECCV 2020), trains it for a few
/// batches (<see cref="SearchBudget.TrainBatches"/>: accuracy right after recalibration ranked widths well but
/// selection criteria badly, bench/results/residual.md), scores its top-1 on a held-out slice of the training data
/// (never the gate's data), and keeps the best.
/// Deterministic for the same inputs and seed. A candidate must beat the analytic one by more than
/// <see cref="Margin"/> of the held-out samples: a near-tie keeps the analytic choice, so a committed recipe does
/// not drift between CPUs whose float rounding differs.
/// </summary>
public static class CandidateSearch
{
    /// <summary>The lead (fraction of held-out samples) a candidate needs over the analytic choice. Provisional: the
    /// spread of held-out scores across CPUs has not been measured yet; 0.5 pp is about 3 standard errors of a
    /// difference on 2,000 samples at 90% accuracy.</summary>
    public const double Margin = 0.005;

    /// <summary>Whether the budget's strategy has a candidate family (footprint and flops) and the search is on.</summary>
    public static bool Applies(BudgetFile budget) =>
        budget.Budget.EffectiveSearch.Candidates >= 2 && Strategies.Get(budget.Budget.Strategy) is { Searches: true, Allocation: KlScaledAllocation };

    /// <summary>The chosen recipe (with <see cref="RecipeStrategy.Search"/> filled in); the analytic one when the
    /// search does not apply or the data is too small to hold a slice out.</summary>
    /// <param name="latency">The latency model a latency target is planned with (default: measured on this machine).</param>
    public static Recipe Choose(PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes,
        Func<string, TorchSharp.torch.Tensor?>? weightOf, Dataset train, int batchSize, Action<string> log, Metrics.ILatencyModel? latency = null)
    {
        var b = budget.Budget;
        var search = b.EffectiveSearch;
        int holdout = HeldOut(budget, train);
        int depthCandidates = search.DepthFor(b.Strategy);
        bool depth = TriesDepth(budget, network.Graph) && holdout >= 1;
        Recipe? analytic;
        Errors.PfaException? widthsShort = null;
        try { analytic = RecipeMaker.Make(network.Graph, analysis, budget, statsBytes, weightOf, latency: latency); }
        catch (Errors.PfaException e) when (Errors.LatencyOutOfReach.Is(e))
        {
            if (!depth) throw WidthsShort(e, budget, network.Graph, tried: false);
            // A latency target the narrowest widths cannot reach: fewer blocks may (depth-study.md: padding-mode
            // ResNet-20 at batch 1, 0.3, out of reach by widths, 22.4% of the time with 7 blocks removed).
            (analytic, widthsShort) = (null, e);
            log($"  widths alone cannot meet the target ({e.Message}); trying depth candidates");
        }
        if (!Applies(budget) || holdout < 1) return analytic!;

        var scored = new List<(Shape Shape, Recipe Recipe, int Correct)>();
        var byRecipe = new Dictionary<string, int>();
        var (held, rest) = Split(budget, train);
        using (held)
        using (rest)
        {
            // Scored once per distinct recipe (two shapes can round to the same widths and blocks).
            void Add(Shape shape, Recipe recipe)
            {
                var key = string.Join(";", recipe.Layers.Select(l => $"{l.FiltersAfter}:{string.Join(",", l.Kept)}")) + "|" + string.Join(",", recipe.RemovedBlocks ?? []);
                if (!byRecipe.TryGetValue(key, out int correct)) byRecipe[key] = correct = Score(network, recipe, budget, held, rest, batchSize);
                scored.Add((shape, recipe, correct));
                log(string.Create(CultureInfo.InvariantCulture,
                    $"  candidate {shape}: {recipe.Totals.ParametersPercent}% parameters, {100.0 * correct / holdout:0.00}% on {holdout:N0} held-out training samples"));
            }
            if (analytic is not null)
                foreach (var shape in Shapes(search.Candidates, budget, weightOf is not null))
                    if ((shape == Shape.Analytic ? analytic : Candidate(() => Make(network, analysis, budget, statsBytes, weightOf, shape, latency), shape, log)) is { } recipe)
                        Add(shape, recipe);
            // Depth (latency targets on residual networks): the family's choice (the analytic shape when widths alone
            // fall short) with blocks removed, least harmful first, its widths planned again to the target
            // (bench/results/depth-study.md).
            if (depth && BlockOrder.Measure(network, held, rest, RecalibrationBatches(budget), batchSize, b.Seed) is { Count: > 0 } order)
            {
                var basis = scored.Count > 0 ? scored[Pick(scored.Select(s => s.Correct).ToList(), holdout)].Shape : Shape.Analytic;
                foreach (int k in Enumerable.Range(1, depthCandidates).Select(i => (int)Math.Ceiling((double)i * order.Count / depthCandidates)).Distinct())
                {
                    var shape = basis with { Removed = order.Take(k).Select(o => o.Block.Sum).ToList() };
                    if (Candidate(() => Make(network, analysis, budget, statsBytes, weightOf, shape, latency), shape, log) is { } recipe) Add(shape, recipe);
                }
            }
        }
        // Nothing reached the target: the widths' own answer (what the narrowest widths take).
        if (scored.Count == 0) throw WidthsShort(widthsShort!, budget, network.Graph, tried: true);
        var best = scored.MaxBy(s => s.Correct);
        var chosen = scored[Pick(scored.Select(s => s.Correct).ToList(), holdout)];
        var candidates = scored.Select(s => new RecipeCandidate
        {
            Exponent = Math.Round(s.Shape.Exponent, 6), Select = s.Shape.Select, Widths = s.Recipe.Layers.Select(l => l.FiltersAfter).ToArray(),
            ParametersPercent = s.Recipe.Totals.ParametersPercent, MacsPercent = s.Recipe.Totals.MacsPercent,
            Correct = s.Correct, Samples = holdout, Chosen = ReferenceEquals(s.Recipe, chosen.Recipe), RemovedBlocks = s.Shape.Removed?.Count,
        }).ToList();
        log(string.Create(CultureInfo.InvariantCulture, $"search: {chosen.Shape} chosen{(ReferenceEquals(chosen.Recipe, analytic) && best.Correct > scored[0].Correct ? $" (the best, {best.Shape}, led by {100.0 * (best.Correct - scored[0].Correct) / holdout:0.00} pp, within the {Margin * 100} pp margin)" : "")}"));
        return chosen.Recipe with { Strategy = chosen.Recipe.Strategy with { Search = candidates } };
    }

    /// <summary>Whether compress's search plans depth candidates for this budget and model: a latency target, the
    /// search on with <see cref="SearchBudget.DepthFor"/> above 0, and removable residual blocks.</summary>
    public static bool TriesDepth(BudgetFile budget, ModelGraph graph) =>
        Applies(budget) && budget.Budget.Strategy == "latency" && budget.Budget.EffectiveSearch.DepthFor(budget.Budget.Strategy) > 0
        && BlockRemoval.Blocks(graph).Count > 0;

    /// <summary>A latency target the narrowest widths cannot reach (<paramref name="error"/>, marked <see cref="Errors.LatencyOutOfReach"/>),
    /// said with what removing residual blocks does: <paramref name="tried"/>, the depth candidates fell short too; else
    /// compress's search would try them, or could when turned on. Other errors, and networks without removable blocks: as they are.</summary>
    public static Errors.PfaException WidthsShort(Errors.PfaException error, BudgetFile budget, ModelGraph graph, bool tried)
    {
        if (!Errors.LatencyOutOfReach.Is(error) || BlockRemoval.Blocks(graph).Count == 0) return error;
        string sentence = tried
            ? $"Removing residual blocks ({budget.Budget.EffectiveSearch.DepthFor(budget.Budget.Strategy)} depth candidates, up to every removable one) did not reach it either."
            : TriesDepth(budget, graph)
                ? "Widths alone fall short; compress's search also removes residual blocks (search.depth, on by default), which may reach it."
                : $"Compress's search can also remove residual blocks: \"search\": {{ \"depth\": {SearchBudget.DefaultDepth} }} (the default, with the search on).";
        return new Errors.PfaException(error.Code, $"{error.Message} {sentence}", error.File, error.Line, error.Column);
    }

    /// <summary>The search's rule over scores listed in the family's order (analytic first): the best, the first of
    /// equals (the larger α, closer to PFA-KL; the ℓ1 peer last), kept only when it leads the analytic one by more
    /// than <see cref="Margin"/> of the held-out samples.</summary>
    public static int Pick(IReadOnlyList<int> correct, int samples)
    {
        int best = 0;
        for (int i = 1; i < correct.Count; i++) if (correct[i] > correct[best]) best = i;
        return correct[best] - correct[0] > Margin * samples ? best : 0;
    }

    /// <summary>A candidate's recipe, or null when its own plan cannot meet the target: the analytic recipe, made
    /// first from the same budget, met it, so the budget is valid and only this shape falls short — with a latency
    /// target, by measurement noise (the latency bench's VGG at batch 1, target 0.3: one candidate's smallest widths
    /// measured 0.467 ms against 0.455 ms, and that error ended the whole search). It is left out and logged.</summary>
    internal static Recipe? Candidate(Func<Recipe> make, Shape shape, Action<string> log)
    {
        try { return make(); }
        catch (Errors.PfaException e) when (e.Code == Errors.ErrorCodes.InvalidBudget)
        {
            log($"  candidate {shape}: left out, {e.Message}");
            return null;
        }
    }

    /// <summary>A candidate: the exponent α of the keep ratios γ^α, and a selection criterion other than the budget's (or null).</summary>
    /// <param name="Removed">A depth candidate's removed blocks (their sums), or null.</param>
    public sealed record Shape(double Exponent, string? Select = null, IReadOnlyList<string>? Removed = null)
    {
        public static readonly Shape Analytic = new(1);
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"α = {Exponent:0.##}{(Select is { } s ? $", {s}" : "")}{(Removed is { Count: > 0 } r ? $", {r.Count} block(s) removed" : "")}");
    }

    /// <summary>The family, analytic first: α evenly from 1 to 0, then — when the weights are at hand and the budget
    /// selects otherwise — uniform widths with ℓ1 selection, the peer (Torch-Pruning's default) README used to tell
    /// users to compare by hand.</summary>
    public static IEnumerable<Shape> Shapes(int candidates, BudgetFile budget, bool weights)
    {
        for (int i = 0; i < candidates; i++) yield return i == 0 ? Shape.Analytic : new Shape(1 - (double)i / (candidates - 1));
        if (weights && (budget.Budget.Select ?? Selection.Criteria.Default) != "l1") yield return new Shape(0, "l1");
    }

    /// <summary>The recipe of one candidate shape (the same widths and selection a search gave it).</summary>
    public static Recipe Make(PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes,
        Func<string, TorchSharp.torch.Tensor?>? weightOf, Shape shape, Metrics.ILatencyModel? latency = null) =>
        RecipeMaker.Make(network.Graph, analysis, budget, statsBytes, weightOf, new KlScaledAllocation(shape.Exponent), shape.Select, shape.Removed, latency);

    static int RecalibrationBatches(BudgetFile budget) => Recalibrate(budget).Batches;

    /// <summary>The budget's recalibration, or the default one when it is off: candidates are compared recalibrated.</summary>
    static RecalibrateBudget Recalibrate(BudgetFile budget) =>
        budget.Budget.EffectiveRecalibrate.Batches > 0 ? budget.Budget.EffectiveRecalibrate : new RecalibrateBudget();

    /// <summary>Held-out samples the search scores on: the budget's, at most half the training data.</summary>
    public static int HeldOut(BudgetFile budget, Dataset train) => Math.Min(budget.Budget.EffectiveSearch.Samples, train.Count / 2);

    /// <summary>The held-out slice and the rest (which recalibrates), a shuffle of the training data by the seed.</summary>
    public static (Dataset Held, Dataset Recalibration) Split(BudgetFile budget, Dataset train)
    {
        int holdout = HeldOut(budget, train);
        var order = Enumerable.Range(0, train.Count).ToArray();
        new Random(budget.Budget.Seed).Shuffle(order);
        return (train.Subset(order.Take(holdout)), train.Subset(order.Skip(holdout)));
    }

    /// <summary>A candidate's score: correct held-out predictions after surgery, recalibration (<see cref="Recalibration"/>) and
    /// <see cref="SearchBudget.TrainBatches"/> batches of training (the fine-tune's optimiser and rate, held
    /// constant) on the first samples of the non-held-out slice. <paramref name="schedule"/>: the proxy study
    /// (bench/Pfa.Bench/ProxyStudy.cs) compares the constant rate with one annealed over those batches.</summary>
    public static int Score(PfaNetwork network, Recipe recipe, BudgetFile budget, Dataset held, Dataset rest, int batchSize,
        Training.ScheduleKind schedule = Training.ScheduleKind.Constant)
    {
        var b = budget.Budget;
        var (_, candidate) = ChannelSurgery.Apply(network, recipe);
        using (candidate)
        {
            Recalibration.Run(network, candidate, rest, Recalibrate(budget), batchSize, b.Seed);
            int batches = b.EffectiveSearch.TrainBatches;
            if (batches > 0)
            {
                var options = b.TrainOptions() with { Epochs = 1, Schedule = schedule, Distill = null };
                using var slice = rest.Subset(Enumerable.Range(0, Math.Min(rest.Count, batches * options.BatchSize)));
                Training.Trainer.Train(candidate, slice, options);
            }
            return (int)Math.Round(Evaluator.Evaluate(candidate, held, 256).Top1 * held.Count);
        }
    }
}

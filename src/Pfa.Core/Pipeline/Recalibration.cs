using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;

namespace Pfa.Core.Pipeline;

/// <summary>
/// What a compressed network gets after surgery and before fine-tuning, and what each search candidate gets before it
/// is scored (pfa.json's <c>recalibrate</c>): its batch-norm statistics re-estimated (<see cref="BatchNormRecalibration"/>),
/// then its classifier re-fitted to the original's logits (<see cref="ClassifierRefit"/>), both on the same seeded
/// training batches, without labels or gradients.
/// </summary>
public static class Recalibration
{
    /// <summary>Training batches run (0: nothing was recalibrated), and what was fitted of the classifier
    /// ("bias", "refit"; null: nothing).</summary>
    public readonly record struct Result(int Batches, string? Classifier);

    /// <summary>What was done, for the compress line and the reports: "batch norms, classifier bias".</summary>
    public static string Describe(string? classifier) => classifier switch
    {
        RecalibrateBudget.Bias => "batch norms, classifier bias",
        RecalibrateBudget.Refit => "batch norms, classifier re-fitted",
        _ => "batch norms",
    };

    public static Result Run(PfaNetwork original, PfaNetwork compressed, Dataset data, RecalibrateBudget budget, int batchSize, int seed)
    {
        int batches = BatchNormRecalibration.Run(compressed, data, budget.Batches, batchSize, seed);
        int fitted = budget.Classifier == RecalibrateBudget.None ? 0
            : ClassifierRefit.Run(original, compressed, data, budget.Batches, batchSize, seed, weights: budget.Classifier == RecalibrateBudget.Refit);
        return new Result(Math.Max(batches, fitted), fitted > 0 ? budget.Classifier : null);
    }
}

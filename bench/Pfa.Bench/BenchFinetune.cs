using System.Diagnostics;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>One compressed model fine-tuned as compress does it, for the quality and residual benches: surgery with
/// the seed, recalibration (batch norms and classifier, the pipeline's default), the fine-tune budget (optionally
/// distilling the original), then top-1 on the test images. Seconds include the recalibration.</summary>
public static class BenchFinetune
{
    public static (double Accuracy, double Seconds) Run(PfaNetwork network, Recipe recipe, int seed, Dataset data, Dataset test, FinetuneBudget finetune, bool distill)
    {
        var (_, model) = ChannelSurgery.Apply(network, recipe with { Strategy = recipe.Strategy with { Seed = seed } });
        using var _m = model;
        var options = new PfaBudget { Seed = seed, Finetune = distill ? finetune with { Distill = new DistillOptions() } : finetune }.TrainOptions();
        var watch = Stopwatch.StartNew();
        Recalibration.Run(network, model, data, new RecalibrateBudget(), 128, seed);
        Trainer.Train(model, data, options, teacher: distill ? network : null);
        double seconds = watch.Elapsed.TotalSeconds;
        return (Evaluator.Evaluate(model, test).Top1 * 100, seconds);
    }
}

using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Pipeline;

/// <summary>
/// The second half of recalibration: the network's output layer fitted to the original network's logits. Batch-norm
/// recalibration restores each normalised channel's statistics, but the classifier has no batch norm after it: the
/// features it reads are the pruned network's, not the ones its weights were trained on. Two fits, on the same seeded
/// training batches that re-estimated the batch norms (inputs only: no labels, no gradients):
/// <list type="bullet">
/// <item>the bias only (the default): moved so the mean logits are the original's; the weights stay as surgery left
/// them. ResNet-20 (projection) at half its parameters, uniform + ℓ1: 44.9% → 52.9% before fine-tuning, and the same
/// accuracy after it (bench/results/recalibration-study.md);</item>
/// <item>weights and bias (<c>"refit"</c>): as ThiNet (Luo et al., ICCV 2017) and channel pruning (He et al., ICCV 2017)
/// reconstruct a layer's output from the channels that remain, the ridge least-squares fit of the original's logits
/// from the compressed network's features. Centred, so the bias is not shrunk; the ridge is <see cref="Ridge"/> times
/// the features' mean variance, which keeps a fit with more features than samples solvable. The same model: 44.9% →
/// 81.6% before fine-tuning, but fine-tuned from there it ends lower (the study): for a model that is not fine-tuned.</item>
/// </list>
/// A fit is kept only when, with it, the compressed network predicts what the original predicts on more of those
/// samples than without it (no labels needed): fitting the mean logits can hurt when surgery shrank their spread (the
/// end-to-end tests' small CNN: 45.7% → 19.9%, and 6 pp lower after fine-tuning, where the ResNets gain).
/// Sums are accumulated in float64, so memory is (features + 1)² however many samples are used.
/// </summary>
public static class ClassifierRefit
{
    /// <summary>Ridge, relative to the mean variance of the classifier's input features.</summary>
    public const double Ridge = 1e-3;

    /// <summary>Larger inputs are left alone: the normal equations would take (features)² doubles.</summary>
    public const int MaxFeatures = 8192;

    /// <summary>Why the output layer of <paramref name="graph"/> cannot be re-fitted, or null when it can.</summary>
    public static string? NotApplicable(ModelGraph graph)
    {
        var last = graph.Nodes[^1];
        if (last.Type != LayerType.Linear) return $"the output layer '{last.Name}' is a {last.Type}, not a linear layer";
        if (last.InShape[0] > MaxFeatures) return $"the output layer '{last.Name}' reads {last.InShape[0]:N0} features, more than {MaxFeatures:N0}";
        return null;
    }

    /// <summary>A sum of squares plus <see cref="Ridge"/> times its mean diagonal (the features' mean variance times the
    /// samples) on the diagonal.</summary>
    static Tensor Ridged(Tensor sumOfSquares, int features)
    {
        using var ridge = (Ridge * Math.Max(sumOfSquares.diagonal().sum().item<double>() / features, 1e-12)).ToScalar();
        return sumOfSquares.add(eye(features, dtype: float64).mul(ridge), KeptScalars.One);
    }

    /// <summary>Re-fits <paramref name="compressed"/>'s output layer; both networks must give the same number of outputs.</summary>
    /// <returns>How many batches the fit used (0 when <see cref="NotApplicable"/>, or when it was left as it was).</returns>
    /// <param name="weights">Re-fit the weights and the bias (the ridge fit), or only the bias (<c>false</c>): the
    /// mean logits on the batches become the original's, which moves nothing else.</param>
    public static int Run(PfaNetwork original, PfaNetwork compressed, Dataset data, int batches, int batchSize, int seed, bool weights = true)
    {
        if (NotApplicable(compressed.Graph) is not null || batches <= 0) return 0;
        if (!weights && compressed.Layer(compressed.Graph.Nodes[^1].Index) is TorchSharp.Modules.Linear { bias: null }) return 0;
        var last = compressed.Graph.Nodes[^1];
        var linear = (TorchSharp.Modules.Linear)compressed.Layer(last.Index)!;
        int features = last.InShape[0], classes = last.OutShape[0];
        using var gram = zeros(features + 1, features + 1, dtype: float64);      // Σ [f 1]ᵀ[f 1]
        using var cross = zeros(features + 1, classes, dtype: float64);          // Σ [f 1]ᵀ z
        bool originalTraining = original.training;
        original.eval();
        compressed.eval();
        int run = 0;
        long agreedBefore = 0;
        var originalClasses = new List<Tensor>();          // the original's prediction per sample, batch by batch
        try
        {
            using var _ = no_grad();
            foreach (var batch in data.ShuffledBatches(batchSize, new Random(seed)))
            {
                using var scope = NewDisposeScope();
                using var __ = batch;
                Tensor? input = null;
                var output = compressed.Forward(batch.X, (node, y) => { if (node.Index == last.Inputs[0]) input = y.flatten(1).to(float64).clone(); });
                var a = cat([input!, ones(input!.shape[0], 1, dtype: float64)], 1);
                var logits = original.forward(batch.X);
                gram.add_(a.t().matmul(a), KeptScalars.One);
                cross.add_(a.t().matmul(logits.to(float64)), KeptScalars.One);
                var predicted = logits.argmax(1);
                agreedBefore += output.argmax(1).eq(predicted).sum().item<long>();
                originalClasses.Add(predicted.MoveToOuterDisposeScope());
                if (++run >= batches) break;
            }
        }
        finally
        {
            if (originalTraining) original.train();
        }
        try
        {
            if (run == 0) return 0;
            using var before = Parameters(linear);
            Fit(linear, gram, cross, features, classes, weights);
            // Kept only when the compressed network agrees with the original's predictions on more of these samples
            // than before: a fit of the means can hurt when surgery shrank the logits' spread (a small CNN, 45.7% →
            // 19.9%, where the ResNets gain), and the original's predictions need no labels.
            if (Agreement(compressed, data, batchSize, seed, originalClasses) > agreedBefore) return run;
            before.Restore();
            return 0;
        }
        finally
        {
            foreach (var t in originalClasses) t.Dispose();
        }
    }

    /// <summary>Samples of the recalibration batches on which <paramref name="compressed"/> predicts what the original did.</summary>
    static long Agreement(PfaNetwork compressed, Dataset data, int batchSize, int seed, List<Tensor> originalClasses)
    {
        using var _ = no_grad();
        long agreed = 0;
        int i = 0;
        foreach (var batch in data.ShuffledBatches(batchSize, new Random(seed)))
        {
            using var scope = NewDisposeScope();
            using var __ = batch;
            agreed += compressed.forward(batch.X).argmax(1).eq(originalClasses[i]).sum().item<long>();
            if (++i >= originalClasses.Count) break;
        }
        return agreed;
    }

    /// <summary>A copy of the layer's weight and bias, put back by <see cref="Restore"/>.</summary>
    sealed class Saved(TorchSharp.Modules.Linear linear) : IDisposable
    {
        readonly Tensor _weight = linear.weight!.detach().clone();
        readonly Tensor? _bias = linear.bias?.detach().clone();
        public void Restore()
        {
            using var _ = no_grad();
            linear.weight!.copy_(_weight);
            if (_bias is not null) linear.bias!.copy_(_bias);
        }
        public void Dispose() { _weight.Dispose(); _bias?.Dispose(); }
    }

    static Saved Parameters(TorchSharp.Modules.Linear linear) => new(linear);

    /// <summary>Solves for the layer's new weight and bias from the sums and writes them (unless not finite).</summary>
    static void Fit(TorchSharp.Modules.Linear linear, Tensor gram, Tensor cross, int features, int classes, bool weights)
    {
        using (var scope = NewDisposeScope())
        {
            double n = gram[features, features].item<double>();
            using var count = n.ToScalar();
            using var minusCount = (-n).ToScalar();
            var meanF = gram[features, ..features].div(count);
            var meanZ = cross[features].div(count);
            Tensor weight, bias;
            if (!weights)
            {
                // The bias only: the mean logits become the original's, the weights stay as surgery left them.
                weight = linear.weight!.detach().to(float64).t();
                bias = meanZ - meanF.matmul(weight);
            }
            else if (linear.bias is not null)
            {
                // Centred: the bias is the means' difference, not shrunk by the ridge.
                var covariance = gram[..features, ..features].add(outer(meanF, meanF), minusCount);
                weight = linalg.solve(Ridged(covariance, features), cross[..features].add(outer(meanF, meanZ), minusCount));
                bias = meanZ - meanF.matmul(weight);
            }
            else
            {
                var second = gram[..features, ..features];
                weight = linalg.solve(Ridged(second, features), cross[..features]);
                bias = zeros(classes, dtype: float64);
            }
            // Features that are not finite (a diverged input model) leave the classifier as it was; NonFinite reports them.
            if (!weight.isfinite().all().item<bool>() || !bias.isfinite().all().item<bool>()) return;
            using var ___ = no_grad();
            linear.weight!.copy_(weight.t().to(linear.weight.dtype));
            if (linear.bias is { } b) b.copy_(bias.to(b.dtype));
        }
    }
}

using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using static TorchSharp.torch;

namespace Pfa.Core.Evaluation;

/// <summary>Top-1 and top-5 accuracy (fractions in [0, 1]) over a number of samples.</summary>
public sealed record Accuracy(double Top1, double Top5, long Samples);

public static class Evaluator
{
    /// <summary>Runs the network in eval mode without gradients over the whole dataset.</summary>
    /// <param name="network">The model to evaluate.</param>
    /// <param name="data">Samples and labels.</param>
    /// <param name="batchSize">Samples per forward pass.</param>
    /// <param name="progress">Called after each batch with (samples done, samples in all).</param>
    public static Accuracy Evaluate(PfaNetwork network, Dataset data, int batchSize = 256, Action<long, long>? progress = null)
    {
        int classes = network.Graph.OutputShape.Length == 1 ? network.Graph.OutputShape[0]
            : throw new PfaException(ErrorCodes.InvalidModel, $"the model's output has shape [{string.Join(", ", network.Graph.OutputShape)}]; accuracy needs class scores [classes].");
        data.CheckLabels(classes);
        bool wasTraining = network.training;
        network.eval();
        long top1 = 0, top5 = 0, n = 0;
        int k = Math.Min(5, classes);
        using (no_grad())
        {
            foreach (var batch in data.Batches(batchSize))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                var logits = network.forward(batch.X);
                var (_, topk) = logits.topk(k, dim: 1);
                var hits = topk.eq(batch.Y.unsqueeze(1));
                top1 += hits.narrow(1, 0, 1).sum().item<long>();
                top5 += hits.sum().item<long>();
                n += batch.Size;
                progress?.Invoke(n, data.Count);
            }
        }
        if (wasTraining) network.train();
        return new Accuracy((double)top1 / n, (double)top5 / n, n);
    }
}

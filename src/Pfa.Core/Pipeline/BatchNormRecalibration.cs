using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Model.Modules;
using static TorchSharp.torch;

namespace Pfa.Core.Pipeline;

/// <summary>
/// Re-estimates every batch norm's running statistics after surgery. Removing channels changes what each batch
/// norm after a pruned layer (and each residual sum's) sees, so the statistics recorded on the full network no
/// longer describe their inputs and a compressed ResNet is at chance before fine-tuning. The "adaptive BN" step of
/// EagleEye (Li et al., ECCV 2020) and NVIDIA ModelOpt's <c>_reset_bn</c>: statistics reset, then a cumulative
/// (equal-weight) average over a number of training batches, forward only, no gradients, every other layer in
/// eval mode (dropout off). Deterministic for a seed: the batches are a seeded shuffle of the training data.
/// </summary>
public static class BatchNormRecalibration
{
    /// <returns>How many batches were run (fewer when the data has fewer).</returns>
    public static int Run(PfaNetwork network, Dataset data, int batches, int batchSize, int seed)
    {
        var norms = network.modules().OfType<SafeBatchNorm>().ToList();
        if (norms.Count == 0 || batches <= 0) return 0;
        var momenta = norms.Select(n => n.momentum).ToList();
        int run = 0;
        try
        {
            network.eval();
            foreach (var n in norms)
            {
                n.reset_running_stats();
                n.momentum = null;          // cumulative average: every batch weighs the same
                n.train();
            }
            using var _ = no_grad();
            foreach (var batch in data.ShuffledBatches(batchSize, new Random(seed)))
            {
                using var scope = NewDisposeScope();
                using var __ = batch;
                network.forward(batch.X);
                if (++run >= batches) break;
            }
        }
        finally
        {
            for (int i = 0; i < norms.Count; i++) norms[i].momentum = momenta[i];
            network.eval();
        }
        return run;
    }
}

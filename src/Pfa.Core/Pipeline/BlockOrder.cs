using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Surgery;

namespace Pfa.Core.Pipeline;

/// <summary>
/// Which identity residual blocks to remove first (<see cref="BlockRemoval"/>): measured, because nothing in the
/// weights says it — on the residual bench's ResNet-20s the block whose branch writes the most energy (Σ γ² + β² of
/// its last batch norm, layer3.2) was the least harmful to remove and the first block (layer1.0) the most
/// (bench/results/depth-study.md). Each block is removed alone, the batch norms recalibrated (the EagleEye step,
/// no training), and the model scored on held-out data; least harmful first, the graph's order among equals.
/// </summary>
public static class BlockOrder
{
    public sealed record Scored(BlockRemoval.Block Block, int Correct);

    /// <summary>The removable blocks of <paramref name="network"/>, least harmful first, with their held-out scores.</summary>
    public static IReadOnlyList<Scored> Measure(PfaNetwork network, Dataset held, Dataset recalibration, int batches, int batchSize, int seed) =>
        BlockRemoval.Blocks(network.Graph).Select(block =>
        {
            var (_, without) = BlockRemoval.Apply(network, [block.Sum]);
            using (without)
            {
                BatchNormRecalibration.Run(without, recalibration, batches, batchSize, seed);
                return new Scored(block, (int)Math.Round(Evaluator.Evaluate(without, held, 256).Top1 * held.Count));
            }
        }).OrderByDescending(s => s.Correct).ToList();   // OrderBy is stable: the graph's order among equals
}

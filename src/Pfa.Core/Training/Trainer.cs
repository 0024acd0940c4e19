using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>Progress of one epoch.</summary>
public sealed record EpochReport(int Epoch, double Loss, double TrainAccuracy, double LearningRate, TimeSpan Elapsed);

/// <summary>
/// Cross-entropy training of a <see cref="PfaNetwork"/>: used to fine-tune compressed models and by the
/// example. Seeded: the same options, data and start weights give the same weights on CPU.
/// </summary>
public static class Trainer
{
    /// <param name="network">The model to train (left in eval mode).</param>
    /// <param name="data">Training samples and labels.</param>
    /// <param name="o">Optimiser, schedule, epochs, augmentation and seed.</param>
    /// <param name="progress">Called after each epoch.</param>
    /// <param name="batchProgress">Called after each batch with (samples done in this epoch, samples per epoch).</param>
    /// <param name="teacher">With <see cref="TrainOptions.Distill"/>: the model whose soft targets are distilled (run in eval mode).</param>
    public static IReadOnlyList<EpochReport> Train(nn.Module<Tensor, Tensor> network, Dataset data, TrainOptions o, Action<EpochReport>? progress = null,
        Action<long, long>? batchProgress = null, nn.Module<Tensor, Tensor>? teacher = null)
    {
        if (o.Distill is not null && teacher is null) throw new ArgumentException("distillation needs the teacher model", nameof(teacher));
        Native.ConvolutionCheck.Ensure(); // a user's own module (not a PfaNetwork) trains on the checked path too
        teacher?.eval();
        torch.manual_seed(o.Seed);
        var random = new Random(o.Seed);
        var parameters = network.parameters().ToList();
        using var optimizer = Optimizers.Create(parameters, o);
        using var counters = new BatchCounters(network);
        var loss = nn.CrossEntropyLoss();
        int stepsPerEpoch = (data.Count + o.BatchSize - 1) / o.BatchSize;
        int totalSteps = stepsPerEpoch * o.Epochs;
        var reports = new List<EpochReport>();
        int step = 0;
        network.train();
        for (int epoch = 0; epoch < o.Epochs; epoch++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            double lossSum = 0; long correct = 0, seen = 0;
            double lr = o.LearningRate;
            foreach (var batch in data.ShuffledBatches(o.BatchSize, random))
            {
                using var scope = NewDisposeScope();
                using var _ = batch;
                lr = LearningRate(o, step, epoch, totalSteps);
                var x = Augment(batch.X, o, random);
                optimizer.ZeroGrad();
                var logits = network.call(x);
                if (step == 0) data.CheckLabels(logits.shape[^1]);
                Tensor l;
                if (o.Distill is { } distill)
                {
                    Tensor soft;
                    using (no_grad()) soft = teacher!.call(x);
                    l = Distillation.Loss(logits, soft, batch.Y, distill);
                }
                else l = loss.call(logits, batch.Y);
                double lossValue = l.item<float>();
                if (!double.IsFinite(lossValue))
                    throw new PfaException(ErrorCodes.Diverged, string.Create(CultureInfo.InvariantCulture,
                        $"fine-tuning diverged: the loss became {lossValue} in epoch {epoch + 1}, step {step + 1} (learning rate {lr:g4}). Lower 'finetune.learning_rate' (e.g. to {o.LearningRate / 10:g3}) or use the default schedule."));
                l.backward();
                optimizer.Step(lr);
                counters.Count();
                lossSum += lossValue * batch.Size;
                correct += logits.argmax(1).eq(batch.Y).sum().item<long>();
                seen += batch.Size;
                step++;
                batchProgress?.Invoke(seen, data.Count);
            }
            var report = new EpochReport(epoch + 1, lossSum / seen, (double)correct / seen, lr, watch.Elapsed);
            reports.Add(report);
            progress?.Invoke(report);
        }
        network.eval();
        return reports;
    }

    /// <summary>Learning rate at a step: constant, step decay per <c>StepEpochs</c>, or cosine to 0 over the run.</summary>
    public static double LearningRate(TrainOptions o, int step, int epoch, int totalSteps) => o.Schedule switch
    {
        ScheduleKind.Step => o.LearningRate * Math.Pow(o.StepGamma, epoch / Math.Max(1, o.StepEpochs)),
        ScheduleKind.Cosine => 0.5 * o.LearningRate * (1 + Math.Cos(Math.PI * step / Math.Max(1, totalSteps))),
        _ => o.LearningRate,
    };

    /// <summary>Random crop after zero padding and random horizontal flip, per sample (PFA appendix C.2).</summary>
    static Tensor Augment(Tensor x, TrainOptions o, Random random)
    {
        if (x.dim() != 4 || (o.CropPadding <= 0 && !o.HorizontalFlip)) return x;
        long n = x.shape[0], h = x.shape[2], w = x.shape[3];
        int p = o.CropPadding;
        var padded = p > 0 ? nn.functional.pad(x, [p, p, p, p]) : x;
        var samples = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            var s = padded[i];
            if (p > 0) s = s.narrow(1, random.Next(2 * p + 1), h).narrow(2, random.Next(2 * p + 1), w);
            if (o.HorizontalFlip && random.Next(2) == 1) s = s.flip(2);
            samples[i] = s;
        }
        return stack(samples);
    }
}

using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>pfa.json's <c>finetune.distill</c>: the original model teaches the compressed one.</summary>
public sealed record DistillOptions
{
    /// <summary>Softmax temperature T of the soft targets (Hinton et al. 2015 use 1–20).</summary>
    public double Temperature { get; init; } = 4;
    /// <summary>Weight α of the soft-target term; 1 − α weighs the cross-entropy with the labels.</summary>
    public double Alpha { get; init; } = 0.5;
}

/// <summary>
/// Knowledge distillation (Hinton, Vinyals, Dean 2015, "Distilling the knowledge in a neural network", §2): the
/// loss is (1 − α)·CE(z_s, y) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)), the KL averaged over the batch; the T²
/// keeps the soft term's gradients at the scale of the hard term's as T changes.
/// </summary>
public static class Distillation
{
    public static Tensor Loss(Tensor student, Tensor teacher, Tensor labels, DistillOptions o)
    {
        using var t = o.Temperature.ToScalar();
        using var soft = (o.Alpha * o.Temperature * o.Temperature).ToScalar();
        using var hard = (1 - o.Alpha).ToScalar();
        using var batch = ((double)student.shape[0]).ToScalar();
        var logStudent = nn.functional.log_softmax(student.div(t), 1);
        var logTeacher = nn.functional.log_softmax(teacher.div(t), 1);
        // KL(p_t ‖ p_s) = Σ p_t (log p_t − log p_s), summed over classes, averaged over the batch.
        var kl = logTeacher.exp().mul(logTeacher.sub(logStudent)).sum().div(batch);
        var ce = nn.functional.cross_entropy(student, labels);
        return ce.mul(hard).add(kl.mul(soft), KeptScalars.One);
    }
}

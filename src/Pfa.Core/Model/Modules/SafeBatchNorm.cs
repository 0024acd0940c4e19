using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Pfa.Core.Model.Modules;

/// <summary>
/// A batch norm (affine, running statistics; PyTorch's state_dict keys) whose training step counts batches with a
/// kept scalar. TorchSharp's BatchNorm1d/2d do <c>num_batches_tracked.add_(1)</c>, a temporary Scalar that a
/// garbage collection can free during the native call (<see cref="KeptScalars"/>). The engine's networks and the
/// shipped residual blocks use this one; <c>PfaModel.Export</c> describes both kinds.
/// <para><c>momentum</c> null is PyTorch's cumulative average: the running statistics become the plain mean over
/// the batches seen since <see cref="TorchSharp.Modules.NormBase.reset_running_stats"/>.</para>
/// </summary>
public sealed class SafeBatchNorm : TorchSharp.Modules.BatchNorm
{
    /// <summary>True for BatchNorm2d ([N, C, H, W]), false for BatchNorm1d ([N, C] or [N, C, L]).</summary>
    public bool Image { get; }

    SafeBatchNorm(long features, double eps, double? momentum, bool image)
        : base(features, eps, momentum ?? 0.1, affine: true, track_running_stats: true, device: null, dtype: null, name: image ? "BatchNorm2d" : "BatchNorm1d")
    {
        Image = image;
        this.momentum = momentum;
    }

    /// <summary>nn.BatchNorm2d's equivalent.</summary>
    public static SafeBatchNorm BatchNorm2d(long features, double eps = 1e-5, double? momentum = 0.1) => new(features, eps, momentum, image: true);

    /// <summary>nn.BatchNorm1d's equivalent.</summary>
    public static SafeBatchNorm BatchNorm1d(long features, double eps = 1e-5, double? momentum = 0.1) => new(features, eps, momentum, image: false);

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (Image ? input.ndim != 4 : input.ndim is not (2 or 3))
            throw new ArgumentException($"expected {(Image ? "4D" : "2D or 3D")} input (got {input.ndim}D input)");
    }

    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        double factor = momentum ?? 0.0;
        if (training)
        {
            using (no_grad()) num_batches_tracked!.add_(KeptScalars.OneInteger, KeptScalars.OneInteger);
            if (momentum is null) factor = 1.0 / num_batches_tracked!.item<long>();
        }
        return F.batch_norm(input, running_mean, running_var, weight, bias, training, factor, eps);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Model.Modules;

/// <summary>
/// LeakyReLU whose slope is a scalar the module owns. TorchSharp's <c>nn.LeakyReLU</c> converts its slope to a
/// temporary Scalar at every call, which a garbage collection can free during the native call
/// (<see cref="Native.KeptScalars"/>).
/// </summary>
public sealed class SafeLeakyReLU(double negativeSlope) : nn.Module<Tensor, Tensor>("LeakyReLU")
{
    readonly Scalar _slope = negativeSlope.ToScalar();

    public double NegativeSlope => negativeSlope;

    public override Tensor forward(Tensor input) => input.leaky_relu(_slope);

    protected override void Dispose(bool disposing)
    {
        if (disposing) _slope.Dispose();
        base.Dispose(disposing);
    }
}

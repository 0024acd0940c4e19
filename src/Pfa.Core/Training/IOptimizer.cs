using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>
/// One parameter update per call. Our own instead of TorchSharp's <c>optim.SGD</c>/<c>optim.Adam</c>: their steps
/// pass every coefficient as a temporary Scalar that a garbage collection can free during the native call
/// (see <see cref="Native.KeptScalars"/>); these own each scalar for the length of the step.
/// </summary>
public interface IOptimizer : IDisposable
{
    /// <summary>Updates every parameter that has a gradient, at learning rate <paramref name="learningRate"/>.</summary>
    void Step(double learningRate);

    /// <summary>Zeroes the parameters' gradients.</summary>
    void ZeroGrad();
}

/// <summary>The optimizer <see cref="TrainOptions"/> asks for.</summary>
public static class Optimizers
{
    public static IOptimizer Create(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, TrainOptions o) => o.Optimizer == OptimizerKind.Adam
        ? new Adam(parameters, o.WeightDecay)
        : new Sgd(parameters, o.Momentum, o.Nesterov && o.Momentum > 0, o.WeightDecay);

    internal static void ZeroGrad(IReadOnlyList<TorchSharp.Modules.Parameter> parameters)
    {
        foreach (var p in parameters)
            p.grad?.zero_();
    }
}

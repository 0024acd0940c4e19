using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>
/// Adam as PyTorch's <c>torch.optim.Adam</c> (L2 weight decay added to the gradient, no AMSGrad, β = 0.9, 0.999,
/// ε = 1e-8): m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², p = p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
/// Same numbers as TorchSharp's <c>optim.Adam</c> (test: <c>OptimizerTests</c>).
/// </summary>
public sealed class Adam(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, double weightDecay, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : IOptimizer
{
    readonly Tensor?[] _mean = new Tensor?[parameters.Count];
    readonly Tensor?[] _square = new Tensor?[parameters.Count];
    long _steps;

    public void Step(double learningRate)
    {
        using var _ = no_grad();
        _steps++;
        double correction1 = 1 - Math.Pow(beta1, _steps), correction2 = 1 - Math.Pow(beta2, _steps);
        using var decay = weightDecay.ToScalar();
        using var b1 = beta1.ToScalar();
        using var rest1 = (1 - beta1).ToScalar();
        using var b2 = beta2.ToScalar();
        using var rest2 = (1 - beta2).ToScalar();
        using var root2 = Math.Sqrt(correction2).ToScalar();
        using var epsilon = eps.ToScalar();
        using var step = (-learningRate / correction1).ToScalar();
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (p.grad is not { } gradient) continue;
            using var scope = NewDisposeScope();
            var g = weightDecay != 0 ? gradient.add(p, decay) : gradient;
            var m = _mean[i] ??= zeros_like(p).DetachFromDisposeScope();
            var v = _square[i] ??= zeros_like(p).DetachFromDisposeScope();
            m.mul_(b1).add_(g, rest1);
            v.mul_(b2).addcmul_(g, g, rest2);
            var denominator = v.sqrt().div_(root2).add_(epsilon, KeptScalars.One);
            p.addcdiv_(m, denominator, step);
        }
    }

    public void ZeroGrad() => Optimizers.ZeroGrad(parameters);

    public void Dispose()
    {
        foreach (var t in _mean.Concat(_square)) t?.Dispose();
    }
}

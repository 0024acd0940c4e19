using Pfa.Core.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Core.Training;

/// <summary>
/// Stochastic gradient descent as PyTorch's <c>torch.optim.SGD</c> (dampening 0): g = ∇ + λ·p; with momentum μ,
/// b = g at the first step, then b = μ·b + g; Nesterov: g = g + μ·b, else g = b; p = p − lr·g.
/// Same numbers as TorchSharp's <c>optim.SGD</c> (test: <c>OptimizerTests</c>).
/// </summary>
public sealed class Sgd(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, double momentum, bool nesterov, double weightDecay) : IOptimizer
{
    readonly Tensor?[] _buffers = new Tensor?[parameters.Count];

    public void Step(double learningRate)
    {
        using var _ = no_grad();
        using var decay = weightDecay.ToScalar();
        using var mu = momentum.ToScalar();
        using var step = (-learningRate).ToScalar();
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (p.grad is not { } gradient) continue;
            using var scope = NewDisposeScope();
            var g = weightDecay != 0 ? gradient.add(p, decay) : gradient;
            if (momentum != 0)
            {
                if (_buffers[i] is not { } b)
                    _buffers[i] = b = g.clone().detach().DetachFromDisposeScope();
                else
                    b.mul_(mu).add_(g, KeptScalars.One);
                g = nesterov ? g.add(b, mu) : b;
            }
            p.add_(g, step);
        }
    }

    public void ZeroGrad() => Optimizers.ZeroGrad(parameters);

    public void Dispose()
    {
        foreach (var b in _buffers) b?.Dispose();
    }
}

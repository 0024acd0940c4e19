using Pfa.Core.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace Pfa.Tests;

/// <summary>The unusable-model check compress runs before writing anything: a NaN in a batch-norm running statistic
/// (a buffer, not a parameter) is found as well as one in a weight; a wrong convolution on a Zen 5 CPU once left
/// NaN running means after recalibration and a model of 0% accuracy was written with exit 0.</summary>
public sealed class NonFiniteTests
{
    static nn.Module<Tensor, Tensor> Net() => nn.Sequential(("c", nn.Conv2d(1, 3, 3)), ("b", nn.BatchNorm2d(3)), ("f", nn.Flatten()), ("l", nn.Linear(12, 2)));

    [Fact]
    public void A_clean_model_has_none() { using var net = Net(); Assert.Null(NonFinite.FirstIn(net)); }

    [Theory]
    [InlineData("b.running_mean", double.NaN)]
    [InlineData("b.running_var", double.PositiveInfinity)]
    [InlineData("c.weight", double.NaN)]
    [InlineData("l.bias", double.NegativeInfinity)]
    public void A_non_finite_parameter_or_buffer_is_named(string name, double value)
    {
        using var net = Net();
        var state = net.state_dict();
        using (no_grad()) state[name][0] = value;
        Assert.Equal(name, NonFinite.FirstIn(net));
    }
}

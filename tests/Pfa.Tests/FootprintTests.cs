using Pfa.Core.Metrics;
using Pfa.Core.Model;

namespace Pfa.Tests;

public class FootprintTests
{
    /// <summary>The CIFAR VGG-16 of PFA §4.1: 13 conv layers 3×3/pad 1, max-pool after each block.</summary>
    static ModelDescription Vgg16(bool bias)
    {
        int[][] blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];
        var layers = new List<LayerSpec>();
        foreach (var block in blocks)
        {
            foreach (var width in block)
            {
                layers.Add(new LayerSpec { Type = LayerType.Conv2d, Out = width, Kernel = 3, Padding = 1, Bias = bias });
                layers.Add(new LayerSpec { Type = LayerType.BatchNorm2d });
                layers.Add(new LayerSpec { Type = LayerType.ReLU });
            }
            layers.Add(new LayerSpec { Type = LayerType.MaxPool2d, Kernel = 2 });
        }
        layers.Add(new LayerSpec { Type = LayerType.Flatten });
        layers.Add(new LayerSpec { Type = LayerType.Linear, Out = 512 });
        layers.Add(new LayerSpec { Type = LayerType.ReLU });
        layers.Add(new LayerSpec { Type = LayerType.Linear, Out = 10 });
        return new ModelDescription { Input = [3, 32, 32], Layers = layers };
    }

    [Fact]
    public void Vgg16_conv_weights_and_macs_match_the_hand_computed_totals()
    {
        var cost = ModelCost.Of(Vgg16(bias: false));
        var convs = cost.Layers.Where(l => l.Type == LayerType.Conv2d).ToList();
        Assert.Equal(13, convs.Count);
        Assert.Equal(14_710_464, convs.Sum(l => l.Parameters));
        Assert.Equal(313_196_544, convs.Sum(l => l.Macs));
        // With biases: + (2·64 + 2·128 + 3·256 + 6·512) = 4,224 parameters, MACs unchanged.
        var withBias = ModelCost.Of(Vgg16(bias: true)).Layers.Where(l => l.Type == LayerType.Conv2d).ToList();
        Assert.Equal(14_710_464 + 4_224, withBias.Sum(l => l.Parameters));
        Assert.Equal(313_196_544, withBias.Sum(l => l.Macs));
    }

    [Fact]
    public void Small_cnn_matches_a_hand_count()
    {
        // conv 1→8 k3 p1 on 1×10×10: weights 72 + bias 8 = 80; MACs 72·100 = 7,200
        // bn 8: 16 params
        // conv 8→4 k3 s2 groups 2 (no bias) on 8×10×10 → 4×5×5: weights 4·4·9 = 144; MACs 144·25 = 3,600
        // flatten 100 → linear 5: 500 + 5 = 505; MACs 500
        var d = new ModelDescription
        {
            Input = [1, 10, 10],
            Layers =
            [
                new LayerSpec { Type = LayerType.Conv2d, Out = 8, Kernel = 3, Padding = 1 },
                new LayerSpec { Type = LayerType.BatchNorm2d },
                new LayerSpec { Type = LayerType.ReLU },
                new LayerSpec { Type = LayerType.Conv2d, Out = 4, Kernel = 3, Padding = 1, Stride = 2, Groups = 2, Bias = false },
                new LayerSpec { Type = LayerType.Flatten },
                new LayerSpec { Type = LayerType.Linear, Out = 5 },
            ],
        };
        var cost = ModelCost.Of(d);
        Assert.Equal([80L, 16, 0, 144, 0, 505], cost.Layers.Select(l => l.Parameters));
        Assert.Equal([7_200L, 0, 0, 3_600, 0, 500], cost.Layers.Select(l => l.Macs));
        Assert.Equal(745, cost.Parameters);
        Assert.Equal(11_300, cost.Macs);
        Assert.Equal(22_600, cost.Flops);
        // The count agrees with TorchSharp's own trainable parameters.
        using var net = new PfaNetwork(d);
        Assert.Equal(cost.Parameters, net.parameters().Sum(p => p.numel()));
    }
}

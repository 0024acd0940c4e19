using Pfa.Core.Model;

namespace Pfa.Bench;

/// <summary>The architectures the benchmarks use.</summary>
public static class Models
{
    /// <summary>Debian's dataset-fashion-mnist, the data of every benchmark.</summary>
    public const string FashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>The VGG-style CNN of samples/FashionMnistVgg (6 conv layers 32…128, two linear).</summary>
    public static ModelDescription FashionVgg() => ModelDescription.Parse("""
    { "schema": "pfa.model/1", "name": "fashion-vgg6", "input": [1, 28, 28],
      "normalize": { "mean": [0.286], "std": [0.353] }, "layers": [
      { "name": "conv1", "type": "conv2d", "out": 32, "kernel": 3, "padding": 1 }, { "name": "bn1", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "conv2", "type": "conv2d", "out": 32, "kernel": 3, "padding": 1 }, { "name": "bn2", "type": "batchnorm2d" }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 },
      { "name": "conv3", "type": "conv2d", "out": 64, "kernel": 3, "padding": 1 }, { "name": "bn3", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "conv4", "type": "conv2d", "out": 64, "kernel": 3, "padding": 1 }, { "name": "bn4", "type": "batchnorm2d" }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 },
      { "name": "conv5", "type": "conv2d", "out": 128, "kernel": 3, "padding": 1 }, { "name": "bn5", "type": "batchnorm2d" }, { "type": "relu" },
      { "name": "conv6", "type": "conv2d", "out": 128, "kernel": 3, "padding": 1 }, { "name": "bn6", "type": "batchnorm2d" }, { "type": "relu" },
      { "type": "maxpool2d", "kernel": 2 }, { "type": "flatten" },
      { "name": "fc1", "type": "linear", "out": 256 }, { "type": "relu" }, { "type": "dropout", "p": 0.3 },
      { "name": "fc2", "type": "linear", "out": 10 } ] }
    """);

    /// <summary>The CIFAR VGG-16 of PFA §4.1 (13 conv layers 64…512).</summary>
    public static ModelDescription Vgg16()
    {
        int[][] blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];
        var layers = new List<LayerSpec>();
        int i = 0;
        foreach (var block in blocks)
        {
            foreach (var width in block)
            {
                i++;
                layers.Add(new LayerSpec { Name = $"conv{i}", Type = LayerType.Conv2d, Out = width, Kernel = 3, Padding = 1 });
                layers.Add(new LayerSpec { Name = $"bn{i}", Type = LayerType.BatchNorm2d });
                layers.Add(new LayerSpec { Name = $"relu{i}", Type = LayerType.ReLU });
            }
            layers.Add(new LayerSpec { Name = $"pool{i}", Type = LayerType.MaxPool2d, Kernel = 2 });
        }
        layers.Add(new LayerSpec { Name = "flatten", Type = LayerType.Flatten });
        layers.Add(new LayerSpec { Name = "fc1", Type = LayerType.Linear, Out = 512 });
        layers.Add(new LayerSpec { Name = "relu_fc", Type = LayerType.ReLU });
        layers.Add(new LayerSpec { Name = "fc2", Type = LayerType.Linear, Out = 10 });
        return new ModelDescription { Name = "vgg16-cifar", Input = [3, 32, 32], Layers = layers };
    }
}

// Trains a small CNN on a Fashion-MNIST subset and exports runs/model.json + runs/model.dat for Pfa.Build.
using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Training;
using TorchSharp;

string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
var outDir = Arg("--out", "runs");
int samples = int.Parse(Arg("--samples", "2000"), CultureInfo.InvariantCulture);
var arch = Arg("--arch", "cnn");   // cnn, or resnet: a ResNet-8 of the shipped residual blocks

torch.manual_seed(1);
var normalize = new Normalization { Mean = [0.286], Std = [0.353] };
var model = arch == "resnet"
    ? Pfa.Core.Model.Blocks.ResidualNets.ResNet(new Pfa.Core.Model.Blocks.ResNetOptions { Depth = 8, InChannels = 1, Width = 8 })
    : torch.nn.Sequential(
    ("conv1", torch.nn.Conv2d(1, 8, 3, padding: 1)), ("bn1", torch.nn.BatchNorm2d(8)), ("relu1", torch.nn.ReLU()), ("pool1", torch.nn.MaxPool2d(2)),
    ("conv2", torch.nn.Conv2d(8, 16, 3, padding: 1)), ("bn2", torch.nn.BatchNorm2d(16)), ("relu2", torch.nn.ReLU()), ("pool2", torch.nn.MaxPool2d(2)),
    ("flatten", torch.nn.Flatten()),
    ("fc1", torch.nn.Linear(16 * 7 * 7, 32)), ("relu3", torch.nn.ReLU()),
    ("fc2", torch.nn.Linear(32, 10)));

using var train = Dataset.Open(new DataSpec { Path = "/usr/share/datasets/fashion-mnist", Split = "train", Limit = samples }, normalize);
Trainer.Train(model, train, new TrainOptions { Epochs = 1, LearningRate = 0.05, BatchSize = 64 },
    e => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch {e.Epoch}: loss {e.Loss:F3}, train accuracy {e.TrainAccuracy * 100:F1}%")));
PfaModel.Export(model, train, Path.Combine(outDir, "model.json"), Path.Combine(outDir, "model.dat"), "fashion-tiny");
Console.WriteLine($"wrote {outDir}/model.json and {outDir}/model.dat");

// Trains a small VGG-style CNN on Fashion-MNIST and writes runs/model.json + runs/model.dat, the inputs of
// `dotnet pfa`. Usage: FashionMnistVgg [--out DIR] [--epochs N] [--train-limit N] [--data DIR] [--seed N]
using System.Globalization;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Model;
using Pfa.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

const string Usage = """
    FashionMnistVgg: trains a VGG-style CNN (6 conv layers) on Fashion-MNIST and writes DIR/model.json and
    DIR/model.dat, the inputs of `dotnet pfa`.

    Usage: FashionMnistVgg [--out DIR] [--epochs N] [--train-limit N] [--data DIR] [--seed N]
      --out DIR          output folder (default runs)
      --epochs N         training epochs (default 1)
      --train-limit N    train on the first N of the 60,000 images (default 60000)
      --data DIR         Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)
      --seed N           seed of initialisation and shuffling (default 1)
    """;
string[] known = ["--out", "--epochs", "--train-limit", "--data", "--seed"];
if (args.Any(a => a is "--help" or "-h" or "-?" or "help"))
{
    Console.WriteLine(Usage);
    return 0;
}
for (int i = 0; i < args.Length; i += 2)
{
    if (!known.Contains(args[i]) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"error: unexpected argument '{args[i]}'{(known.Contains(args[i]) ? " (it needs a value)" : "")}.\n\n{Usage}");
        return 2;
    }
}
string Arg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
int Number(string name, string fallback)
{
    var text = Arg(name, fallback);
    if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0) return n;
    Console.Error.WriteLine($"error: {name} needs a whole number ≥ 0; found '{text}'.");
    Environment.Exit(2);
    return 0;
}
var outDir = Arg("--out", "runs");
int epochs = Number("--epochs", "1");
int trainLimit = Number("--train-limit", "60000");
int seed = Number("--seed", "1");
var dataDir = Arg("--data", "/usr/share/datasets/fashion-mnist");

torch.manual_seed(seed);
// Fashion-MNIST training-set statistics, stored in the description so every verb normalises the same way.
var normalize = new Normalization { Mean = [0.2860], Std = [0.3530] };

var model = nn.Sequential(
    ("conv1", nn.Conv2d(1, 32, 3, padding: 1)), ("bn1", nn.BatchNorm2d(32)), ("relu1", nn.ReLU()),
    ("conv2", nn.Conv2d(32, 32, 3, padding: 1)), ("bn2", nn.BatchNorm2d(32)), ("relu2", nn.ReLU()),
    ("pool1", nn.MaxPool2d(2)),
    ("conv3", nn.Conv2d(32, 64, 3, padding: 1)), ("bn3", nn.BatchNorm2d(64)), ("relu3", nn.ReLU()),
    ("conv4", nn.Conv2d(64, 64, 3, padding: 1)), ("bn4", nn.BatchNorm2d(64)), ("relu4", nn.ReLU()),
    ("pool2", nn.MaxPool2d(2)),
    ("conv5", nn.Conv2d(64, 128, 3, padding: 1)), ("bn5", nn.BatchNorm2d(128)), ("relu5", nn.ReLU()),
    ("conv6", nn.Conv2d(128, 128, 3, padding: 1)), ("bn6", nn.BatchNorm2d(128)), ("relu6", nn.ReLU()),
    ("pool3", nn.MaxPool2d(2)),
    ("flatten", nn.Flatten()),
    ("fc1", nn.Linear(128 * 3 * 3, 256)), ("relu7", nn.ReLU()), ("drop", nn.Dropout(0.3)),
    ("fc2", nn.Linear(256, 10)));

using var train = Dataset.Open(new DataSpec { Path = dataDir, Split = "train", Limit = trainLimit }, normalize);
using var test = Dataset.Open(new DataSpec { Path = dataDir, Split = "test" }, normalize);
Console.WriteLine($"training on {train.Count} samples for {epochs} epoch(s)");
var options = new TrainOptions { Epochs = epochs, BatchSize = 128, LearningRate = 0.05, Schedule = ScheduleKind.Cosine, WeightDecay = 5e-4, Seed = seed };
Trainer.Train(model, train, options, e => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"epoch {e.Epoch}: loss {e.Loss:F4}, train accuracy {e.TrainAccuracy * 100:F2}%, {e.Elapsed.TotalSeconds:F0} s")));

// The input shape and the normalisation come from the training data, so the tool sees the inputs the model saw.
var description = PfaModel.Export(model, train, Path.Combine(outDir, "model.json"), Path.Combine(outDir, "model.dat"), "fashion-vgg6");
using var network = PfaModel.Load(description, Path.Combine(outDir, "model.dat"));
var accuracy = Evaluator.Evaluate(network, test);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test accuracy {accuracy.Top1 * 100:F2}% on {accuracy.Samples} samples; wrote {outDir}/model.json and {outDir}/model.dat"));
return 0;

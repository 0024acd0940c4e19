using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Training;
using static TorchSharp.torch;

namespace Pfa.Tests;

public class TrainerTests
{
    [Fact]
    public void Schedules_follow_their_formulas()
    {
        var cosine = new TrainOptions { LearningRate = 0.1, Schedule = ScheduleKind.Cosine };
        Assert.Equal(0.1, Trainer.LearningRate(cosine, 0, 0, 100), 12);
        Assert.Equal(0.05, Trainer.LearningRate(cosine, 50, 0, 100), 12);
        Assert.Equal(0.0, Trainer.LearningRate(cosine, 100, 0, 100), 12);
        var step = new TrainOptions { LearningRate = 0.1, Schedule = ScheduleKind.Step, StepEpochs = 30, StepGamma = 0.1 };
        Assert.Equal(0.1, Trainer.LearningRate(step, 0, 29, 0), 12);
        Assert.Equal(0.01, Trainer.LearningRate(step, 0, 30, 0), 12);
        Assert.Equal(0.001, Trainer.LearningRate(step, 0, 61, 0), 12);
    }

    static float[] TrainOnce(OptimizerKind optimizer, bool augment)
    {
        using var dir = new TempDir();
        var rng = new Random(4);
        var x = Enumerable.Range(0, 64 * 2 * 6 * 6).Select(_ => (float)rng.NextDouble()).ToArray();
        DataFiles.Npy(dir["x.npy"], "<f4", [64, 2, 6, 6], x.SelectMany(BitConverter.GetBytes).ToArray());
        DataFiles.Npy(dir["y.npy"], "|u1", [64], Enumerable.Range(0, 64).Select(i => (byte)(i % 3)).ToArray());
        using var data = Dataset.Open(new DataSpec { Path = dir["x.npy"], Labels = dir["y.npy"] }, null);
        TorchSharp.torch.manual_seed(2);
        using var net = new PfaNetwork(ModelDescription.Parse("""
        { "schema": "pfa.model/1", "input": [2, 6, 6], "layers": [
          { "type": "conv2d", "out": 4, "kernel": 3, "padding": 1 }, { "type": "batchnorm2d" }, { "type": "relu" },
          { "type": "flatten" }, { "type": "dropout", "p": 0.2 }, { "type": "linear", "out": 3 } ] }
        """));
        var before = net.state_dict()["5.weight"].clone();
        var options = new TrainOptions { Optimizer = optimizer, LearningRate = optimizer == OptimizerKind.Adam ? 1e-2 : 0.1, Epochs = 2, BatchSize = 16, Seed = 7, CropPadding = augment ? 1 : 0, HorizontalFlip = augment };
        var reports = Trainer.Train(net, data, options);
        Assert.Equal(2, reports.Count);
        Assert.False(before.allclose(net.state_dict()["5.weight"], 0, 0));
        return net.state_dict()["5.weight"].flatten().data<float>().ToArray();
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd, false)]
    [InlineData(OptimizerKind.Sgd, true)]
    [InlineData(OptimizerKind.Adam, true)]
    public void Training_is_seeded_and_deterministic_on_cpu(OptimizerKind optimizer, bool augment)
    {
        Assert.Equal(TrainOnce(optimizer, augment), TrainOnce(optimizer, augment));
    }

    [Fact]
    public void A_user_s_torchsharp_batch_norm_counts_its_batches_and_keeps_its_keys()
    {
        // The trainer sets TorchSharp's counters aside (their add_(1) makes a temporary Scalar) and counts itself.
        using var dir = new TempDir();
        var rng = new Random(4);
        DataFiles.Npy(dir["x.npy"], "<f4", [40, 1, 4, 4], Enumerable.Range(0, 40 * 16).SelectMany(_ => BitConverter.GetBytes((float)rng.NextDouble())).ToArray());
        DataFiles.Npy(dir["y.npy"], "|u1", [40], Enumerable.Range(0, 40).Select(i => (byte)(i % 2)).ToArray());
        using var data = Dataset.Open(new DataSpec { Path = dir["x.npy"], Labels = dir["y.npy"] }, null);
        using var seq = TorchSharp.torch.nn.Sequential(("c", TorchSharp.torch.nn.Conv2d(1, 2, 3)), ("b", TorchSharp.torch.nn.BatchNorm2d(2)),
            ("f", TorchSharp.torch.nn.Flatten()), ("o", TorchSharp.torch.nn.Linear(8, 2)), ("n", TorchSharp.torch.nn.BatchNorm1d(2)));
        var keys = seq.state_dict().Keys.ToList();
        var mean = seq.state_dict()["b.running_mean"].clone();
        Trainer.Train(seq, data, new TrainOptions { Epochs = 2, BatchSize = 16 });   // 3 batches an epoch
        Assert.Equal(keys, seq.state_dict().Keys.ToList());
        Assert.Equal(6L, seq.state_dict()["b.num_batches_tracked"].item<long>());
        Assert.Equal(6L, seq.state_dict()["n.num_batches_tracked"].item<long>());
        Assert.False(mean.allclose(seq.state_dict()["b.running_mean"]));           // the statistics were still updated
    }
}

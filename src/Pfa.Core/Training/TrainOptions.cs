namespace Pfa.Core.Training;

public enum OptimizerKind { Sgd, Adam }
public enum ScheduleKind { Constant, Step, Cosine }

/// <summary>
/// Training and fine-tuning settings. Defaults follow PFA appendix C (VGG-16 on CIFAR): Nesterov SGD with
/// momentum 0.9, learning rate 0.1 decayed ×0.1 by steps, weight decay 1e-4; epochs and batch size are
/// smaller here because a CPU fine-tune has a budget.
/// </summary>
public sealed record TrainOptions
{
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    public double LearningRate { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; } = true;
    public double WeightDecay { get; init; } = 1e-4;
    public int Epochs { get; init; } = 3;
    public int BatchSize { get; init; } = 128;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    /// <summary>Step schedule: epochs between decays and the decay factor.</summary>
    public int StepEpochs { get; init; } = 30;
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Random crop after zero padding by this many pixels (0 = off).</summary>
    public int CropPadding { get; init; }
    public bool HorizontalFlip { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Distillation from a teacher (the original model) passed to the trainer; null = labels only.</summary>
    public DistillOptions? Distill { get; init; }
}

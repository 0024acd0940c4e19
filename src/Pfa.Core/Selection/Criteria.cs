using Pfa.Core.Errors;
using static TorchSharp.torch;

namespace Pfa.Core.Selection;

/// <summary>What a selection criterion may look at for one layer: its response covariance (from the analysis),
/// its trained weight [C_out, …] when available, and a seed for the random baseline.</summary>
public sealed record LayerEvidence(string Layer, int Position, Tensor Covariance, Tensor? Weight, int Seed);

/// <summary>Which <c>keep</c> filters of a layer survive (indices ascending). Registered by name in <see cref="Criteria"/>.</summary>
public interface ISelectionCriterion
{
    string Name { get; }
    /// <summary>True when the criterion reads the trained weights (the <c>recipe</c> verb then needs --weights).</summary>
    bool NeedsWeights { get; }
    int[] Select(LayerEvidence evidence, int keep);
}

/// <summary>PFA §3.2.1: remove the most correlated filters first (<see cref="FilterSelector"/>).</summary>
public sealed class PearsonCriterion : ISelectionCriterion
{
    public string Name => "pearson";
    public bool NeedsWeights => false;
    public int[] Select(LayerEvidence e, int keep) => FilterSelector.Select(e.Covariance, keep);
}

/// <summary>Li et al. 2017 (Torch-Pruning's default): keep the filters with the largest ℓ1 norm of their weights;
/// ties → the lower index.</summary>
public sealed class L1Criterion : ISelectionCriterion
{
    public string Name => "l1";
    public bool NeedsWeights => true;
    public int[] Select(LayerEvidence e, int keep)
    {
        var weight = e.Weight ?? throw new PfaException(ErrorCodes.InvalidArgument, $"selection 'l1' needs the trained weights of '{e.Layer}'; pass --weights.");
        int n = (int)weight.shape[0];
        if (keep >= n) return Enumerable.Range(0, n).ToArray();
        double[] norms;
        using (NewDisposeScope())
            norms = weight.to_type(ScalarType.Float64).abs().reshape(n, -1).sum(1).data<double>().ToArray();
        return Enumerable.Range(0, n).OrderByDescending(i => norms[i]).ThenBy(i => i).Take(keep).Order().ToArray();
    }
}

/// <summary>A random subset (the control for every other criterion), the same for the same budget seed and layer.</summary>
public sealed class RandomCriterion : ISelectionCriterion
{
    public string Name => "random";
    public bool NeedsWeights => false;
    public int[] Select(LayerEvidence e, int keep)
    {
        int n = (int)e.Covariance.shape[0];
        if (keep >= n) return Enumerable.Range(0, n).ToArray();
        var random = new Random(unchecked(e.Seed * 1_000_003 + e.Position));
        var order = Enumerable.Range(0, n).ToArray();
        random.Shuffle(order);
        return order.Take(keep).Order().ToArray();
    }
}

/// <summary>The registry of selection criteria, keyed by pfa.json's <c>select</c>.</summary>
public static class Criteria
{
    public const string Default = "pearson";
    /// <summary>What <c>variance</c> uses on the layer before the last of a residual branch (<see cref="ResidualBranches"/>).</summary>
    public const string BeforeLastOfBranch = "l1";
    public static readonly IReadOnlyList<ISelectionCriterion> All = [new PearsonCriterion(), new L1Criterion(), new RandomCriterion(), new VarianceCriterion()];
    public static IReadOnlyList<string> Names => All.Select(c => c.Name).ToList();
    public static ISelectionCriterion? Find(string name) => All.FirstOrDefault(c => c.Name == name);
    public static ISelectionCriterion Get(string? name) => Find(name ?? Default) ?? throw new InvalidOperationException($"unknown selection '{name}'");
}

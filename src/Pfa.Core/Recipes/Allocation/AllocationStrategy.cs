using Pfa.Core.Budget;

namespace Pfa.Core.Recipes.Allocation;

/// <summary>What a size target counts: trainable parameters, MACs (FLOPs = 2·MACs), or measured latency at the serving batch.</summary>
public enum TargetMeasure { Parameters, Macs, Latency }

/// <summary>A size the recipe must fit: at most <paramref name="Limit"/> of <paramref name="Measure"/>. For latency the
/// limit is a fraction of the original's measured time, or <see cref="Milliseconds"/> when the budget gives those.</summary>
public sealed record SizeTarget(TargetMeasure Measure, double Limit)
{
    public double? Milliseconds { get; init; }
}

/// <summary>
/// A value of pfa.json's <c>strategy</c>: a per-layer allocation and where its knob comes from — fixed by the budget
/// (<c>energy</c>), none (<c>kl</c>), or the largest knob whose model fits a size target (<c>footprint</c>,
/// <c>flops</c>, <c>uniform</c>). Registered by name in <see cref="Strategies"/>; the budget's validation, the
/// planner and the recipe ask the strategy, never compare names.
/// </summary>
public sealed record AllocationStrategy(
    string Name,
    string Description,
    ILayerAllocation Allocation,
    IReadOnlyList<string> Properties,
    Func<PfaBudget, double?>? FixedKnob,
    Func<PfaBudget, long, long, SizeTarget?>? Target,
    Func<PfaBudget, string?>? Requirement,
    string DefaultSelect = Selection.Criteria.Default)
{
    /// <summary>Whether the knob is found by a target search (the recipe then records it as τ or the ratio).</summary>
    public bool Searches => Target is not null;
    /// <summary>What the analysis samples for this strategy (PFA's pooled responses by default).</summary>
    public Analysis.Sampling Sampling { get; init; } = Analysis.Sampling.Pooled;
    /// <summary>Throws <see cref="Errors.ErrorCodes.NotApplicable"/> when the method does not apply to the model.</summary>
    public Action<Model.ModelGraph, BudgetFile>? Applies { get; init; }
    /// <summary>The strategy designs a new architecture (widths and depth) that is trained from scratch unless
    /// <c>init</c> says selected (Garg et al.), instead of pruning the trained model.</summary>
    public bool DesignsModel { get; init; }
    /// <summary><c>init</c> when the budget does not set it.</summary>
    public string DefaultInit => DesignsModel ? "random" : "selected";
}

/// <summary>The registry of allocation strategies, keyed by their pfa.json name. <see cref="Register"/> adds one
/// (a new rule: implement <see cref="ILayerAllocation"/>, register it with the budget properties it reads).</summary>
public static class Strategies
{
    static readonly ILayerAllocation Energy = new EnergyAllocation();
    static readonly ILayerAllocation KlScaled = new KlScaledAllocation();

    static SizeTarget Footprint(PfaBudget b, long parameters) => new(TargetMeasure.Parameters, b.Parameters ?? b.Target!.Value * parameters);
    static SizeTarget Flops(PfaBudget b, long macs) => new(TargetMeasure.Macs, b.Flops is { } f ? f / 2.0 : b.Target!.Value * macs);
    static string? NeedsFootprint(PfaBudget b, string name) => (b.Target is null) == (b.Parameters is null)
        ? $"strategy '{name}' needs exactly one of 'target' (a fraction of the parameters, e.g. 0.5) or 'parameters' (an absolute count)." : null;
    static string? NeedsFlops(PfaBudget b, string name) => (b.Target is null) == (b.Flops is null)
        ? $"strategy '{name}' needs exactly one of 'target' (a fraction of the FLOPs, e.g. 0.5) or 'flops' (an absolute count, 2·MACs)." : null;

    static readonly List<AllocationStrategy> Registered =
    [
        new("kl", "PFA-KL (§3.2, eq. 2): parameter-free", new KlAllocation(), [], null, null, null),
        new("energy", "PFA-En (eq. 1): keep the energy fraction 'energy' per layer", Energy, ["energy"], b => b.Energy, null,
            b => b.Energy is null ? "strategy 'energy' needs 'energy': the fraction τ of response energy to keep per layer, e.g. 0.95." : null),
        // The size-target defaults select by explained variance: at these widths it kept 1 pp more than the
        // paper's Pearson selection after the same fine-tune (bench/results/quality.md).
        new("footprint", "the PFA-KL shape scaled until the model fits 'target' (a fraction) or 'parameters'", KlScaled, ["target", "parameters"], null,
            (b, p, m) => Footprint(b, p), b => NeedsFootprint(b, "footprint"), "variance"),
        new("flops", "the PFA-KL shape scaled until the model fits 'target' (a fraction of the FLOPs) or 'flops'", KlScaled, ["target", "flops"], null,
            (b, p, m) => Flops(b, m), b => NeedsFlops(b, "flops"), "variance"),
        // Issue 22: the same family with measured latency as the size (per-layer tables, Metrics/LatencyTable).
        new("latency", "the PFA-KL shape scaled until the model's measured latency at the serving batch ('latency') fits 'target' (a fraction of the original's) or 'milliseconds'",
            KlScaled, ["target", "milliseconds"], null,
            (b, p, m) => new SizeTarget(TargetMeasure.Latency, b.Target ?? 0) { Milliseconds = b.Milliseconds },
            b => (b.Target is null) == (b.Milliseconds is null)
                ? "strategy 'latency' needs exactly one of 'target' (a fraction of the original's measured latency, e.g. 0.5) or 'milliseconds' (at the serving batch of 'latency')." : null,
            "variance"),
        new("footprint-tau", "the paper's search (§3.2): the largest PFA-En τ whose model fits 'target' or 'parameters'", Energy, ["target", "parameters"], null,
            (b, p, m) => Footprint(b, p), b => NeedsFootprint(b, "footprint-tau")),
        new("flops-tau", "the paper's search (§3.2): the largest PFA-En τ whose model fits 'target' (of the FLOPs) or 'flops'", Energy, ["target", "flops"], null,
            (b, p, m) => Flops(b, m), b => NeedsFlops(b, "flops-tau")),
        new("garg", "Garg et al. (§III): width = the significant dimensions S_L (cumulative explained variance reaches 'threshold', default 0.999), depth = drop the conv layers that break S_L's monotonicity ('depth', default true); a new model trained from scratch",
            new GargAllocation(), ["threshold", "depth", "responses"], b => b.Threshold ?? Design.GargDesign.DefaultThreshold, null, null)
        {
            Sampling = Analysis.Sampling.Positions, Applies = Design.GargDesign.CheckApplies, DesignsModel = true,
        },
        new("uniform", "one keep ratio for every analysed layer, the largest that fits 'target' of the parameters (or of the FLOPs with \"measure\": \"flops\"), 'parameters' or 'flops'",
            new UniformAllocation(), ["target", "parameters", "flops", "measure"], null,
            (b, p, m) => b.Parameters is { } n ? new SizeTarget(TargetMeasure.Parameters, n)
                : b.Flops is { } f ? new SizeTarget(TargetMeasure.Macs, f / 2.0)
                : b.Measure == "flops" ? new SizeTarget(TargetMeasure.Macs, b.Target!.Value * m)
                : new SizeTarget(TargetMeasure.Parameters, b.Target!.Value * p),
            b => new object?[] { b.Target, b.Parameters, b.Flops }.Count(v => v is not null) != 1
                ? "strategy 'uniform' needs exactly one of 'target' (a fraction, of the parameters or with \"measure\": \"flops\" of the FLOPs), 'parameters' or 'flops'."
                : b.Measure is not null && b.Target is null ? "'measure' goes with 'target' (it says what the fraction is of)." : null),
    ];

    public static IReadOnlyList<AllocationStrategy> All => Registered;

    /// <summary>Adds a strategy (an extension, or an experiment in bench/); a name may be registered once.</summary>
    public static void Register(AllocationStrategy strategy)
    {
        lock (Registered)
        {
            if (Find(strategy.Name) is not null) throw new InvalidOperationException($"strategy '{strategy.Name}' is already registered");
            Registered.Add(strategy);
        }
    }

    public static IReadOnlyList<string> Names => All.Select(s => s.Name).ToList();

    public static AllocationStrategy? Find(string name) => All.FirstOrDefault(s => s.Name == name);

    public static AllocationStrategy Get(string name) =>
        Find(name) ?? throw new InvalidOperationException($"unknown strategy '{name}' (the budget's validation should have refused it)");

    /// <summary>The strategies that use a budget property, for "'target' applies to …" messages.</summary>
    public static IReadOnlyList<string> Using(string property) => All.Where(s => s.Properties.Contains(property)).Select(s => s.Name).ToList();
}

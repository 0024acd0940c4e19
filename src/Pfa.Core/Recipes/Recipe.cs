using Pfa.Core.Errors;
using Pfa.Core.Json;

namespace Pfa.Core.Recipes;

/// <summary>The strategy and parameters a recipe was made with.</summary>
public sealed record RecipeStrategy
{
    public string Name { get; init; } = "";
    public double? Energy { get; init; }
    public double? Target { get; init; }
    public long? Parameters { get; init; }
    public long? Flops { get; init; }
    /// <summary>uniform with 'target': what the fraction is of.</summary>
    public string? Measure { get; init; }
    /// <summary>garg: the explained-variance threshold, whether depth was designed, and which activations were sampled.</summary>
    public double? Threshold { get; init; }
    public bool? Depth { get; init; }
    public string? Responses { get; init; }
    /// <summary>footprint-tau/flops-tau: the energy threshold τ the search found.</summary>
    public double? Tau { get; init; }
    /// <summary>uniform: the keep ratio the search found.</summary>
    public double? KeepRatio { get; init; }
    /// <summary>footprint/flops: the scale s on the PFA-KL keep ratios the search found (1 = PFA-KL).</summary>
    public double? KlScale { get; init; }
    /// <summary>The selection criterion used, when it is not pearson (the paper's).</summary>
    public string? Select { get; init; }
    public int MinFilters { get; init; }
    /// <summary>round_to, when above 1.</summary>
    public int? RoundTo { get; init; }
    /// <summary>round_to "auto": each layer's multiple is in its <see cref="RecipeLayer.RoundTo"/>.</summary>
    public bool? RoundToAuto { get; init; }
    /// <summary>round_to "auto" with a size or latency target: the roundings measured end to end and the one chosen.</summary>
    public IReadOnlyList<RecipeRoundToOption>? RoundToChoice { get; init; }
    public string Init { get; init; } = "selected";
    public int Seed { get; init; }
    /// <summary>Models with residual sums: "projection" or "padding" (PFA appendix C); null for models without.</summary>
    public string? Residual { get; init; }
    /// <summary>latency: the absolute target the budget gave, in milliseconds.</summary>
    public double? Milliseconds { get; init; }
    /// <summary>latency: the serving setting, the original's measured time, the target, and what the plan predicts and measured.</summary>
    public RecipeLatency? Latency { get; init; }
    /// <summary>footprint/flops in compress: the measured candidates (shapes γ^α scaled to the target) and which won.</summary>
    public List<RecipeCandidate>? Search { get; init; }

    /// <summary>The searched knob for messages: ", τ = 0.98", ", keep ratio = 0.42", ", KL scale = 0.8", or "".</summary>
    public string KnobText() =>
        Tau is { } t ? FormattableString.Invariant($", τ = {t}") : KeepRatio is { } r ? FormattableString.Invariant($", keep ratio = {r}")
        : KlScale is { } k ? FormattableString.Invariant($", KL scale = {k}") : "";
}

/// <summary>The latency strategy's plan: measured where the model will serve (the budget's <c>latency</c>).</summary>
public sealed record RecipeLatency
{
    public int Batch { get; init; }
    public string Runtime { get; init; } = "";
    public int? Threads { get; init; }
    /// <summary>The original model end to end, and the target (a fraction of it, or the budget's milliseconds).</summary>
    public double OriginalMs { get; init; }
    public double TargetMs { get; init; }
    /// <summary>The chosen widths: predicted from the per-layer table, and measured end to end.</summary>
    public double PredictedMs { get; init; }
    public double MeasuredMs { get; init; }
    /// <summary>Second checks of widths read under the target before keeping them (their pairs pooled into
    /// <see cref="MeasuredMs"/>), and how many of those widths the second check put over the target (dropped).</summary>
    public int Rechecks { get; init; }
    public int Rejected { get; init; }
    /// <summary>Per-layer table: entries it holds, entries measured by this run and their seconds; end-to-end measurements.</summary>
    public int TableEntries { get; init; }
    public int TableMeasured { get; init; }
    public double TableSeconds { get; init; }
    public int EndToEndMeasurements { get; init; }
    /// <summary>The machine the table is valid for (CPU, threads, libtorch, convolution path, runtime).</summary>
    public string Machine { get; init; } = "";
}

/// <summary>round_to "auto": one rounding, planned to meet the target (a size, or a latency) and measured end to end.</summary>
public sealed record RecipeRoundToOption
{
    /// <summary>One multiple for every layer; null: each layer's own measured multiple.</summary>
    public int? Multiple { get; init; }
    /// <summary>Median end-to-end milliseconds at the serving batch (0 when it was the only plan, not measured).</summary>
    public double Milliseconds { get; init; }
    public bool Chosen { get; init; }
    /// <summary>Kept filters per analysed layer, in the recipe's layer order.</summary>
    public int[] Widths { get; init; } = [];
    /// <summary>A latency target: the parameters this rounding's plan keeps, % of the original's (the most wins); null for a size target.</summary>
    public double? ParametersPercent { get; init; }
}

/// <summary>One candidate of the allocation search: its shape exponent (and criterion), its widths, and its held-out score.</summary>
public sealed record RecipeCandidate
{
    /// <summary>α of the per-layer keep ratio ∝ γ^α (1 = the PFA-KL shape, the analytic choice; 0 = uniform).</summary>
    public double Exponent { get; init; }
    /// <summary>The selection criterion when it is not the budget's: "l1" for the uniform + ℓ1 peer; null otherwise.</summary>
    public string? Select { get; init; }
    /// <summary>Kept filters per analysed layer, in the recipe's layer order.</summary>
    public int[] Widths { get; init; } = [];
    public double ParametersPercent { get; init; }
    public double MacsPercent { get; init; }
    /// <summary>Correct top-1 predictions on the held-out training slice after surgery and recalibration.</summary>
    public int Correct { get; init; }
    public int Samples { get; init; }
    public bool Chosen { get; init; }
    /// <summary>A depth candidate: how many identity residual blocks it removes (least harmful first); null otherwise.</summary>
    public int? RemovedBlocks { get; init; }
}

public sealed record RecipeTotals
{
    public long ParametersBefore { get; init; }
    public long ParametersAfter { get; init; }
    public long MacsBefore { get; init; }
    public long MacsAfter { get; init; }
    /// <summary>After as a percentage of before, rounded to 0.01.</summary>
    public double ParametersPercent { get; init; }
    public double MacsPercent { get; init; }
}

public sealed record RecipeLayer
{
    public string Name { get; init; } = "";
    public string Kind { get; init; } = "";
    public int FiltersBefore { get; init; }
    public int FiltersAfter { get; init; }
    /// <summary>How the count was chosen: energy, kl, keep, energy τ (a layer override) or min_filters.</summary>
    public string Rule { get; init; } = "";
    /// <summary>The selection that chose <see cref="Kept"/> when it is not the recipe's: <c>l1</c> on the first layer
    /// of a residual branch under <c>variance</c> (<see cref="Selection.ResidualBranches"/>); null otherwise.</summary>
    public string? Select { get; init; }
    /// <summary>Indices of the kept filters in the original layer, ascending.</summary>
    public int[] Kept { get; init; } = [];
    public double EnergyKept { get; init; }
    /// <summary>PFA-KL only: KL(λ‖u).</summary>
    public double? Kl { get; init; }
    public long Samples { get; init; }
    public int Inactive { get; init; }
    /// <summary>Normalised eigenvalues, descending, rounded to 1e-6.</summary>
    public double[] Spectrum { get; init; } = [];
    /// <summary>"PFA2xxx: message" for what the user should act on (see <see cref="Errors.WarningCodes"/>).</summary>
    public List<string>? Warnings { get; init; }
    /// <summary>What the recipe handled by design (inactive filters removed first, a single filter kept).</summary>
    public List<string>? Notes { get; init; }
    /// <summary>A channel group tied by residual sums (projection mode): the layers that write into it and shrink
    /// together; the group is named after its first sum, whose outputs were analysed.</summary>
    public List<string>? Shared { get; init; }
    /// <summary>round_to "auto": the multiple this layer's count was rounded up to (its measured one, or the one every
    /// layer got when that rounding measured faster end to end: <see cref="RecipeStrategy.RoundToChoice"/>).</summary>
    public int? RoundTo { get; init; }
    /// <summary>garg with depth: why the layer (and its batch norm and activation) is removed from the design.</summary>
    public string? Dropped { get; init; }
}

/// <summary>
/// recipe.json (<c>"schema": "pfa.recipe/1"</c>): canonical and deterministic — the same inputs and seed give
/// the same bytes — so it can be committed, diffed in review and snapshot-tested. Nothing machine- or
/// time-dependent is inside (timings are in summary.json).
/// </summary>
public sealed record Recipe
{
    public const string SchemaId = "pfa.recipe/1";

    public string Schema { get; init; } = SchemaId;
    public string Tool { get; init; } = "";
    /// <summary>SHA-256 of the model description, the statistics and the budget.</summary>
    public string InputHash { get; init; } = "";
    public string Model { get; init; } = "";
    /// <summary>A target domain's model ("classifier": "classes"): the original class of each output of the
    /// classifier, which keeps only these; null: every output. Surgery applies to the model cut to them.</summary>
    public List<int>? Classes { get; init; }
    public RecipeStrategy Strategy { get; init; } = new();
    public RecipeTotals Totals { get; init; } = new();
    public List<RecipeLayer> Layers { get; init; } = [];
    /// <summary>Identity residual blocks removed whole after the channel surgery, by their sums (<see
    /// cref="Surgery.BlockRemoval"/>; the search's depth candidates); null: none.</summary>
    public List<string>? RemovedBlocks { get; init; }

    public string ToJson() => JsonFiles.Serialize(this);

    public void Save(string path) => AtomicFile.WriteText(path, ToJson());

    public static Recipe Load(string path)
    {
        var input = JsonFiles.Read<Recipe>(path, "recipe");
        Validate(input);
        return input.Value;
    }

    /// <summary>What apply relies on: one entry per layer, a known init and residual mode, and for each layer as
    /// many kept indices as filters_after, ascending, within filters_before.</summary>
    static void Validate(JsonInput<Recipe> input)
    {
        var r = input.Value;
        PfaException Bad(string at, string message) => input.Error(ErrorCodes.InvalidRecipe, at, message);
        if (r.Schema != SchemaId) throw Bad("$.schema", $"unknown recipe schema '{r.Schema}'; expected \"{SchemaId}\".");
        if (Allocation.Strategies.Find(r.Strategy.Name) is null)
            throw Bad("$.strategy.name", $"unknown strategy '{Printable.Escape(r.Strategy.Name)}'; expected one of {string.Join(", ", Allocation.Strategies.Names)}.");
        if (r.Strategy.Init is not ("selected" or "random"))
            throw Bad("$.strategy.init", $"'init' must be \"selected\" or \"random\"; found \"{Printable.Escape(r.Strategy.Init)}\".");
        if (r.Strategy.Residual is not (null or "projection" or "padding"))
            throw Bad("$.strategy.residual", $"'residual' must be \"projection\" or \"padding\"; found \"{Printable.Escape(r.Strategy.Residual)}\".");
        if (r.RemovedBlocks is { } removed && removed.Distinct(StringComparer.Ordinal).Count() != removed.Count)
            throw Bad("$.removed_blocks", "'removed_blocks' names a block twice; a recipe lists each removed block once.");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < r.Layers.Count; i++)
        {
            var l = r.Layers[i];
            string at = $"$.layers[{i}]";
            if (!seen.TryAdd(l.Name, i))
                throw Bad($"{at}.name", $"layer '{Printable.Escape(l.Name)}' is listed twice (entries {seen[l.Name]} and {i}); a recipe lists each layer once.");
            if (l.FiltersAfter < 1 || l.FiltersAfter > l.FiltersBefore)
                throw Bad($"{at}.filters_after", $"layer '{Printable.Escape(l.Name)}': 'filters_after' must be from 1 to filters_before ({l.FiltersBefore}); found {l.FiltersAfter}.");
            if (l.Dropped is null && l.Kept.Length != l.FiltersAfter)
                throw Bad($"{at}.kept", $"layer '{Printable.Escape(l.Name)}' lists {l.Kept.Length} kept filters but 'filters_after' is {l.FiltersAfter}.");
            for (int k = 0; k < l.Kept.Length; k++)
                if (l.Kept[k] < 0 || l.Kept[k] >= l.FiltersBefore || (k > 0 && l.Kept[k] <= l.Kept[k - 1]))
                    throw Bad($"{at}.kept[{k}]", $"layer '{Printable.Escape(l.Name)}': kept indices must be distinct, ascending and from 0 to {l.FiltersBefore - 1}; found {l.Kept[k]} at position {k}.");
        }
    }

    public static string ToolVersion
    {
        get
        {
            var v = typeof(Recipe).Assembly.GetName().Version ?? new Version(0, 0, 0);
            return $"dotnet-pfa {v.Major}.{v.Minor}.{v.Build}";
        }
    }
}

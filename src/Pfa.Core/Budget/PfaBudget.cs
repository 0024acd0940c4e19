using System.Text.Json.Serialization;
using Pfa.Core.Errors;
using Pfa.Core.Json;

namespace Pfa.Core.Budget;

/// <summary>Per-layer settings in <c>pfa.json</c> → <c>layers</c>.</summary>
public sealed record LayerBudget
{
    /// <summary>Leave the layer as it is.</summary>
    public bool? Exclude { get; init; }
    /// <summary>Keep exactly this many filters.</summary>
    public int? Keep { get; init; }
    /// <summary>Keep at least this many filters.</summary>
    public int? MinFilters { get; init; }
    /// <summary>This layer's own PFA-En energy τ (the layer is then left out of a footprint/FLOPs search).</summary>
    public double? Energy { get; init; }
}

/// <summary>Data settings in <c>pfa.json</c> (paths relative to the budget file).</summary>
public sealed record DataBudget
{
    public string? Path { get; init; }
    public string? Labels { get; init; }
    public string? Format { get; init; }
    public string? Split { get; init; }
    public List<int>? Classes { get; init; }
    public int? Limit { get; init; }
    /// <summary>"k/n": only part k of n of the selection (<c>analyze</c> only; see <see cref="Data.Shard"/>).</summary>
    public string? Shard { get; init; }
}

/// <summary>Fine-tuning settings in <c>pfa.json</c> → <c>finetune</c>; defaults in <see cref="Training.TrainOptions"/>.</summary>
public sealed record FinetuneBudget
{
    public Training.OptimizerKind? Optimizer { get; init; }
    public double? LearningRate { get; init; }
    public double? Momentum { get; init; }
    public bool? Nesterov { get; init; }
    public double? WeightDecay { get; init; }
    public int? Epochs { get; init; }
    public int? BatchSize { get; init; }
    public Training.ScheduleKind? Schedule { get; init; }
    public int? StepEpochs { get; init; }
    public double? StepGamma { get; init; }
    public int? CropPadding { get; init; }
    public bool? HorizontalFlip { get; init; }
    /// <summary>Distil from the original model: { "temperature": T, "alpha": a }.</summary>
    public Training.DistillOptions? Distill { get; init; }
}

/// <summary>
/// <c>pfa.json</c>: what to compress for. An empty object means the parameter-free PFA-KL recipe. See
/// README.md, "pfa.json", and <c>build/pfa.schema.json</c>.
/// </summary>
public sealed record PfaBudget
{
    [JsonPropertyName("$schema")] public string? SchemaUrl { get; init; }
    /// <summary>A name from <see cref="Recipes.Allocation.Strategies"/>: kl (default), energy, footprint, flops, uniform.</summary>
    public string Strategy { get; init; } = "kl";
    /// <summary>energy: τ in (0, 1].</summary>
    public double? Energy { get; init; }
    /// <summary>footprint/flops: target as a fraction (0, 1] of the original parameters/FLOPs.</summary>
    public double? Target { get; init; }
    /// <summary>footprint: absolute target number of parameters.</summary>
    public long? Parameters { get; init; }
    /// <summary>flops: absolute target number of FLOPs (= 2·MACs).</summary>
    public long? Flops { get; init; }
    /// <summary>latency: absolute target in milliseconds per forward pass at the serving batch (<see cref="Latency"/>).</summary>
    public double? Milliseconds { get; init; }
    /// <summary>uniform with 'target': what the fraction is of, "parameters" (default) or "flops".</summary>
    public string? Measure { get; init; }
    /// <summary>How the kept filters are chosen: pearson (PFA §3.2.1), l1, random or variance (see <see cref="Selection.Criteria"/>);
    /// default: the strategy's (variance for footprint/flops, pearson otherwise).</summary>
    public string? Select { get; init; }
    /// <summary>Minimum filters per layer (default 1).</summary>
    public int MinFilters { get; init; } = 1;
    /// <summary>Kept filter counts are rounded up to a multiple of this (Torch-Pruning's round_to), inside the
    /// exact footprint/FLOPs search so targets still hold; a layer narrower than the multiple stays whole. "auto":
    /// per layer, the multiple at which its measured latency steps (<see cref="Budget.RoundTo"/>).</summary>
    public RoundTo? RoundTo { get; init; }
    /// <summary>Only these layers are analysed and shrunk (default: every conv and linear but the classifier).</summary>
    public List<string>? Include { get; init; }
    /// <summary>Layers never analysed nor shrunk.</summary>
    public List<string>? Exclude { get; init; }
    public Dictionary<string, LayerBudget>? Layers { get; init; }
    /// <summary>selected (kept filters keep their trained weights, §3.2.1) or random (re-initialise). Default: selected,
    /// except for garg, whose designed model is trained from scratch.</summary>
    public string? Init { get; init; }
    /// <summary>garg: the cumulative explained variance S_L must reach (Garg et al. §III-C), default 0.999.</summary>
    public double? Threshold { get; init; }
    /// <summary>garg: drop the conv layers that break the monotonicity of S_L (§III-D), default true.</summary>
    public bool? Depth { get; init; }
    /// <summary>garg: which activations are sampled per position — pre_activation (default: what the non-linearity
    /// receives, after a batch norm) or layer_output (the conv's own output).</summary>
    public string? Responses { get; init; }

    /// <summary>Models with residual sums (PFA appendix C): "projection" (default; the layers writing into a sum
    /// share one channel group, analysed at the sum) or "padding" (the trunk keeps its width, every conv shrinks
    /// on its own and is scattered back before the sum).</summary>
    public string? Residual { get; init; }

    /// <summary>The residual mode in effect.</summary>
    [JsonIgnore] public Surgery.ResidualMode ResidualMode => Surgery.ResidualModes.Parse(Residual);

    /// <summary>The init in effect: the budget's, else the strategy's default.</summary>
    [JsonIgnore] public string EffectiveInit => Init ?? Recipes.Allocation.Strategies.Find(Strategy)?.DefaultInit ?? "selected";
    /// <summary>Data to analyse (default: the training split) and to evaluate on (default: the test split).</summary>
    public DataBudget? Data { get; init; }
    public DataBudget? EvalData { get; init; }
    public int? BatchSize { get; init; }
    public FinetuneBudget? Finetune { get; init; }
    /// <summary>Largest accepted accuracy drop in percentage points (default: no gate).</summary>
    public double? Tolerance { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Batch-norm recalibration after surgery: how many training batches (null: the default 50; false: off).</summary>
    public RecalibrateBudget? Recalibrate { get; init; }
    /// <summary>footprint/flops: measure a family of allocations in compress and keep the best (null: the default search; false: off).</summary>
    public SearchBudget? Search { get; init; }
    /// <summary>"all" (default): the classifier keeps every output; "classes": only those of data.classes (PFA §4.3).</summary>
    public string? Classifier { get; init; }
    /// <summary>Where the model serves: the batch, threads and runtime latency is measured and checked at (default batch 1, libtorch).</summary>
    public LatencyBudget? Latency { get; init; }
    [JsonIgnore] public LatencyBudget EffectiveLatency => Latency ?? new LatencyBudget();
    /// <summary>compress writes model.onnx (checked by ONNX Runtime) unless this is false.</summary>
    public bool? Onnx { get; init; }
    [JsonIgnore] public SearchBudget EffectiveSearch => Search ?? new SearchBudget();
    /// <summary>The recalibration in effect: the budget's, or 50 batches.</summary>
    [JsonIgnore] public RecalibrateBudget EffectiveRecalibrate => Recalibrate ?? new RecalibrateBudget();

    /// <summary>Reads and validates a budget file; errors carry the line and column.</summary>
    public static BudgetFile Load(string path)
    {
        var input = JsonFiles.Read<PfaBudget>(path, "budget");
        Validate(input);
        return new BudgetFile(input.Value, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, input);
    }

    public static BudgetFile Parse(string json, string source = "pfa.json")
    {
        var input = JsonFiles.Parse<PfaBudget>(System.Text.Encoding.UTF8.GetBytes(json), source, "budget");
        Validate(input);
        return new BudgetFile(input.Value, Environment.CurrentDirectory, input);
    }

    static void Validate(JsonInput<PfaBudget> input)
    {
        var b = input.Value;
        PfaException Bad(string path, string msg) => input.Error(ErrorCodes.InvalidBudget, path, msg);
        var strategy = Recipes.Allocation.Strategies.Find(b.Strategy)
            ?? throw Bad("$.strategy", $"unknown strategy '{b.Strategy}'; expected one of {string.Join(", ", Recipes.Allocation.Strategies.Names)}.");
        if (strategy.Requirement?.Invoke(b) is { } need) throw Bad("$.strategy", need);
        if (b.Energy is { } tau && !(tau > 0 && tau <= 1)) throw Bad("$.energy", $"'energy' must be in (0, 1]; found {tau}.");
        if (b.Parameters is { } p && p <= 0) throw Bad("$.parameters", $"'parameters' must be positive; found {p}.");
        if (b.Flops is { } f && f <= 0) throw Bad("$.flops", $"'flops' must be positive; found {f}.");
        if (b.Target is { } t && !(t > 0 && t <= 1)) throw Bad("$.target", $"'target' is a fraction of the original model and must be in (0, 1]; found {t}.");
        if (b.Milliseconds is { } ms && !(ms > 0 && double.IsFinite(ms))) throw Bad("$.milliseconds", $"'milliseconds' must be a positive number; found {ms}.");
        if (b.Measure is not (null or "parameters" or "flops")) throw Bad("$.measure", $"'measure' must be \"parameters\" or \"flops\"; found '{b.Measure}'.");
        foreach (var (property, value) in new (string, object?)[] { ("energy", b.Energy), ("target", b.Target), ("parameters", b.Parameters), ("flops", b.Flops), ("milliseconds", b.Milliseconds), ("measure", b.Measure),
                     ("threshold", b.Threshold), ("depth", b.Depth), ("responses", b.Responses) })
        {
            if (value is null || strategy.Properties.Contains(property)) continue;
            var users = Recipes.Allocation.Strategies.Using(property);
            throw Bad($"$.{property}", $"'{property}' applies to {(users.Count == 1 ? "strategy" : "strategies")} {string.Join(", ", users.Select(u => $"'{u}'"))}, not '{b.Strategy}'.");
        }
        if (b.Select is { } sel && Selection.Criteria.Find(sel) is null)
            throw Bad("$.select", $"unknown selection '{sel}'; expected one of {string.Join(", ", Selection.Criteria.Names)}.");
        if (b.MinFilters < 1) throw Bad("$.min_filters", $"'min_filters' must be at least 1; found {b.MinFilters}.");
        if (b.RoundTo is { Auto: false, Multiple: var rt } && (rt < 1 || rt > 4096)) throw Bad("$.round_to", $"'round_to' must be between 1 and 4096 (e.g. 8 or 16) or \"auto\"; found {rt}.");
        if (b.Init is not (null or "selected" or "random")) throw Bad("$.init", $"'init' must be \"selected\" or \"random\"; found '{b.Init}'.");
        if (b.Threshold is { } th && !(th > 0 && th <= 1)) throw Bad("$.threshold", $"'threshold' is a fraction of the explained variance and must be in (0, 1]; found {th}.");
        if (b.Responses is not (null or "pre_activation" or "layer_output")) throw Bad("$.responses", $"'responses' must be \"pre_activation\" or \"layer_output\"; found '{b.Responses}'.");
        if (b.Residual is { } res && !Surgery.ResidualModes.Names.Contains(res))
            throw Bad("$.residual", $"'residual' must be \"projection\" or \"padding\"; found '{res}'.");
        if (b.Tolerance is { } tol && !(tol >= 0 && double.IsFinite(tol))) throw Bad("$.tolerance", $"'tolerance' is an accuracy drop in percentage points and must be ≥ 0; found {tol}.");
        if (b.Search is { } sb && sb.Candidates != 0 && (sb.Candidates is < 2 or > 21 || sb.Samples is < 1 or > 1_000_000))
            throw Bad("$.search", $"'search' needs 2 to 21 'candidates' and 1 to 1000000 'samples' (or \"search\": false); found {sb.Candidates} and {sb.Samples}.");
        if (b.Search is { TrainBatches: < 0 or > 100_000 } tb) throw Bad("$.search.train_batches", $"'search.train_batches' must be from 0 (recalibration only) to 100000; found {tb.TrainBatches}.");
        if (b.Search is { Depth: < 0 or > 20 } sd) throw Bad("$.search.depth", $"'search.depth' is the number of depth candidates, from 0 (off) to 20; found {sd.Depth}.");
        if (b.Search is { Depth: > 0 } && b.Strategy != "latency") throw Bad("$.search.depth", $"'search.depth' applies to strategy 'latency' (blocks removed for speed), not '{b.Strategy}'.");
        if (b.Latency is { } lb)
        {
            if (lb.Batch is < 1 or > 65536) throw Bad("$.latency.batch", $"'latency.batch' must be from 1 to 65536; found {lb.Batch}.");
            if (lb.Threads is < 1 or > 1024) throw Bad("$.latency.threads", $"'latency.threads' must be from 1 to 1024; found {lb.Threads}.");
            if (lb.Runtime is not (LatencyBudget.LibTorch or LatencyBudget.Onnx)) throw Bad("$.latency.runtime", $"'latency.runtime' must be \"libtorch\" or \"onnx\"; found \"{lb.Runtime}\".");
            if (lb.Runtime == LatencyBudget.Onnx && b.Onnx == false) throw Bad("$.latency.runtime", "'latency.runtime' is \"onnx\" but 'onnx' is false: the ONNX latency is measured on model.onnx. Remove one of them.");
        }
        if (b.Classifier is not (null or Pipeline.TargetDomain.AllClasses or Pipeline.TargetDomain.ListedClasses))
            throw Bad("$.classifier", $"'classifier' must be \"all\" or \"classes\"; found \"{b.Classifier}\".");
        if (b.Recalibrate is { Batches: < 0 or > 100_000 } rc) throw Bad("$.recalibrate.batches", $"'recalibrate.batches' must be from 0 (off, as \"recalibrate\": false) to 100000; found {rc.Batches}.");
        if (b.Recalibrate is { } rcc && rcc.Classifier is not (RecalibrateBudget.None or RecalibrateBudget.Bias or RecalibrateBudget.Refit))
            throw Bad("$.recalibrate.classifier", $"'recalibrate.classifier' must be \"bias\" (the mean logits made the original's), \"refit\" (weights and bias fitted to the original's logits) or false; found \"{Errors.Printable.Escape(rcc.Classifier)}\".");
        if (b.BatchSize is { } bs && bs <= 0) throw Bad("$.batch_size", $"'batch_size' must be positive; found {bs}.");
        foreach (var (name, layer) in b.Layers ?? [])
        {
            string at = $"$.layers.{name}";
            if (layer.Keep is { } k && k < 1) throw Bad($"{at}.keep", $"'keep' of layer '{name}' must be at least 1; found {k}.");
            if (layer.MinFilters is { } m && m < 1) throw Bad($"{at}.min_filters", $"'min_filters' of layer '{name}' must be at least 1; found {m}.");
            if (layer.Energy is { } e && !(e > 0 && e <= 1)) throw Bad($"{at}.energy", $"'energy' of layer '{name}' must be in (0, 1]; found {e}.");
            if (new object?[] { layer.Keep, layer.Energy, layer.Exclude == true ? true : null }.Count(v => v is not null) > 1)
                throw Bad(at, $"layer '{name}' may set only one of 'keep', 'energy' and 'exclude'.");
        }
        if (b.Finetune is { } ft)
        {
            if (ft.Epochs is { } ep && ep < 0) throw Bad("$.finetune.epochs", $"'epochs' must be ≥ 0; found {ep}.");
            if (ft.BatchSize is { } fb && fb <= 0) throw Bad("$.finetune.batch_size", $"'batch_size' must be positive; found {fb}.");
            if (ft.LearningRate is { } lr && !(lr > 0 && double.IsFinite(lr))) throw Bad("$.finetune.learning_rate", $"'learning_rate' must be a positive number; found {lr}.");
            if (ft.Momentum is { } mo && !(mo >= 0 && mo < 1)) throw Bad("$.finetune.momentum", $"'momentum' must be in [0, 1); found {mo}.");
            if (ft.WeightDecay is { } wd && !(wd >= 0 && double.IsFinite(wd))) throw Bad("$.finetune.weight_decay", $"'weight_decay' must be ≥ 0; found {wd}.");
            if (ft.StepEpochs is { } se && se < 1) throw Bad("$.finetune.step_epochs", $"'step_epochs' must be at least 1; found {se}.");
            if (ft.StepGamma is { } sg && !(sg > 0 && sg <= 1)) throw Bad("$.finetune.step_gamma", $"'step_gamma' must be in (0, 1]; found {sg}.");
            if (ft.Distill is { } ds && !(ds.Temperature > 0 && ds.Temperature <= 100))
                throw Bad("$.finetune.distill.temperature", $"'temperature' must be in (0, 100]; found {ds.Temperature}.");
            if (ft.Distill is { } da && !(da.Alpha >= 0 && da.Alpha <= 1))
                throw Bad("$.finetune.distill.alpha", $"'alpha' must be in [0, 1]; found {da.Alpha}.");
            if (ft.CropPadding is { } cp && cp < 0) throw Bad("$.finetune.crop_padding", $"'crop_padding' must be ≥ 0; found {cp}.");
        }
    }

    public Training.TrainOptions TrainOptions()
    {
        var d = new Training.TrainOptions();
        var f = Finetune ?? new FinetuneBudget();
        return d with
        {
            Optimizer = f.Optimizer ?? d.Optimizer,
            LearningRate = f.LearningRate ?? (f.Optimizer == Training.OptimizerKind.Adam ? 1e-3 : 0.01),
            Momentum = f.Momentum ?? d.Momentum,
            Nesterov = f.Nesterov ?? d.Nesterov,
            WeightDecay = f.WeightDecay ?? d.WeightDecay,
            Epochs = f.Epochs ?? d.Epochs,
            BatchSize = f.BatchSize ?? d.BatchSize,
            Schedule = f.Schedule ?? d.Schedule,
            StepEpochs = f.StepEpochs ?? d.StepEpochs,
            StepGamma = f.StepGamma ?? d.StepGamma,
            CropPadding = f.CropPadding ?? d.CropPadding,
            HorizontalFlip = f.HorizontalFlip ?? d.HorizontalFlip,
            Distill = f.Distill,
            Seed = Seed,
        };
    }
}

/// <summary>A validated budget with the folder its relative paths start from and its source for located errors.</summary>
public sealed record BudgetFile(PfaBudget Budget, string Directory, JsonInput<PfaBudget>? Source)
{
    /// <summary>The budget used when none is given: PFA-KL with defaults.</summary>
    public static BudgetFile Default => new(new PfaBudget(), Environment.CurrentDirectory, null);

    public PfaException Error(string jsonPath, string message) =>
        Source?.Error(ErrorCodes.InvalidBudget, jsonPath, message) ?? new PfaException(ErrorCodes.InvalidBudget, message);

    Data.Shard? ShardOf(DataBudget d)
    {
        if (d.Shard is null) return null;
        try { return Data.Shard.Parse(d.Shard, "'shard'"); }
        catch (PfaException e) { throw Error(ReferenceEquals(d, Budget.Data) ? "$.data.shard" : "$.eval_data.shard", e.Message.Replace("'shard' ", "'data.shard' ")); }
    }

    /// <summary>A data spec from the budget's data section, paths resolved against the budget's folder.</summary>
    public Data.DataSpec? DataSpec(DataBudget? d, string defaultSplit)
    {
        if (d?.Path is null) return null;
        string Resolve(string p) => System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, p));
        return new Data.DataSpec
        {
            Path = Resolve(d.Path), Labels = d.Labels is null ? null : Resolve(d.Labels), Format = d.Format ?? "auto",
            Split = d.Split ?? defaultSplit, Classes = d.Classes, Limit = d.Limit, Shard = ShardOf(d),
        };
    }
}

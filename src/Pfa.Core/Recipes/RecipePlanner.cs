using Pfa.Core.Budget;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Core.Recipes;

/// <summary>
/// Turns spectra and a budget into filter counts (PFA §3.2). No data pass: it runs on saved spectra, so trying
/// budgets is instant. The budget's strategy (<see cref="Allocation.Strategies"/>) supplies the per-layer rule
/// and where its knob comes from:
/// <list type="bullet">
/// <item><c>energy</c> — PFA-En, eq. (1): the smallest k with Σ_{i≤k} λ_i ≥ τ.</item>
/// <item><c>kl</c> — PFA-KL, eq. (2) with the linear ψ: γ = 1 − KL(λ‖u)/KL(δ‖u) = 1 − KL(λ‖u)/ln C, keep ⌈γ·C⌉.</item>
/// <item><c>footprint</c>, <c>flops</c> — the PFA-KL keep ratios times the largest scale whose model fits the target
///   (<see cref="Allocation.KlScaledAllocation"/>).</item>
/// <item><c>footprint-tau</c>, <c>flops-tau</c> — the largest τ whose PFA-En recipe fits the target (§3.2, "replace the
///   parameter τ with the desired footprint").</item>
/// <item>Every size target: each layer's count is a step function of the knob that changes only at its knots
///   (cumulative energies, ratios), and the cost grows with the knob, so the exact answer is found by binary search
///   over the finite set of those cut points: no guess-and-retry.</item>
/// <item><c>uniform</c> — one keep ratio ⌈t·C⌉ for every layer, the largest that fits, by the same search over
///   the ratios k/C where counts change.</item>
/// </list>
/// Every count is then raised to the layer's minimum (default 1) and capped at its width.
/// </summary>
public sealed class RecipePlanner
{
    /// <summary>Slack for "cumulative energy ≥ τ": sums of normalised eigenvalues reach 1 only up to rounding.</summary>
    const double EnergySlack = 1e-12;

    readonly ChannelSpaces _spaces;
    readonly BudgetFile _budget;
    readonly Dictionary<string, LayerSpectrum> _spectra;
    readonly List<ChannelSpace> _analysed;
    readonly Allocation.AllocationStrategy _strategy;
    readonly Func<Metrics.ILatencyModel> _latency;
    readonly Dictionary<int, int> _multiples = [];
    readonly Func<ChannelSpace, int> _measuredMultiple;
    readonly IReadOnlyCollection<string> _removed;
    /// <summary>round_to "auto": one multiple for every space instead of each space's measured one (<see cref="ChooseRounding"/>).</summary>
    int? _uniformMultiple;

    /// <param name="allocation">Another per-layer shape for the budget's strategy (a search candidate), or null.</param>
    /// <param name="latency">The latency model a latency target is planned with (default: measured on this machine).</param>
    /// <param name="measuredMultiple">round_to "auto": a space's multiple (default: where its measured latency steps).</param>
    /// <param name="removedBlocks">Sums of identity residual blocks removed whole after the channel surgery (a depth
    /// candidate of the search): the plan's costs and latencies are those of the model without them.</param>
    public RecipePlanner(ChannelSpaces spaces, BudgetFile budget, IReadOnlyDictionary<string, LayerSpectrum> spectra, Allocation.ILayerAllocation? allocation = null,
        Metrics.ILatencyModel? latency = null, Func<ChannelSpace, int>? measuredMultiple = null, IReadOnlyCollection<string>? removedBlocks = null)
    {
        _removed = removedBlocks ?? [];
        _latency = () => latency ?? Metrics.LatencyPredictor.For(spaces.Graph, budget.Budget.EffectiveLatency);
        _measuredMultiple = measuredMultiple ?? (s => Metrics.LatencySteps.Of(spaces, s, Metrics.LatencyPredictor.TableFor(budget.Budget.EffectiveLatency).Of));
        _spaces = spaces;
        _budget = budget;
        _spectra = new Dictionary<string, LayerSpectrum>(spectra);
        _analysed = AnalysedSpaces(spaces, budget).ToList();
        var registered = Allocation.Strategies.Get(budget.Budget.Strategy);
        _strategy = allocation is null ? registered : registered with { Allocation = allocation };
        foreach (var s in _analysed)
        {
            var name = Name(s);
            if (!_spectra.TryGetValue(name, out var sp))
                throw budget.Error("$", $"no spectrum for layer '{name}'; analyse the model again (the statistics do not match it).");
            if (sp.Filters != s.Channels)
                throw budget.Error("$", $"the spectrum of '{name}' has {sp.Filters} filters but the model's layer has {s.Channels}; analyse the model again.");
        }
    }

    static string Name(ChannelSpace s) => s.Name;

    /// <summary>
    /// The spaces PFA analyses: every prunable space (a conv or linear whose output channels may shrink —
    /// the classifier's output never), or only those the budget's <c>include</c> names, minus its
    /// <c>exclude</c> (and <c>layers.X.exclude</c>). Unknown or unshrinkable names are errors.
    /// </summary>
    public static IEnumerable<ChannelSpace> AnalysedSpaces(ChannelSpaces spaces, BudgetFile budget)
    {
        var b = budget.Budget;
        var names = spaces.Graph.Nodes.Select(n => n.Name).ToHashSet();
        var prunable = spaces.Prunable.ToDictionary(s => s.Name);
        void Check(string name, string path)
        {
            if (!names.Contains(name))
                throw budget.Error(path, $"the model has no layer '{name}'. Analysable layers: {string.Join(", ", prunable.Keys)}.");
            if (!prunable.ContainsKey(name))
            {
                var node = spaces.Graph.Nodes.First(n => n.Name == name);
                var space = spaces.OutputOf(node.Index);
                if (space.Prunable && space.Shared)
                    throw budget.Error(path, $"layer '{name}' writes into a residual sum: its channels are the group '{space.Name}' (shared by {string.Join(", ", space.Producers.Select(p => spaces.Graph.Nodes[p].Name))}); name '{space.Name}' instead, or set \"residual\": \"padding\" to shrink it on its own.");
                var why = LayerType.HasFilters(node.Type) ? space.Fixed ?? "its channels are tied to other layers" : $"it is a {node.Type} layer, which has no filters";
                throw budget.Error(path, $"layer '{name}' cannot be compressed: {why}. Analysable layers: {string.Join(", ", prunable.Keys)}.");
            }
        }
        for (int i = 0; i < (b.Include?.Count ?? 0); i++) Check(b.Include![i], $"$.include[{i}]");
        for (int i = 0; i < (b.Exclude?.Count ?? 0); i++) Check(b.Exclude![i], $"$.exclude[{i}]");
        foreach (var name in b.Layers?.Keys ?? Enumerable.Empty<string>()) Check(name, $"$.layers.{name}");
        foreach (var (list, key) in new[] { (b.Include, "include"), (b.Exclude, "exclude") })
            for (int i = 0; i < (list?.Count ?? 0); i++)
                if (list!.IndexOf(list[i]) < i)
                    throw budget.Error($"$.{key}[{i}]", $"'{list[i]}' is listed twice in '{key}' (positions {list.IndexOf(list[i])} and {i}); list each layer once.");
        for (int i = 0; i < (b.Exclude?.Count ?? 0); i++)
            if (b.Include?.Contains(b.Exclude![i]) == true)
                throw budget.Error($"$.exclude[{i}]", $"layer '{b.Exclude![i]}' is both in 'include' and in 'exclude'; name it in one of them.");
        foreach (var (name, l) in b.Layers ?? [])
        {
            if (l.Exclude == true && b.Include?.Contains(name) == true)
                throw budget.Error($"$.layers.{name}.exclude", $"layer '{name}' is in 'include' and has \"exclude\": true; name it in one of them.");
            if (l.Keep is { } keep && prunable[name].Channels is var width && keep > width)
                throw budget.Error($"$.layers.{name}.keep", $"'keep' of layer '{name}' is {keep}, but the layer has {width} filters; keep at most {width} (or leave the layer out of the budget to keep it whole).");
            if (l.MinFilters is { } min && prunable[name].Channels is var w && min > w)
                throw budget.Error($"$.layers.{name}.min_filters", $"'min_filters' of layer '{name}' is {min}, but the layer has {w} filters; use at most {w}.");
        }
        var excluded = new HashSet<string>(b.Exclude ?? []);
        foreach (var (name, l) in b.Layers ?? []) if (l.Exclude == true) excluded.Add(name);
        var included = b.Include is { Count: > 0 } inc ? new HashSet<string>(inc) : null;
        return prunable.Where(kv => !excluded.Contains(kv.Key) && (included is null || included.Contains(kv.Key))).Select(kv => kv.Value);
    }

    public static IReadOnlyList<string> AnalysedLayers(ChannelSpaces spaces, BudgetFile budget) =>
        AnalysedSpaces(spaces, budget).Select(s => s.Name).ToList();

    /// <summary>PFA-En count: the smallest k whose cumulative energy reaches τ (eq. 1).</summary>
    public static int EnergyCount(double[] cumulative, double tau)
    {
        int lo = 0, hi = cumulative.Length - 1;   // first index with cumulative ≥ τ − slack
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (cumulative[mid] >= tau - EnergySlack) hi = mid; else lo = mid + 1;
        }
        return lo + 1;
    }

    /// <summary>KL(λ‖u) = Σ λ_i ln(λ_i·C) with 0·ln 0 = 0 (eq. 2).</summary>
    public static double KlDivergence(double[] lambda)
    {
        int c = lambda.Length;
        return lambda.Where(v => v > 0).Sum(v => v * Math.Log(v * c));
    }

    /// <summary>PFA-KL's keep ratio γ = 1 − KL(λ‖u)/ln C in [0, 1] (1 for a single filter).</summary>
    public static double KlRatio(double[] lambda)
    {
        int c = lambda.Length;
        return c == 1 ? 1 : Math.Clamp(1 - KlDivergence(lambda) / Math.Log(c), 0, 1);
    }

    /// <summary>PFA-KL count: ⌈γ·C⌉ (at least one filter).</summary>
    public static int KlCount(double[] lambda) => Math.Clamp((int)Math.Ceiling(KlRatio(lambda) * lambda.Length - 1e-9), 1, lambda.Length);

    int MinFilters(string layer, int width) =>
        Math.Min(width, _budget.Budget.Layers?.GetValueOrDefault(layer)?.MinFilters ?? _budget.Budget.MinFilters);

    /// <summary>A layer's count at knob t (τ; the ratio for uniform; ignored by kl), with its overrides and minimum;
    /// and the rule used.</summary>
    (int Count, string Rule) Count(ChannelSpace s, double t)
    {
        var name = Name(s);
        var spectrum = _spectra[name];
        var over = _budget.Budget.Layers?.GetValueOrDefault(name);
        (int k, string rule) = over switch
        {
            { Keep: { } keep } => (Whole(Math.Min(keep, s.Channels), s), "keep"),
            { Energy: { } e } => (EnergyCount(spectrum.CumulativeEnergy(), e), $"energy {e}"),
            _ => (RoundUp(_strategy.Allocation.Count(spectrum, t), s), _strategy.Allocation.Rule),
        };
        if (over?.Energy is not null) k = Whole(k, s);
        int min = MinFilters(name, s.Channels);
        return k < min ? (RoundUp(min, s), "min_filters") : (k, rule);
    }

    /// <summary>Up to a multiple of round_to (hardware-friendly widths), never past the layer's width. Monotone in
    /// the count, so the target search stays exact over the same knots. An explicit 'keep' is left as written.</summary>
    int RoundUp(int count, ChannelSpace s) => Multiple(s) is var m and > 1 ? Whole(Math.Min(s.Channels, (count + m - 1) / m * m), s) : Whole(count, s);

    /// <summary>The space's round_to: the budget's multiple, or under "auto" the one its measured latency steps at (once per space).</summary>
    public int Multiple(ChannelSpace s)
    {
        var r = _budget.Budget.RoundTo;
        if (r is not { Auto: true }) return r?.Fixed ?? 1;
        if (_uniformMultiple is { } u) return u;
        if (!_multiples.TryGetValue(s.Id, out int m)) _multiples[s.Id] = m = _measuredMultiple(s);
        return m;
    }

    /// <summary>Up to whole groups when grouped convs read the space (they are pruned per group).</summary>
    static int Whole(int count, ChannelSpace s) => s.Granule > 1 ? Math.Min(s.Channels, (count + s.Granule - 1) / s.Granule * s.Granule) : count;

    Dictionary<int, int> Counts(double t) => _analysed.ToDictionary(s => s.Id, s => Count(s, t).Count);

    ModelCost CostAt(double t) => ModelCost.Of(Narrowed(Counts(t)));

    /// <summary>The model with these widths, and without the removed blocks.</summary>
    ModelDescription Narrowed(Dictionary<int, int> counts) =>
        _removed.Count == 0 ? Widths.Apply(_spaces, counts) : Surgery.BlockRemoval.Apply(Widths.Apply(_spaces, counts), _removed);

    public RecipePlan Plan()
    {
        var b = _budget.Budget;
        var before = ModelCost.Of(_spaces.Graph);
        RecipeLatency? latency = null;
        List<RecipeRoundToOption>? rounding = null;
        double? tau = _strategy.Target?.Invoke(b, before.Parameters, before.Macs) is { } target
            ? target.Measure == Allocation.TargetMeasure.Latency
                ? b.RoundTo is { Auto: true } ? ChooseLatencyRounding(target, out latency, out rounding) : SearchLatency(target, out latency)
                : b.RoundTo is { Auto: true } ? ChooseRounding(before, target, out rounding) : Search(before, target)
            : _strategy.FixedKnob?.Invoke(b);
        var after = CostAt(tau ?? 1);
        var layers = _analysed.OrderBy(s => s.Producer).Select(s =>
        {
            var name = Name(s);
            var spectrum = _spectra[name];
            var (count, rule) = Count(s, tau ?? 1);
            double kept = spectrum.Eigenvalues.Take(count).Sum();
            double? kl = _strategy.Allocation is Allocation.KlAllocation ? KlDivergence(spectrum.Eigenvalues) : null;
            return new LayerPlan(name, s.Channels, count, Math.Min(1, kept), kl, rule) { RoundTo = b.RoundTo is { Auto: true } ? Multiple(s) : null };
        }).ToList();
        if (b.RoundTo is { Auto: true }) Metrics.LatencyPredictor.TableFor(b.EffectiveLatency).Save();
        return new RecipePlan(b.Strategy, layers, tau, before.Parameters, after.Parameters, before.Macs, after.Macs) { Latency = latency, RoundToChoice = rounding };
    }

    /// <summary>The knob values where some layer's count changes (ascending, 1 last): the finite set the target searches scan.</summary>
    double[] Knots() => _analysed
        .Where(s => _budget.Budget.Layers?.GetValueOrDefault(Name(s)) is not ({ Keep: not null } or { Energy: not null }))
        .SelectMany(s => _strategy.Allocation.Knots(_spectra[Name(s)]))
        .Select(v => Math.Min(1.0, v)).Append(1.0).Distinct().Order().ToArray();

    /// <summary>The largest index of <paramref name="knots"/> whose recipe fits (cost grows with the knob); −1 when none does.</summary>
    static int Largest(double[] knots, Func<double, bool> fits)
    {
        if (!fits(knots[0])) return -1;
        int lo = 0, hi = knots.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (fits(knots[mid])) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>The largest knob among the layers' knots (cumulative energies; ratios k/C) whose recipe fits the target.</summary>
    double Search(ModelCost before, Allocation.SizeTarget target)
    {
        var b = _budget.Budget;
        bool footprint = target.Measure == Allocation.TargetMeasure.Parameters;
        double limit = target.Limit;
        long Measure(ModelCost c) => footprint ? c.Parameters : c.Macs;
        var knots = Knots();
        int found = Largest(knots, t => Measure(CostAt(t)) <= limit * (1 + 1e-12));
        if (found < 0)
        {
            var smallest = CostAt(knots[0]);
            string unit = footprint ? "parameters" : "FLOPs";
            long have = footprint ? smallest.Parameters : smallest.Flops;
            long want = (long)(footprint ? limit : limit * 2);
            throw _budget.Error("$.strategy", $"the {b.Strategy} target of {want:N0} {unit} cannot be met: even with every analysed layer at its minimum the model has {have:N0} {unit} (of {(footprint ? before.Parameters : before.Flops):N0}). Raise the target, lower min_filters{(b.RoundTo is not null ? " or round_to" : "")}, or analyse more layers.");
        }
        return knots[found];
    }

    /// <summary>
    /// round_to "auto" with a size target: which rounding the serving runtime rewards is not always visible layer by
    /// layer. ONNX Runtime's CPU provider runs a whole chain of convolutions in its blocked layout (NCHWc, 16 channels
    /// on AVX-512) only when every width is a multiple of the block; timed alone, each layer pays the layout change
    /// and shows no such step. On the bench's AMD EPYC, footprint 0.3 with every width a multiple of 16 ran at 42–60%
    /// of the original's time in ONNX Runtime against 72–126% unrounded (VGG, ResNet-20, MobileNet), while libtorch
    /// ran the unrounded widths as fast or faster (bench/results/latency-onnx.md, latency-footprint.md). So the plans are made with each space's measured
    /// multiple and with one multiple for every space (<see cref="UniformMultiples"/>), each meeting the target
    /// exactly; each plan's widths are measured end to end at the serving batch on the serving runtime,
    /// <see cref="LatencyPairs"/> times in turn, and the fastest median wins — the finer rounding (listed first) when
    /// within <see cref="RoundingTie"/> of it, since it departs less from the allocation's own shape.
    /// </summary>
    double ChooseRounding(ModelCost before, Allocation.SizeTarget target, out List<RecipeRoundToOption> options)
    {
        var plans = new List<(int? Multiple, double Knob, Dictionary<int, int> Counts, int[] Widths)>();
        foreach (int? m in UniformMultiples.Select(m => (int?)m).Prepend(null))
        {
            _uniformMultiple = m;
            double t;
            try { t = Search(before, target); }
            catch (Errors.PfaException) when (m is not null && plans.Count > 0) { continue; }   // this multiple cannot meet the target
            var counts = Counts(t);
            var widths = _analysed.OrderBy(s => s.Producer).Select(s => counts[s.Id]).ToArray();   // the recipe's layer order
            if (!plans.Any(p => p.Widths.SequenceEqual(widths))) plans.Add((m, t, counts, widths));
        }
        var times = plans.Select(_ => new List<double>()).ToList();
        if (plans.Count > 1)
        {
            var predictor = _latency();
            var models = plans.Select(p => Narrowed(p.Counts)).ToList();
            for (int round = 0; round < LatencyPairs; round++)
                for (int i = 0; i < plans.Count; i++) times[i].Add(predictor.Measure(models[i]));
            predictor.Save();
        }
        var medians = times.Select(t => t.Count > 0 ? Metrics.Latency.Median(t) : 0).ToList();
        double fastest = medians.Min();
        int chosen = medians.FindIndex(ms => ms <= fastest * (1 + RoundingTie));
        _uniformMultiple = plans[chosen].Multiple;
        options = plans.Select((p, i) => new RecipeRoundToOption { Multiple = p.Multiple, Milliseconds = Math.Round(medians[i], 4), Chosen = i == chosen, Widths = p.Widths }).ToList();
        return plans[chosen].Knob;
    }

    /// <summary>
    /// round_to "auto" with a latency target: the same roundings as <see cref="ChooseRounding"/>, each planned to the
    /// target by <see cref="SearchLatency"/> (its own end-to-end checks), and the one that keeps the most parameters
    /// wins — they all meet the target, so the capacity is what differs. Without it a runtime whose speed is a comb
    /// over the widths (ONNX Runtime's blocked layout) defeats the search: a larger knob gives odd widths that run
    /// slower, the search stops at small widths, and the plan lands far under the target (the VGG at batch 64,
    /// target 0.3 in ONNX Runtime: 18% of the original's time at 6% of the parameters, bench/results/latency-onnx.md).
    /// A rounding whose plan cannot meet the target is left out; when none can, the first error stands.
    /// </summary>
    double ChooseLatencyRounding(Allocation.SizeTarget target, out RecipeLatency latency, out List<RecipeRoundToOption> options)
    {
        var plans = new List<(int? Multiple, double Knob, RecipeLatency Latency, long Parameters, int[] Widths)>();
        Errors.PfaException? unmet = null;
        // Rounding up can put a target out of reach (the smallest rounded widths already too slow: ResNet-20 padding at
        // batch 1, target 0.5, in ONNX Runtime), so the unrounded plan is tried too when some layer's own multiple rounds.
        _uniformMultiple = null;
        bool perLayerRounds = _analysed.Any(s => Multiple(s) > 1);
        foreach (int? m in UniformMultiples.Select(m => (int?)m).Prepend(perLayerRounds ? 1 : null).Prepend(null).Distinct())
        {
            _uniformMultiple = m;
            double t;
            RecipeLatency measured;
            try { t = SearchLatency(target, out measured); }
            catch (Errors.PfaException e) when (e.Code == Errors.ErrorCodes.InvalidBudget) { unmet ??= e; continue; }   // this rounding cannot meet the target
            var counts = Counts(t);
            var widths = _analysed.OrderBy(s => s.Producer).Select(s => counts[s.Id]).ToArray();   // the recipe's layer order
            if (!plans.Any(p => p.Widths.SequenceEqual(widths))) plans.Add((m, t, measured, CostAt(t).Parameters, widths));
        }
        if (plans.Count == 0) throw unmet!;
        long most = plans.Max(p => p.Parameters);
        int chosen = plans.FindIndex(p => p.Parameters == most);   // equals: the finer rounding, listed first
        _uniformMultiple = plans[chosen].Multiple;
        latency = plans[chosen].Latency;
        long original = ModelCost.Of(_spaces.Graph).Parameters;
        options = plans.Select((p, i) => new RecipeRoundToOption
        {
            Multiple = p.Multiple, Milliseconds = p.Latency.MeasuredMs, Chosen = i == chosen, Widths = p.Widths,
            ParametersPercent = Math.Round(100.0 * p.Parameters / Math.Max(1, original), 2),
        }).ToList();
        return plans[chosen].Knob;
    }

    /// <summary>round_to "auto": the multiples tried for every layer at once besides each layer's measured one.</summary>
    public static readonly int[] UniformMultiples = [4, 8, 16];
    /// <summary>round_to "auto": a coarser rounding must be faster than this fraction to be chosen over a finer one.</summary>
    public const double RoundingTie = 0.05;

    /// <summary>
    /// A latency target (issue 22): the largest knob whose widths' predicted time — Σ of per-layer times measured
    /// on this machine at the serving batch, plus the rest of the original spread over its other layers' elements —
    /// fits; then the chosen widths are measured end to end (for a fraction target, with the original measured
    /// again right after, so that a machine busier now than when the table was made does not move the answer;
    /// <see cref="LatencyPairs"/> times, the median of the ratios) and,
    /// when the measurement misses the aim (<see cref="LatencyMargin"/> under the target) or undershoots it by more
    /// than <see cref="LatencyTolerance"/>, the limit the prediction must fit is corrected by aim/measured and the
    /// search repeated (at most <see cref="LatencyRounds"/> times). The largest knob measured under the aim is then
    /// checked again (<see cref="LatencyRechecks"/>) before it is kept (else the largest within the target).
    /// </summary>
    double SearchLatency(Allocation.SizeTarget target, out RecipeLatency latency)
    {
        var b = _budget.Budget;
        var serving = b.EffectiveLatency;
        var predictor = _latency();
        double? fraction = target.Milliseconds is null ? target.Limit : null;
        var knots = Knots();
        var predicted = new Dictionary<double, double>();
        double Predict(double t) => predicted.TryGetValue(t, out var ms) ? ms : predicted[t] = predictor.Predict(ModelGraph.Build(Narrowed(Counts(t))));
        double limit = target.Milliseconds ?? fraction!.Value * predictor.OriginalMs;
        // Per knob, every check's pairs: measured/target (≤ 1: within), the milliseconds, the original's beside them.
        var pairs = new Dictionary<double, List<(double Ratio, double Ms, double OriginalMs)>>();
        (double Ratio, double Ms, double OriginalMs) Of(double t) =>
            (Metrics.Latency.Median(pairs[t].Select(p => p.Ratio)), Metrics.Latency.Median(pairs[t].Select(p => p.Ms)), Metrics.Latency.Median(pairs[t].Select(p => p.OriginalMs)));
        // One check: candidate and original in turn, LatencyPairs times, and the median of the ratios: one disturbed
        // measurement (a busy moment, a slow first touch of memory) cannot choose the widths.
        void Check(double t)
        {
            var widths = Narrowed(Counts(t));
            var list = pairs.TryGetValue(t, out var l) ? l : pairs[t] = [];
            for (int i = 0; i < LatencyPairs; i++)
            {
                double ms = predictor.Measure(widths);
                double original = fraction is null ? predictor.OriginalMs : predictor.Measure(_spaces.Graph.Description);
                list.Add((fraction is { } f ? ms / original / f : ms / target.Milliseconds!.Value, ms, original));
            }
        }
        double MeasureAt(double t) { if (!pairs.ContainsKey(t)) Check(t); return Of(t).Ratio; }
        // The largest knob measured at or under a ratio.
        double? LargestUnder(double ratio) => pairs.Keys.Where(t => Of(t).Ratio <= ratio).Select(t => (double?)t).Max();
        // Aim LatencyMargin under the target: a later measurement of the same widths differs by a few percent
        // (the latency bench's ResNet-20 at 0.3: planned at 1.0 of the target, measured again at 1.053).
        const double aim = 1 - LatencyMargin;
        var rechecked = new HashSet<double>();
        double? kept = null;   // widths whose second check, pooled with the first, is within the target
        int rounds = LatencyRounds;
        while (true)
        {
            for (; rounds > 0; rounds--)
            {
                int found = Largest(knots, t => Predict(t) <= limit);
                double t = found < 0 ? knots[0] : knots[found];
                double ratio = MeasureAt(t);
                if (found < 0 && ratio > aim) { rounds = 0; break; }                   // the smallest widths: nothing faster to try
                if (ratio <= aim && ratio >= aim - LatencyTolerance) { rounds = 0; break; }   // close enough below the aim
                limit *= (aim - LatencyTolerance / 2) / ratio;                        // towards the middle of the band
            }
            // What would be kept: the largest under the aim, else the largest within the target (the knots too coarse for the band).
            if ((LargestUnder(aim) ?? LargestUnder(1)) is not { } pick || rechecked.Contains(pick) || rechecked.Count == LatencyRechecks) break;
            Check(pick);
            rechecked.Add(pick);
            double pooled = Of(pick).Ratio;
            if (pooled <= 1) { kept = pick; break; }
            // Over the target after all: widths at least this large are out (their ratio now says so); the next
            // largest measured under the aim is checked again, or — when there is none — one more search below it.
            if (LargestUnder(aim) is null)
            {
                limit = Math.Min(limit, Predict(pick) * (aim - LatencyTolerance / 2) / pooled);
                rounds = 1;
            }
        }
        predictor.Save();
        double? best = kept ?? LargestUnder(aim) ?? LargestUnder(1);   // nothing under the aim: the largest measured within the target itself
        var chosen = Of(best ?? pairs.Keys.MinBy(t => Of(t).Ratio));
        double goal(double original) => target.Milliseconds ?? fraction!.Value * original;
        if (best is null)
            throw Errors.LatencyOutOfReach.Mark(_budget.Error("$.strategy", string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"the latency target of {goal(chosen.OriginalMs):0.###} ms at batch {serving.Batch} cannot be met: the fastest widths tried take {chosen.Ms:0.###} ms (the original {chosen.OriginalMs:0.###} ms, measured on this machine). Raise the target, lower min_filters{(b.RoundTo is not null ? " or round_to" : "")}, or analyse more layers.")));
        latency = new RecipeLatency
        {
            Batch = serving.Batch, Runtime = serving.Runtime, Threads = serving.Threads,
            OriginalMs = Math.Round(chosen.OriginalMs, 4), TargetMs = Math.Round(goal(chosen.OriginalMs), 4),
            PredictedMs = Math.Round(Predict(best.Value), 4), MeasuredMs = Math.Round(chosen.Ms, 4),
            Rechecks = rechecked.Count, Rejected = rechecked.Count(t => Of(t).Ratio > 1),
            TableEntries = predictor.TableEntries, TableMeasured = predictor.TableMeasured, TableSeconds = Math.Round(predictor.TableSeconds, 2),
            EndToEndMeasurements = predictor.EndToEnd, Machine = predictor.Machine,
        };
        return best.Value;
    }

    /// <summary>A latency plan aims this fraction under the target (its measurement is repeated later, by compress
    /// and by the user, and lands a few percent either side).</summary>
    public const double LatencyMargin = 0.02;
    /// <summary>A latency plan stops correcting once measured within this fraction below its aim.</summary>
    public const double LatencyTolerance = 0.03;
    /// <summary>Searches (each with one end-to-end check) a latency plan makes at most.</summary>
    public const int LatencyRounds = 4;
    /// <summary>Measurements of the candidate (each with the original beside it, for a fraction target) in one end-to-end check.</summary>
    public const int LatencyPairs = 3;
    /// <summary>
    /// Second checks a latency plan makes at most. The widths kept are the largest read under the aim among up to
    /// <see cref="LatencyRounds"/> noisy checks, so the one that read lowest is favoured (on the bench's shared
    /// 2-core machine one batch-1 check of the same VGG read 0.50–0.80 ms; the latency bench's VGG at batch 1,
    /// target 0.3, was planned at 29% of the original and measured again at 38%). Before they are kept they are
    /// measured again, the pairs pooled with the first check's; over the target, they are dropped and the next
    /// largest under the aim is checked (or one more search made below them).
    /// </summary>
    public const int LatencyRechecks = 3;
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Recipes;
using Pfa.Core.Recipes.Allocation;
using TorchSharp;

namespace Pfa.Bench;

/// <summary>
/// The candidate search (issue 21) as the quality and residual benches study it: the recipe compress would choose,
/// timed; every candidate fine-tuned with the same budget, so the held-out score can be checked against the
/// accuracy it is meant to predict (Spearman's rank correlation); and every candidate re-scored with one CPU thread
/// instead of the machine's, the float-rounding change a different CPU brings, which sizes the near-tie margin.
/// </summary>
public static class SearchStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record CandidateRow(string Model, string Target, double Exponent, string Widths, double ParametersPercent, int Correct, int Samples,
        bool Chosen, int CorrectOneThread, double Finetuned, double FinetuneSeconds, double SearchSeconds, string? Select = null)
    {
        public string Shape => string.Create(Inv, $"{Exponent:0.##}{(Select is { } s ? $", {s}" : "")}");
    }

    /// <summary>The recipe compress would choose for this budget (searching where it applies) and the seconds it took.</summary>
    public static (Recipe Recipe, double Seconds) Choose(PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes,
        Func<string, torch.Tensor?> weightOf, Dataset train)
    {
        var watch = Stopwatch.StartNew();
        var recipe = CandidateSearch.Choose(network, analysis, budget, statsBytes, weightOf, train, 128, _ => { });
        return (recipe, watch.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Fine-tunes every distinct candidate of a searched recipe (seed 1) and re-scores it with one thread; rows are
    /// appended to <paramref name="path"/> as they finish and skipped when already there.
    /// </summary>
    public static List<CandidateRow> Study(string path, string model, string target, Recipe chosen, double searchSeconds,
        PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes, Func<string, torch.Tensor?> weightOf, Dataset train,
        Func<Recipe, (double Accuracy, double Seconds)> finetune, Action<string> say)
    {
        var done = Load(path);
        var rows = new List<CandidateRow>();
        foreach (var c in chosen.Strategy.Search ?? [])
        {
            var widths = string.Join(" ", c.Widths);
            var existing = done.FirstOrDefault(r => r.Model == model && r.Target == target && r.Exponent == c.Exponent && r.Select == c.Select);
            if (existing is not null) { rows.Add(existing); continue; }
            var recipe = c.Chosen ? chosen : CandidateSearch.Make(network, analysis, budget, statsBytes, weightOf, new CandidateSearch.Shape(c.Exponent, c.Select));
            if (string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter)) != widths) throw new InvalidOperationException($"candidate α = {c.Exponent} rebuilt with other widths");
            int oneThread = ScoreWithThreads(network, recipe, budget, train, 1);
            var twin = done.Concat(rows).FirstOrDefault(r => r.Model == model && r.Target == target && r.Widths == widths && r.Select == c.Select);
            var (accuracy, seconds) = twin is not null ? (twin.Finetuned, twin.FinetuneSeconds) : finetune(recipe);
            var row = new CandidateRow(model, target, c.Exponent, widths, c.ParametersPercent, c.Correct, c.Samples, c.Chosen, oneThread,
                Math.Round(accuracy, 2), Math.Round(seconds, 1), Math.Round(searchSeconds, 1), c.Select);
            File.AppendAllText(path, JsonSerializer.Serialize(row) + "\n");
            rows.Add(row);
            say(string.Create(Inv, $"{model} {target} candidate α = {c.Exponent:0.##}{(c.Select is { } sel ? $", {sel}" : "")}{(c.Chosen ? " (chosen)" : "")}: held-out {100.0 * c.Correct / c.Samples:0.00}% ({c.Correct}, one thread {oneThread}) → fine-tuned {accuracy:0.00}%"));
        }
        return rows;
    }

    /// <summary>The recipe the search chose for (model, target), rebuilt from the study's rows without searching
    /// again (for <c>--latency-only</c>); null when the study has no chosen row.</summary>
    public static Recipe? Chosen(string path, string model, string target, PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes,
        Func<string, torch.Tensor?> weightOf)
    {
        var row = Load(path).FirstOrDefault(r => r.Model == model && r.Target == target && r.Chosen);
        if (row is null) return null;
        var recipe = CandidateSearch.Make(network, analysis, budget, statsBytes, weightOf, new CandidateSearch.Shape(row.Exponent, row.Select));
        if (string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter)) != row.Widths) throw new InvalidOperationException($"the chosen candidate of {model} {target} rebuilt with other widths");
        return recipe;
    }

    public static List<CandidateRow> Load(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<CandidateRow>(l)!).ToList() : [];

    /// <summary>The search's score of a recipe computed with the given number of intra-op threads.</summary>
    static int ScoreWithThreads(PfaNetwork network, Recipe recipe, BudgetFile budget, Dataset train, int threads)
    {
        int before = torch.get_num_threads();
        torch.set_num_threads(threads);
        try
        {
            var (held, rest) = CandidateSearch.Split(budget, train);
            using (held)
            using (rest)
                return CandidateSearch.Score(network, recipe, budget, held, rest, 128);
        }
        finally { torch.set_num_threads(before); }
    }

    /// <summary>The criterion a recipe's chosen candidate had when not the budget's ("l1" for the peer); null
    /// otherwise and for recipes that did not search. Twins (the same computation) match on widths and this.</summary>
    public static string? SelectOf(Recipe recipe) => recipe.Strategy.Search?.FirstOrDefault(c => c.Chosen)?.Select;

    /// <summary>Spearman's ρ: Pearson's correlation of the ranks, ties given their average rank.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var rx = Ranks(x);
        var ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++) { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - my) * (ry[i] - my); }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    public static double[] Ranks(IReadOnlyList<double> v)
    {
        var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
            for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return ranks;
    }

    /// <summary>The candidates table, the rank correlation per model and target, and the one-thread score changes.</summary>
    public static void AppendReport(StringBuilder md, IReadOnlyList<CandidateRow> rows, Func<string, double> epochSecondsOf)
    {
        if (rows.Count == 0) return;
        md.AppendLine("## The candidate search: does the held-out score rank candidates as fine-tuning does?");
        md.AppendLine();
        md.AppendLine("Each candidate of the default's search (per-layer keep ratio ∝ γ^α, α from 1 = PFA-KL to 0 = uniform, each scaled to the target; \"0, l1\": uniform widths with ℓ1 selection, the uniform + l1 peer) after surgery, recalibration (batch norms, then the classifier's bias where kept) and 60 training batches (the search's `train_batches`), scored on 2,000 held-out training samples (the search's score), then fine-tuned with the option's budget (seed 1) and evaluated on the test images. ρ = Spearman's rank correlation of score and fine-tuned accuracy over the distinct candidates. One thread: the score recomputed with 1 intra-op thread instead of the machine's (a change of summation order like another CPU's), in samples. Search time: the whole search (every candidate's surgery, recalibration, training batches and scoring), in seconds and in fine-tune epochs of the chosen model.");
        md.AppendLine();
        md.AppendLine("| model | target | α | % params | held-out score | one thread Δ | fine-tuned | chosen |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            md.AppendLine(string.Create(Inv, $"| {r.Model} | {r.Target} | {r.Shape} | {r.ParametersPercent:0.00} | {100.0 * r.Correct / r.Samples:0.00} | {r.CorrectOneThread - r.Correct:+0;-0;0} | {r.Finetuned:0.00} | {(r.Chosen ? "**chosen**" : "")} |"));
        md.AppendLine();
        md.AppendLine("| model | target | distinct candidates | ρ (score, fine-tuned) | chosen's fine-tuned − best candidate's | search time | in fine-tune epochs |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var g in rows.GroupBy(r => (r.Model, r.Target)))
        {
            var distinct = g.GroupBy(r => (r.Widths, r.Select)).Select(w => w.First()).ToList();
            double rho = Spearman(distinct.Select(r => (double)r.Correct).ToList(), distinct.Select(r => r.Finetuned).ToList());
            var chosen = g.First(r => r.Chosen);
            double epoch = epochSecondsOf(g.Key.Model);
            md.AppendLine(string.Create(Inv, $"| {g.Key.Model} | {g.Key.Target} | {distinct.Count} | {(double.IsNaN(rho) ? "—" : rho.ToString("0.00", Inv))} | {chosen.Finetuned - distinct.Max(r => r.Finetuned):0.00} | {chosen.SearchSeconds:0} s | {chosen.SearchSeconds / epoch:0.00} |"));
        }
        var deltas = rows.Select(r => Math.Abs(r.CorrectOneThread - r.Correct)).ToList();
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"One thread against the machine's: the held-out score moved by {deltas.Max()} samples at most (mean {deltas.Average():0.0}) over {rows.Count} candidates of {rows[0].Samples:N0} samples; the search's margin is {CandidateSearch.Margin * rows[0].Samples:0} samples ({CandidateSearch.Margin * 100} pp)."));
        md.AppendLine();
    }
}

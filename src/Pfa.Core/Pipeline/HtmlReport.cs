using System.Globalization;
using System.Net;
using System.Text;
using Pfa.Core.Recipes;

namespace Pfa.Core.Pipeline;

/// <summary>
/// report.html: one self-contained page (inline SVG, no scripts) with the outcome, the widths before and
/// after, and per layer the spectrum's cumulative energy with the cut point the recipe chose.
/// </summary>
public static class HtmlReport
{
    public const string FileName = "report.html";
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(Recipe recipe, Summary? summary, IReadOnlyList<Alternative>? alternatives = null,
        IReadOnlyList<Recipes.Design.GargDesign.SweepRow>? sweep = null)
    {
        var h = new StringBuilder();
        string E(string s) => WebUtility.HtmlEncode(s);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>PFA report — ").Append(E(recipe.Model)).Append("</title>\n");
        h.Append("<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-weight:600}</style></head><body>\n");
        h.Append("<h1>PFA compression of ").Append(E(recipe.Model == "" ? "the model" : recipe.Model)).Append("</h1>\n");
        h.Append(string.Create(Inv, $"<p>Strategy <b>{E(recipe.Strategy.Name)}</b>{E(recipe.Strategy.KnobText())}{(recipe.Strategy.Energy is { } en ? $", energy {en}" : "")}{(recipe.Strategy.Target is { } tg ? $", target {tg}" : "")}; {E(recipe.Tool)}.</p>\n"));
        h.Append("<table><tr><th></th><th>before</th><th>after</th><th></th></tr>\n");
        h.Append(string.Create(Inv, $"<tr><td>parameters</td><td>{recipe.Totals.ParametersBefore:N0}</td><td>{recipe.Totals.ParametersAfter:N0}</td><td>{recipe.Totals.ParametersPercent}%</td></tr>\n"));
        h.Append(string.Create(Inv, $"<tr><td>MACs</td><td>{recipe.Totals.MacsBefore:N0}</td><td>{recipe.Totals.MacsAfter:N0}</td><td>{recipe.Totals.MacsPercent}%</td></tr>\n"));
        if (summary is not null)
            h.Append(string.Create(Inv, $"<tr><td>top-1 accuracy</td><td>{summary.AccuracyBefore:0.00}%</td><td>{summary.AccuracyAfter:0.00}%</td><td>{-summary.Drop:+0.00;-0.00} pp{(summary.Tolerance is { } tol ? $" (tolerance {tol} pp: {(summary.Passed ? "passed" : "failed")})" : "")}</td></tr>\n"));
        if (summary?.AccuracySurgery is { } surgery)
            h.Append(string.Create(Inv, $"<tr><td>top-1 right after surgery{(summary!.AccuracyRecalibrated is not null ? $" / {summary.RecalibrationLabel}" : "")}</td><td></td><td>{surgery:0.00}%{(summary.AccuracyRecalibrated is { } rc ? $" / {rc:0.00}%" : "")}</td><td>before fine-tuning</td></tr>\n"));
        if (recipe.Strategy.Latency is { } lp)
            h.Append(string.Create(Inv, $"<tr><td>latency, batch {lp.Batch} ({E(lp.Runtime)}), planned</td><td>{lp.OriginalMs:0.###} ms</td><td>{lp.MeasuredMs:0.###} ms</td><td>target {lp.TargetMs:0.###} ms; predicted {lp.PredictedMs:0.###} ms; {lp.Rechecks} second check(s), {lp.Rejected} rejected; table {lp.TableEntries} layers ({lp.TableMeasured} measured now, {lp.TableSeconds:0.#} s)</td></tr>\n"));
        if (summary?.LatencyTarget is { } lt)
            h.Append($"<tr><td>latency target, measured after compression</td><td>{lt.OriginalMs.ToString("0.###", Inv)} ms</td><td>{lt.MeasuredMs.ToString("0.###", Inv)} ms</td><td>{E(LatencyTargetCheck.Line(lt))}</td></tr>\n");
        h.Append("</table>\n<h2>Filters per layer</h2>\n").Append(Widths(recipe));
        if (recipe.Strategy.Search is { Count: > 0 } search) h.Append(Candidates(recipe, search));
        if (recipe.Strategy.RoundToChoice is { Count: > 1 } rounding) h.Append(Rounding(recipe, rounding));
        if (alternatives is { Count: > 0 }) h.Append(Compare(recipe, alternatives));
        if (sweep is { Count: > 0 }) h.Append(TradeOff(recipe, sweep));
        h.Append("\n<h2>Cumulative response energy</h2>\n<div class=\"grid\">\n");
        foreach (var l in recipe.Layers) h.Append(Energy(l));
        h.Append("</div>\n</body></html>\n");
        return h.ToString();
    }

    /// <summary>This recipe's widths beside what other strategies keep at the same size.</summary>
    static string Compare(Recipe recipe, IReadOnlyList<Alternative> alternatives)
    {
        string E(string s) => WebUtility.HtmlEncode(s);
        var usable = alternatives.Where(a => a.Unreachable is null).ToList();
        var s = new StringBuilder("\n<h2>Other strategies at this size</h2>\n<table><tr><th>layer</th><th>before</th>");
        s.Append("<th>").Append(E(recipe.Strategy.Name)).Append(" (this recipe)</th>");
        foreach (var a in usable) s.Append("<th>").Append(E(a.Strategy)).Append("</th>");
        s.Append("</tr>\n");
        foreach (var l in recipe.Layers)
        {
            s.Append(string.Create(Inv, $"<tr><td>{E(l.Name)}</td><td>{l.FiltersBefore}</td><td><b>{l.FiltersAfter}</b></td>"));
            foreach (var a in usable) s.Append(string.Create(Inv, $"<td>{a.Widths.GetValueOrDefault(l.Name, l.FiltersBefore)}</td>"));
            s.Append("</tr>\n");
        }
        string Percent(long v, long of) => of == 0 ? "100" : (100.0 * v / of).ToString("0.00", Inv);
        s.Append(string.Create(Inv, $"<tr><td>% parameters</td><td>100</td><td>{recipe.Totals.ParametersPercent:0.00}</td>"));
        foreach (var a in usable) s.Append("<td>").Append(Percent(a.Parameters, recipe.Totals.ParametersBefore)).Append("</td>");
        s.Append(string.Create(Inv, $"</tr>\n<tr><td>% MACs</td><td>100</td><td>{recipe.Totals.MacsPercent:0.00}</td>"));
        foreach (var a in usable) s.Append("<td>").Append(Percent(a.Macs, recipe.Totals.MacsBefore)).Append("</td>");
        s.Append("</tr>\n</table>\n");
        foreach (var a in alternatives.Where(a => a.Unreachable is not null))
            s.Append("<p>").Append(E(a.Strategy)).Append(": ").Append(E(a.Unreachable!)).Append("</p>\n");
        s.Append("<p>Widths only (no fine-tune): measured accuracy at equal size is in the README's benchmark.</p>\n");
        return s.ToString();
    }

    /// <summary>Garg et al. §III-E: the design at each threshold (widths, dropped layers, size).</summary>
    static string TradeOff(Recipe recipe, IReadOnlyList<Recipes.Design.GargDesign.SweepRow> sweep)
    {
        var s = new StringBuilder("\n<h2>Trade-off: the design at each explained-variance threshold</h2>\n<table><tr><th>threshold</th>");
        foreach (var l in recipe.Layers) s.Append("<th>").Append(WebUtility.HtmlEncode(l.Name)).Append("</th>");
        s.Append("<th>% parameters</th><th>% MACs</th></tr>\n");
        foreach (var row in sweep)
        {
            s.Append(string.Create(Inv, $"<tr><td>{row.Threshold}</td>"));
            foreach (var l in row.Layers) s.Append(l.Dropped ? string.Create(Inv, $"<td><s>{l.Width}</s></td>") : string.Create(Inv, $"<td>{l.Width}</td>"));
            s.Append(string.Create(Inv, $"<td>{100.0 * row.Parameters / recipe.Totals.ParametersBefore:0.00}</td><td>{100.0 * row.Macs / Math.Max(1, recipe.Totals.MacsBefore):0.00}</td></tr>\n"));
        }
        return s.Append("</table>\n<p>Struck-through widths are layers the depth rule drops (their S_L does not exceed the last kept layer's).</p>\n").ToString();
    }

    /// <summary>The allocation search: each candidate shape, its widths and held-out score, the chosen one marked.</summary>
    static string Candidates(Recipe recipe, List<RecipeCandidate> search)
    {
        var s = new StringBuilder("<h2>Candidate allocations</h2>\n<p>Each meets the target; scored after surgery, recalibration (batch norms and classifier) and a few training batches on held-out training samples. α = 1 is the PFA-KL shape, α = 0 one ratio for every layer; “l1” keeps the filters of largest ℓ1 norm instead of the budget's selection.</p>\n<table><tr><th>α</th>");
        foreach (var l in recipe.Layers) s.Append("<th>").Append(WebUtility.HtmlEncode(l.Name)).Append("</th>");
        s.Append("<th>% params</th><th>% MACs</th><th>held-out top-1</th><th></th></tr>\n");
        foreach (var c in search)
        {
            s.Append(string.Create(Inv, $"<tr><td>{c.Exponent:0.##}{(c.Select is { } sel ? $", {sel}" : "")}</td>"));
            foreach (var w in c.Widths) s.Append(string.Create(Inv, $"<td>{w}</td>"));
            s.Append(string.Create(Inv, $"<td>{c.ParametersPercent}%</td><td>{c.MacsPercent}%</td><td>{100.0 * c.Correct / Math.Max(1, c.Samples):0.00}% of {c.Samples:N0}</td><td>{(c.Chosen ? "<b>chosen</b>" : "")}</td></tr>\n"));
        }
        return s.Append("</table>\n").ToString();
    }

    static string Rounding(Recipe recipe, IReadOnlyList<RecipeRoundToOption> options)
    {
        // A latency target's roundings all meet it and are told apart by the parameters they keep; a size target's by their time.
        bool latency = options.Any(o => o.ParametersPercent is not null);
        var s = new StringBuilder("<h2>round_to \"auto\": roundings measured end to end</h2>\n<p>")
            .Append(latency
                ? "Each planned to the latency target with its own end-to-end checks at the budget's serving batch and runtime (<code>latency</code>); the one that keeps the most parameters is chosen."
                : "Each meets the target; timed in turn at the budget's serving batch and runtime (<code>latency</code>); the fastest is chosen.")
            .Append(" “per layer”: each layer's multiple from its measured latency steps.</p>\n<table><tr><th>multiple</th>");
        foreach (var l in recipe.Layers) s.Append("<th>").Append(WebUtility.HtmlEncode(l.Name)).Append("</th>");
        s.Append(latency ? "<th>measured ms</th><th>% params</th><th></th></tr>\n" : "<th>median ms</th><th></th></tr>\n");
        foreach (var o in options)
        {
            s.Append(string.Create(Inv, $"<tr><td>{(o.Multiple is { } m ? m.ToString(Inv) : "per layer")}</td>"));
            foreach (var w in o.Widths) s.Append(string.Create(Inv, $"<td>{w}</td>"));
            s.Append(string.Create(Inv, $"<td>{o.Milliseconds:0.###}</td>{(latency ? $"<td>{o.ParametersPercent}%</td>" : "")}<td>{(o.Chosen ? "<b>chosen</b>" : "")}</td></tr>\n"));
        }
        return s.Append("</table>\n").ToString();
    }

    static string Widths(Recipe recipe)
    {
        int rowH = 22, labelW = 120, barW = 420;
        double max = recipe.Layers.Select(l => l.FiltersBefore).DefaultIfEmpty(1).Max();
        var s = new StringBuilder();
        s.Append(string.Create(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{labelW + barW + 120}\" height=\"{rowH * recipe.Layers.Count + 10}\" role=\"img\" aria-label=\"filters before and after\">"));
        for (int i = 0; i < recipe.Layers.Count; i++)
        {
            var l = recipe.Layers[i];
            double y = 5 + i * rowH, wb = barW * l.FiltersBefore / max, wa = barW * l.FiltersAfter / max;
            s.Append(string.Create(Inv, $"<text x=\"0\" y=\"{y + 14}\">{WebUtility.HtmlEncode(l.Name)}</text>"));
            s.Append(string.Create(Inv, $"<rect x=\"{labelW}\" y=\"{y}\" width=\"{wb:0.#}\" height=\"16\" fill=\"#ccd\"/><rect x=\"{labelW}\" y=\"{y}\" width=\"{wa:0.#}\" height=\"16\" fill=\"#36c\"/>"));
            s.Append(string.Create(Inv, $"<text x=\"{labelW + wb + 6:0.#}\" y=\"{y + 14}\">{l.FiltersAfter} / {l.FiltersBefore}</text>"));
        }
        return s.Append("</svg>").ToString();
    }

    static string Energy(RecipeLayer l)
    {
        int w = 260, hgt = 150, pad = 28;
        var points = new StringBuilder();
        double cumulative = 0;
        int n = l.Spectrum.Length;
        points.Append(string.Create(Inv, $"{pad},{hgt - pad} "));
        for (int k = 0; k < n; k++)
        {
            cumulative += l.Spectrum[k];
            double x = pad + (w - 2 * pad) * (k + 1.0) / n, y = (hgt - pad) - (hgt - 2 * pad) * Math.Min(1, cumulative);
            points.Append(string.Create(Inv, $"{x:0.#},{y:0.#} "));
        }
        double cut = pad + (w - 2 * pad) * (double)l.FiltersAfter / n;
        return string.Create(Inv,
            $"<figure><figcaption>{WebUtility.HtmlEncode(l.Name)} — {(l.Dropped is not null ? "dropped; S_L = " : "keeps ")}{l.FiltersAfter} of {l.FiltersBefore}, {(l.Rule == "significant_dimensions" ? "explained variance" : "energy")} {l.EnergyKept:0.###}</figcaption>" +
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" role=\"img\" aria-label=\"cumulative energy of {WebUtility.HtmlEncode(l.Name)}\">" +
            $"<rect x=\"{pad}\" y=\"{pad}\" width=\"{w - 2 * pad}\" height=\"{hgt - 2 * pad}\" fill=\"none\" stroke=\"#bbb\"/>" +
            $"<polyline points=\"{points.ToString().Trim()}\" fill=\"none\" stroke=\"#36c\" stroke-width=\"2\"/>" +
            $"<line x1=\"{cut:0.#}\" y1=\"{pad}\" x2=\"{cut:0.#}\" y2=\"{hgt - pad}\" stroke=\"#c33\" stroke-dasharray=\"4 3\"/>" +
            $"<text x=\"{pad}\" y=\"{hgt - 8}\" font-size=\"11\">filters →</text><text x=\"2\" y=\"{pad + 4}\" font-size=\"11\">1.0</text></svg></figure>\n");
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Pipeline;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// Issue 21's open cell: on ResNet-20 (projection) the search's proxy — held-out top-1 after recalibration and 60
/// training batches at the fine-tune's rate held constant — preferred PFA shapes that fine-tune about 0.1 pp worse
/// than the uniform + l1 peer (8 seeds, bench/results/residual.md). The fine-tune anneals its rate (cosine) and is
/// judged at the end; a constant-rate proxy is judged mid-flight. This study re-scores every candidate of the residual
/// bench's search study (bench/work/residual/candidates.jsonl, restored from residual.md's log block) with other
/// proxies — the same batches with the rate annealed (cosine), or more batches — on the same held-out slice and seed,
/// and reports which candidate each proxy would choose (the search's own rule: the best, unless within the margin of
/// α = 1), the rank correlation with the candidates' fine-tuned accuracy (seed 1), and the residual bench's
/// multi-seed accuracy of the options that are the same recipes (α = 1 = no search, the chosen one = default,
/// "0, l1" = uniform + l1). Rows in bench/work/residual/proxy.jsonl (resumable).
/// </summary>
public static class ProxyStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One candidate's score under one proxy: training batches and the rate's schedule over them.</summary>
    public sealed record Row(string Model, string Target, double Exponent, string? Select, string Widths, string Proxy, int Correct, int Samples);

    sealed record Proxy(string Name, ScheduleKind Schedule, int Batches);

    static Proxy Parse(string s)
    {
        // "cosine60", "constant120"
        int digits = s.IndexOfAny("0123456789".ToCharArray());
        var kind = Enum.Parse<ScheduleKind>(s[..digits], ignoreCase: true);
        return new Proxy(s, kind, int.Parse(s[digits..], Inv));
    }

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var work = Arg("--work", "bench/work/residual");
        var outPath = Arg("--out", "bench/results/proxy-study.md");
        var only = Arg("--models", "resnet20-projection,resnet20-padding,mobilenet").Split(',');
        var proxies = Arg("--proxies", "cosine60").Split(',').Select(Parse).ToList();
        var rowsPath = Path.Combine(work, "proxy.jsonl");
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var candidates = SearchStudy.Load(Path.Combine(work, "candidates.jsonl"));
        var normalize = ResidualBench.Normalize;

        foreach (var (name, residual) in ResidualBench.Nets.Where(n => only.Contains(n.Name) && !args.Contains("--report-only")).Select(n => (n.Name, n.Residual)))
        {
            var dir = Path.Combine(work, name);
            using var trained = ResidualBench.LoadTrained(dir, residual);
            var (network, analysis, statsBytes, weightOf) = (trained.Network, trained.Analysis, trained.StatsBytes, trained.WeightOf);
            using var train = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = 20000 }, normalize);
            foreach (var c in candidates.Where(c => c.Model == name))
            {
                // The residual bench's default budget at this target: the search's held-out slice and seed.
                double target = double.Parse(c.Target.TrimEnd('%'), Inv) / 100;
                var budget = new BudgetFile(new PfaBudget { Strategy = "footprint", Target = target, Residual = residual }, dir, null);
                var recipe = CandidateSearch.Make(network, analysis, budget, statsBytes, weightOf, new CandidateSearch.Shape(c.Exponent, c.Select));
                var widths = string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter));
                if (widths != c.Widths) throw new InvalidOperationException($"{name} {c.Target} {c.Shape} rebuilt with other widths");
                foreach (var proxy in proxies)
                {
                    if (done.Any(r => r.Model == name && r.Target == c.Target && r.Exponent == c.Exponent && r.Select == c.Select && r.Proxy == proxy.Name)) continue;
                    var (held, rest) = CandidateSearch.Split(budget, train);
                    int correct;
                    using (held)
                    using (rest)
                    {
                        var scoring = budget with { Budget = budget.Budget with { Search = budget.Budget.EffectiveSearch with { TrainBatches = proxy.Batches } } };
                        correct = CandidateSearch.Score(network, recipe, scoring, held, rest, 128, proxy.Schedule);
                    }
                    var row = new Row(name, c.Target, c.Exponent, c.Select, widths, proxy.Name, correct, c.Samples);
                    File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                    done.Add(row);
                    Console.WriteLine(string.Create(Inv, $"{name} {c.Target} {c.Shape}: {proxy.Name} {100.0 * correct / c.Samples:0.00}% (constant60 {100.0 * c.Correct / c.Samples:0.00}%), fine-tuned {c.Finetuned:0.00}%"));
                }
            }
        }
        Write(outPath, done, candidates, work);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    static void Write(string path, List<Row> rows, List<SearchStudy.CandidateRow> candidates, string work)
    {
        var residualPath = Path.Combine(work, "rows.jsonl");
        var residual = File.Exists(residualPath) ? File.ReadAllLines(residualPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<ResidualBench.Row>(l)!).ToList() : [];
        var proxyNames = rows.Select(r => r.Proxy).Distinct().ToList();
        var md = new StringBuilder("# The search's proxy: which score picks the candidate that fine-tunes best (issue 21)\n\n");
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll proxy --proxies {string.Join(",", proxyNames)}` ({BenchMachine.Describe()}). Every candidate of the residual bench's search study re-scored on the same 2,000 held-out training samples, same seed, after the same surgery and batch-norm recalibration; **constant60** = the search's proxy (60 training batches of 128 at the fine-tune's rate held constant); **cosineN** = N batches with the rate annealed to 0 over them (cosine, as the fine-tune does over its epoch); **constantN** = N batches at a constant rate. Fine-tuned: the candidate fine-tuned with the residual bench's budget, seed 1 (from the search study); seeds: the residual bench's mean over its seeds for the options that are the same recipe (α = 1: no search; the default's chosen candidate; \"0, l1\": uniform + l1). ρ: Spearman's rank correlation of a proxy's scores with the seed-1 fine-tuned accuracy over the cell's distinct candidates. Chosen: the search's rule (the best score, first of equals; kept only when it leads α = 1 by more than 0.5 pp)."));
        md.AppendLine();
        md.AppendLine($"| model | target | α | fine-tuned (seed 1) | fine-tuned (seeds) | constant60 | {string.Join(" | ", proxyNames)} |");
        md.AppendLine($"|---|---|---:|---:|---:|---:|{string.Concat(proxyNames.Select(_ => "---:|"))}");
        var summary = new StringBuilder();
        summary.AppendLine($"| model | target | proxy | ρ (score, fine-tuned seed 1) | chosen | its fine-tuned (seeds) |");
        summary.AppendLine("|---|---|---|---:|---|---:|");
        foreach (var cell in candidates.GroupBy(c => (c.Model, c.Target)))
        {
            var list = cell.ToList();
            string Seeds(SearchStudy.CandidateRow c)
            {
                string? option = c.Chosen ? "default" : c.Exponent == 1 && c.Select is null ? "no search" : c.Exponent == 0 && c.Select == "l1" ? "uniform+l1" : null;
                var acc = option is null ? [] : residual.Where(r => r.Model == c.Model && r.Option == $"{option} {c.Target}").Select(r => r.After).ToList();
                if (acc.Count == 0) return "";
                double m = acc.Average(), sd = acc.Count > 1 ? Math.Sqrt(acc.Sum(a => (a - m) * (a - m)) / (acc.Count - 1)) : 0;
                return string.Create(Inv, $"{m:0.00} ± {sd:0.00} ({acc.Count})");
            }
            int? Score(SearchStudy.CandidateRow c, string proxy) => proxy == "constant60" ? c.Correct
                : rows.FirstOrDefault(r => r.Model == c.Model && r.Target == c.Target && r.Exponent == c.Exponent && r.Select == c.Select && r.Proxy == proxy)?.Correct;
            foreach (var c in list)
                md.AppendLine(string.Create(Inv, $"| {c.Model} | {c.Target} | {c.Shape} | {c.Finetuned:0.00} | {Seeds(c)} | {100.0 * c.Correct / c.Samples:0.00} | {string.Join(" | ", proxyNames.Select(p => Score(c, p) is { } k ? (100.0 * k / c.Samples).ToString("0.00", Inv) : ""))} |"));
            foreach (var proxy in new[] { "constant60" }.Concat(proxyNames))
            {
                var scores = list.Select(c => Score(c, proxy)).ToList();
                if (scores.Any(s => s is null)) continue;
                var k = scores.Select(s => s!.Value).ToList();
                double rho = SearchStudy.Spearman(k.Select(x => (double)x).ToList(), list.Select(c => c.Finetuned).ToList());
                var chosen = list[CandidateSearch.Pick(k, list[0].Samples)];
                summary.AppendLine(string.Create(Inv, $"| {cell.Key.Model} | {cell.Key.Target} | {proxy} | {rho:0.00} | {chosen.Shape} | {(Seeds(chosen) is { Length: > 0 } s ? s : $"{chosen.Finetuned:0.00} (seed 1)")} |"));
            }
        }
        md.AppendLine().AppendLine("## What each proxy would choose").AppendLine().Append(summary);
        md.AppendLine().AppendLine("## Rows").AppendLine().AppendLine("```");
        foreach (var r in rows) md.AppendLine(JsonSerializer.Serialize(r));
        md.AppendLine("```");
        File.WriteAllText(path, md.ToString());
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Pipeline;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// Issue 21's open question on the residual bench's networks: at the same widths, ℓ1 selection fine-tuned better than
/// the default variance selection in 5 of 6 cells of the search study (bench/results/residual.md, seed 1), and the
/// one failing cell (ResNet-20 projection at 50%) chose a PFA shape with variance selection. So: PFA shapes between
/// PFA-KL and uniform (per-layer keep ∝ γ^α) with another selection (<c>--select</c>: ℓ1, or "variance-bn", the
/// variance selection weighing each channel by the batch norm that follows it, <see cref="BnScaledVariance"/>), each
/// scored by the search's proxy (the same held-out
/// slice and seed as the search) and fine-tuned with the residual bench's budget for several seeds. Needs the
/// residual bench's trained models (bash bench/restore-trained.sh). Rows in bench/work/residual/selection.jsonl
/// (resumable), table in bench/results/selection-study.md next to the residual bench's rows of the same cells
/// (bench/work/residual/rows.jsonl; after bench/restore-trained.sh, copy them from residual.md's log block).
/// </summary>
public static class SelectionStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Row(string Model, string Target, double Exponent, string Select, string Widths, double ParametersPercent,
        int Correct, int Samples, int Seed, double Finetuned, double FinetuneSeconds);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var work = Arg("--work", "bench/work/residual");
        var outPath = Arg("--out", "bench/results/selection-study.md");
        var only = Arg("--models", "resnet20-projection,resnet20-padding,mobilenet").Split(',');
        var targets = Arg("--targets", "0.5,0.3").Split(',').Select(t => double.Parse(t, Inv)).ToArray();
        var exponents = Arg("--exponents", "0.5,0.25").Split(',').Select(t => double.Parse(t, Inv)).ToArray();
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        // "l1", "variance-bn" (greedy explained variance of what the next layer sees, BnScaledVariance), or "trunk-l1" /
        // "inner-l1" (ℓ1 for the residual groups only / for every other layer only, variance for the rest).
        var select = Arg("--select", "l1");
        var rowsPath = Path.Combine(work, "selection.jsonl");
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var normalize = ResidualBench.Normalize;
        var finetune = ResidualBench.Finetune(epochs: 1);

        foreach (var (name, residual) in ResidualBench.Nets.Where(n => only.Contains(n.Name) && !args.Contains("--report-only")).Select(n => (n.Name, n.Residual)))
        {
            var dir = Path.Combine(work, name);
            using var trained = ResidualBench.LoadTrained(dir, residual);
            var (network, analysis, statsBytes, weightOf) = (trained.Network, trained.Analysis, trained.StatsBytes, trained.WeightOf);
            using var test = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "test" }, normalize);
            using var train = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = 20000 }, normalize);
            foreach (var target in targets)
                foreach (var exponent in args.Contains("--search") ? SearchChoice(select, target, name, residual, network, analysis, statsBytes, weightOf, train, dir) : exponents)
                {
                    var label = $"{target * 100:0}%";
                    // The residual bench's default budget at this target: the search's held-out slice and seed.
                    var budget = new BudgetFile(new PfaBudget { Strategy = "footprint", Target = target, Residual = residual }, dir, null);
                    var recipe = RecipeOf(select, exponent, network, analysis, budget, statsBytes, weightOf);
                    var widths = string.Join(" ", recipe.Layers.Select(l => l.FiltersAfter));
                    int correct, samples = CandidateSearch.HeldOut(budget, train);
                    var scored = done.FirstOrDefault(r => r.Model == name && r.Target == label && r.Exponent == exponent && r.Select == select);
                    if (scored is not null) correct = scored.Correct;
                    else
                    {
                        var (held, rest) = CandidateSearch.Split(budget, train);
                        using (held) using (rest) correct = CandidateSearch.Score(network, recipe, budget, held, rest, 128);
                    }
                    for (int seed = 1; seed <= seeds; seed++)
                    {
                        if (done.Any(r => r.Model == name && r.Target == label && r.Exponent == exponent && r.Select == select && r.Seed == seed)) continue;
                        var (accuracy, seconds) = BenchFinetune.Run(network, recipe, seed, train, test, finetune, distill: false);
                        var row = new Row(name, label, exponent, select, widths, recipe.Totals.ParametersPercent, correct, samples, seed, Math.Round(accuracy, 2), Math.Round(seconds, 1));
                        File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                        done.Add(row);
                        Console.WriteLine(string.Create(Inv, $"{name} {label} α = {exponent}, {select} seed {seed}: held-out {100.0 * correct / samples:0.00}%, fine-tuned {accuracy:0.00}% ({seconds:0} s), widths {widths}"));
                    }
                }
        }
        Write(outPath, done, work);
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    /// <summary>With --search: the search's family (α = 1, 0.75, 0.5, 0.25, 0) with the study's selection, and the
    /// uniform + ℓ1 peer, each scored by the search's proxy and chosen by its rule (<see cref="CandidateSearch.Pick"/>):
    /// what compress would choose were that selection the default. The chosen α is fine-tuned (none when the peer
    /// wins: its rows are the residual bench's uniform + l1).</summary>
    static IEnumerable<double> SearchChoice(string select, double target, string name, string residual, Pfa.Core.Model.PfaNetwork network, AnalysisResult analysis,
        byte[] statsBytes, Func<string, TorchSharp.torch.Tensor?> weightOf, Dataset train, string dir)
    {
        var budget = new BudgetFile(new PfaBudget { Strategy = "footprint", Target = target, Residual = residual }, dir, null);
        var (held, rest) = CandidateSearch.Split(budget, train);
        var exponents = new[] { 1, 0.75, 0.5, 0.25, 0 };
        var correct = new List<int>();
        using (held) using (rest)
        {
            foreach (var e in exponents) correct.Add(CandidateSearch.Score(network, RecipeOf(select, e, network, analysis, budget, statsBytes, weightOf), budget, held, rest, 128));
            correct.Add(CandidateSearch.Score(network, CandidateSearch.Make(network, analysis, budget, statsBytes, weightOf, new CandidateSearch.Shape(0, "l1")), budget, held, rest, 128));
        }
        int samples = CandidateSearch.HeldOut(budget, train);
        int pick = CandidateSearch.Pick(correct, samples);
        Console.WriteLine(string.Create(Inv, $"{name} {target * 100:0}% search with {select}: {string.Join(", ", correct.Select((c, i) => $"{(i < exponents.Length ? $"α = {exponents[i]}" : "peer")} {100.0 * c / samples:0.00}%"))} → {(pick < exponents.Length ? $"α = {exponents[pick]}" : "the peer")}"));
        return pick < exponents.Length ? [exponents[pick]] : [];
    }

    /// <summary>A candidate shape's recipe with the study's selection.</summary>
    static Pfa.Core.Recipes.Recipe RecipeOf(string select, double exponent, Pfa.Core.Model.PfaNetwork network, AnalysisResult analysis, BudgetFile budget, byte[] statsBytes,
        Func<string, TorchSharp.torch.Tensor?> weightOf)
    {
        Pfa.Core.Recipes.Recipe Make(string? s) => CandidateSearch.Make(network, analysis, budget, statsBytes, weightOf, new CandidateSearch.Shape(exponent, s));
        // Variance on every layer: without the weights the product's variance leaves the residual branches alone too.
        Pfa.Core.Recipes.Recipe Variance() => CandidateSearch.Make(network, analysis, budget, statsBytes, null, new CandidateSearch.Shape(exponent));
        return select switch
        {
            "variance-bn" => BnScaledVariance.Reselect(network, analysis, budget, Variance()),
            // Which layers' selection makes ℓ1's lead: the residual groups' (trunk) or the layers inside the blocks.
            "trunk-l1" => Mixed(Variance(), Make("l1"), l => l.Shared is not null),
            "inner-l1" => Mixed(Variance(), Make("l1"), l => l.Shared is null),
            // ℓ1 for the layer before the last of each residual branch (ResidualBranches): the product's variance
            // selection since issue 21 when the weights are given.
            "branch-l1" => Make(null),
            _ => Make(select),
        };
    }

    /// <summary>The variance recipe with the kept filters of the layers <paramref name="fromL1"/> picks taken from
    /// the ℓ1 recipe of the same shape: the widths are the same, only the selection of those layers changes.</summary>
    static Pfa.Core.Recipes.Recipe Mixed(Pfa.Core.Recipes.Recipe variance, Pfa.Core.Recipes.Recipe l1, Func<Pfa.Core.Recipes.RecipeLayer, bool> fromL1)
    {
        var byName = l1.Layers.ToDictionary(l => l.Name);
        return variance with { Layers = variance.Layers.Select(l => fromL1(l) ? l with { Kept = byName[l.Name].Kept } : l).ToList() };
    }

    static void Write(string path, List<Row> rows, string work)
    {
        // The residual bench's rows of the same cells (default, no search, uniform + l1), for comparison at the same seeds.
        var residualPath = Path.Combine(work, "rows.jsonl");
        var residual = File.Exists(residualPath) ? File.ReadAllLines(residualPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<ResidualBench.Row>(l)!).ToList() : [];
        var md = new StringBuilder("# Other selections at PFA shapes (issue 21)\n\n");
        md.AppendLine("`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll selection` — per-layer keep ratios ∝ γ^α (α = 1: the PFA-KL shape, α = 0: uniform) with another selection than the default variance selection — **l1** (ℓ1 weight norm), **variance-bn** (greedy explained variance of each channel's response scaled by the batch norm that follows it, |γ|/√(var + ε); tried as the default and reverted, see the note below the table), and variance with ℓ1 for some layers only — **trunk-l1** (the residual groups), **inner-l1** (every other layer), **branch-l1** (the first layer of each residual branch, defined on the graph) — at the residual bench's targets; held-out: the candidate search's proxy score (same slice, same seed); fine-tuned: the residual bench's budget (1 epoch on 20k images, recalibrated first), mean ± sd over seeds 1..n. The residual bench's own rows of the same cells are shown for the same seeds.");
        md.AppendLine();
        md.AppendLine("| model | target | candidate | held-out % | fine-tuned (seeds) | widths |");
        md.AppendLine("|---|---|---|---:|---:|---|");
        static string Stat(IReadOnlyList<double> v)
        {
            double m = v.Average(), sd = v.Count > 1 ? Math.Sqrt(v.Sum(a => (a - m) * (a - m)) / (v.Count - 1)) : 0;
            return string.Create(Inv, $"{m:0.00} ± {sd:0.00} ({v.Count})");
        }
        foreach (var cell in rows.GroupBy(r => (r.Model, r.Target)))
        {
            int n = cell.Max(r => r.Seed);
            foreach (var option in new[] { "default", "no search", "uniform+l1" })
            {
                var same = residual.Where(r => r.Model == cell.Key.Model && r.Option == $"{option} {cell.Key.Target}" && r.Seed <= n).Select(r => r.After).ToList();
                if (same.Count > 0) md.AppendLine($"| {cell.Key.Model} | {cell.Key.Target} | residual bench: {option} | | {Stat(same)} | |");
            }
            foreach (var shape in cell.GroupBy(r => (r.Exponent, r.Select)))
            {
                var f = shape.First();
                md.AppendLine(string.Create(Inv, $"| {f.Model} | {f.Target} | α = {f.Exponent}, {f.Select} | {100.0 * f.Correct / f.Samples:0.00} | {Stat(shape.Select(r => r.Finetuned).ToList())} | {f.Widths} |"));
            }
        }
        // The hand-written sections after the table (accounts with numbers from other benches or from --search) are kept.
        var previous = File.Exists(path) ? File.ReadAllText(path) : "";
        if (previous.IndexOf("\n## ", StringComparison.Ordinal) is >= 0 and var from && previous.IndexOf("\n## Rows", StringComparison.Ordinal) is var to && to > from)
            md.AppendLine().Append(previous[(from + 1)..to].TrimEnd()).AppendLine();
        md.AppendLine().AppendLine("## Rows").AppendLine().AppendLine("```");
        foreach (var r in rows) md.AppendLine(JsonSerializer.Serialize(r));
        md.AppendLine("```");
        File.WriteAllText(path, md.ToString());
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Evaluation;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;
using Pfa.Core.Surgery;
using Pfa.Core.Training;

namespace Pfa.Bench;

/// <summary>
/// Issue 22's missing lever, measured before it is wired into a strategy: at batch 1 a ResNet-20's time is mostly
/// per-layer overhead, so the latency target reached 0.3 only at 0.3% of the parameters (28.79% accuracy) and 0.5 at
/// 2–7% (bench/results/latency-recheck.md). This study removes whole identity blocks (<see cref="BlockRemoval"/>),
/// widths unchanged: the blocks are ordered by the held-out accuracy of the model without each one alone, after
/// batch-norm recalibration (no training: the EagleEye step), and the k least harmful are removed for k = 0…all.
/// Per k: the latency against the original at batch 1 and 64 (in turn, as the latency bench measures), and the
/// accuracy after recalibration and after the residual bench's fine-tune (1 epoch on 20k images, seed 1).
/// Rows in bench/work/residual/depth.jsonl (resumable).
/// </summary>
public static class DepthStudy
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Row(string Model, int Removed, string Blocks, double ParametersPercent, double MacsPercent,
        double Batch1Percent, double Batch64Percent, double Recalibrated, double Finetuned, double Full, double SingleRemovalHeldOut);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var work = Arg("--work", "bench/work/residual");
        var outPath = Arg("--out", "bench/results/depth-study.md");
        var only = Arg("--models", "resnet20-padding,resnet20-projection").Split(',');
        int repetitions = int.Parse(Arg("--repetitions", "5"), Inv);
        var rowsPath = Path.Combine(work, "depth.jsonl");
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var log = new StringBuilder();
        void Say(string s) { Console.WriteLine(s); log.AppendLine(s); }
        var total = Stopwatch.StartNew();
        var finetune = new FinetuneBudget { Epochs = 1, LearningRate = 0.01, Schedule = ScheduleKind.Cosine, BatchSize = 128, WeightDecay = 5e-4 };

        foreach (var (name, residual) in ResidualBench.Nets.Where(n => only.Contains(n.Name) && !args.Contains("--report-only")).Select(n => (n.Name, n.Residual)))
        {
            var dir = Path.Combine(work, name);
            using var network = PfaModel.Load(ModelDescription.Load(Path.Combine(dir, "model.json")), Path.Combine(dir, "model.dat"));
            using var train = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "train", Limit = 20000 }, ResidualBench.Normalize);
            using var test = Dataset.Open(new DataSpec { Path = Models.FashionMnist, Split = "test" }, ResidualBench.Normalize);
            double full = Evaluator.Evaluate(network, test).Top1 * 100;
            // The search's held-out slice and recalibration data (the default budget's seed and size).
            var budget = new BudgetFile(new PfaBudget { Residual = residual }, dir, null);
            var (held, rest) = CandidateSearch.Split(budget, train);
            using var _h = held;
            using var _r = rest;
            // Least harmful first: the held-out score without each block alone, recalibrated (BlockOrder).
            var single = BlockOrder.Measure(network, held, rest, RecalibrateBudget.DefaultBatches, 128, 1)
                .Select(s => (s.Block, Score: 100.0 * s.Correct / held.Count)).ToList();
            foreach (var s in single) Say(string.Create(Inv, $"{name}: without {s.Block.Sum} alone, recalibrated: {s.Score:0.00}% held out"));

            long parameters = ModelCost.Of(network.Graph).Parameters, macs = ModelCost.Of(network.Graph).Macs;
            for (int k = 0; k <= single.Count; k++)
            {
                if (done.Any(r => r.Model == name && r.Removed == k)) continue;
                var removed = single.Take(k).Select(s => s.Block.Sum).ToList();
                var (_, smaller) = BlockRemoval.Apply(network, removed);
                using var _s = smaller;
                var cost = ModelCost.Of(smaller.Graph);
                double Ratio(int batch, int runs) => Latency.Median(Enumerable.Range(0, repetitions)
                    .Select(_ => Latency.Measure(smaller, batch, runs).MedianMs / Latency.Measure(network, batch, runs).MedianMs));
                double b1 = 100 * Ratio(1, 40), b64 = 100 * Ratio(64, 10);
                double recalibrated;
                {
                    var (_, copy) = BlockRemoval.Apply(network, removed);
                    using var _c = copy;
                    BatchNormRecalibration.Run(copy, train, RecalibrateBudget.DefaultBatches, 128, 1);
                    recalibrated = Evaluator.Evaluate(copy, test).Top1 * 100;
                }
                double finetuned;
                {
                    var (_, copy) = BlockRemoval.Apply(network, removed);
                    using var _c = copy;
                    BatchNormRecalibration.Run(copy, train, RecalibrateBudget.DefaultBatches, 128, 1);
                    Trainer.Train(copy, train, new PfaBudget { Seed = 1, Finetune = finetune }.TrainOptions());
                    finetuned = Evaluator.Evaluate(copy, test).Top1 * 100;
                }
                var row = new Row(name, k, string.Join(" ", removed), Math.Round(100.0 * cost.Parameters / parameters, 2), Math.Round(100.0 * cost.Macs / macs, 2),
                    Math.Round(b1, 1), Math.Round(b64, 1), Math.Round(recalibrated, 2), Math.Round(finetuned, 2), Math.Round(full, 2),
                    k == 0 ? 0 : Math.Round(single[k - 1].Score, 2));
                File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                done.Add(row);
                Say(string.Create(Inv, $"{name}: {k} blocks removed: {row.ParametersPercent}% params, {row.MacsPercent}% MACs; batch 1 {row.Batch1Percent}%, batch 64 {row.Batch64Percent}% of the original's time; recalibrated {row.Recalibrated:0.00}% → fine-tuned {row.Finetuned:0.00}%"));
                Write(outPath, done, total.Elapsed, repetitions, log);
            }
        }
        Write(outPath, done, total.Elapsed, repetitions, log);
        return 0;
    }

    static void Write(string path, List<Row> rows, TimeSpan elapsed, int repetitions, StringBuilder log)
    {
        var md = new StringBuilder("# Depth study: whole residual blocks removed (issue 22)\n\n");
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll depth` ({BenchMachine.Describe()}, {elapsed.TotalMinutes:0} min for this invocation, nothing else running). The residual bench's trained ResNet-20s; identity blocks ordered by the held-out accuracy (2,000 training images the search holds out) of the model without each one alone after batch-norm recalibration, the k least harmful removed, widths unchanged. Latency: the model and the original in turn, {repetitions} repetitions (40 runs each at batch 1, 10 at batch 64), the median of the ratios. Accuracy on the test set: after recalibration (50 batches), and after the residual bench's fine-tune (1 epoch on 20k images, cosine, seed 1). Compare with the width-only latency plans in bench/results/latency-recheck.md."));
        md.AppendLine();
        md.AppendLine("| model | blocks removed | % params | % MACs | batch 1, % of original | batch 64, % of original | recalibrated | fine-tuned | full | held-out without the last one alone |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows.OrderBy(r => r.Model).ThenBy(r => r.Removed))
            md.AppendLine(string.Create(Inv, $"| {r.Model} | {r.Removed} | {r.ParametersPercent:0.0} | {r.MacsPercent:0.0} | {r.Batch1Percent:0.0} | {r.Batch64Percent:0.0} | {r.Recalibrated:0.00} | {r.Finetuned:0.00} | {r.Full:0.00} | {(r.Removed == 0 ? "—" : r.SingleRemovalHeldOut.ToString("0.00", Inv))} |"));
        md.AppendLine().AppendLine("## Log").AppendLine().AppendLine("```").Append(log).AppendLine("```");
        md.AppendLine().AppendLine("## Rows").AppendLine().AppendLine("```");
        foreach (var r in rows) md.AppendLine(JsonSerializer.Serialize(r));
        md.AppendLine("```");
        File.WriteAllText(path, md.ToString());
    }
}

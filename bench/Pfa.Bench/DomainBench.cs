using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Pipeline;

namespace Pfa.Bench;

/// <summary>
/// PFA §4.3 on Fashion-MNIST (issue 24): the quality bench's VGG (trained on all 10 classes) compressed for a target
/// domain — the 4 footwear/bag classes, the 6 clothing classes — by the real pipeline (<see cref="Compressor"/>):
/// PFA-KL (parameter-free: how small the analysis of the narrower task says the network can be) and footprint 30%,
/// each with the classifier cut to the domain's classes and without; accuracy among the domain's classes before and
/// after; % parameters against the all-class model. Rows go to domain-rows.jsonl (resumable).
/// </summary>
public static class DomainBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Row(string Domain, string Option, bool Cut, int Seed, double Before, double After, double? Recalibrated,
        long ParametersAfter, long ParametersAllClass, double Seconds);

    static readonly (string Name, int[] Classes)[] Domains = [("footwear+bag", [5, 7, 8, 9]), ("clothing", [0, 1, 2, 3, 4, 6])];
    static readonly (string Name, string Json)[] Options = [("PFA-KL", "\"strategy\": \"kl\""), ("footprint 30%", "\"strategy\": \"footprint\", \"target\": 0.3")];

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        var outPath = Arg("--out", "bench/results/domain.md");
        var work = Arg("--work", "bench/work/domain");
        var modelDir = Arg("--model-dir", "bench/work");
        int seeds = int.Parse(Arg("--seeds", "2"), Inv);
        int limit = int.Parse(Arg("--limit", "20000"), Inv);
        int epochs = int.Parse(Arg("--finetune-epochs", "1"), Inv);
        var model = Path.Combine(modelDir, "model.json");
        var weights = Path.Combine(modelDir, "model.dat");
        if (!File.Exists(weights)) { Console.Error.WriteLine($"{weights} is missing: run the quality bench first (it trains the VGG)."); return 2; }
        Directory.CreateDirectory(work);
        var rowsPath = Path.Combine(work, "rows.jsonl");
        var done = File.Exists(rowsPath) ? File.ReadAllLines(rowsPath).Select(l => JsonSerializer.Deserialize<Row>(l)!).ToList() : [];
        var total = Stopwatch.StartNew();
        long allClass = Pfa.Core.Metrics.ModelCost.Of(Pfa.Core.Model.ModelGraph.Build(Pfa.Core.Model.ModelDescription.Load(model))).Parameters;

        // The all-class references: PFA-KL's and footprint's size from the quality bench's analysis of all 60k images.
        var reference = new Dictionary<string, double>();
        if (File.Exists(Path.Combine(modelDir, "analysis", AnalysisResult.StatsFileName)) && !args.Contains("--report-only"))
        {
            using var analysis = AnalysisResult.Load(Path.Combine(modelDir, "analysis"));
            var stats = File.ReadAllBytes(Path.Combine(modelDir, "analysis", AnalysisResult.StatsFileName));
            reference["PFA-KL"] = RecipeMaker.Make(Pfa.Core.Model.ModelDescription.Load(model), analysis, BudgetFile.Default, stats).Totals.ParametersPercent;
        }

        foreach (var (domain, classes) in Domains)
            foreach (var (option, json) in Options)
                foreach (bool cut in new[] { false, true })
                    for (int seed = 1; seed <= seeds; seed++)
                    {
                        if (args.Contains("--report-only") || done.Any(r => r.Domain == domain && r.Option == option && r.Cut == cut && r.Seed == seed)) continue;
                        var budget = PfaBudget.Parse($$"""{ {{json}}, "seed": {{seed}}, "classifier": "{{(cut ? "classes" : "all")}}", "onnx": false, "finetune": { "epochs": {{epochs}}, "learning_rate": 0.01, "schedule": "cosine", "batch_size": 128, "weight_decay": 5e-4 } }""");
                        var list = classes.ToList();
                        var outDir = Path.Combine(work, $"{domain}-{option.Replace(' ', '-').Replace("%", "")}-{(cut ? "cut" : "all")}-{seed}");
                        if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
                        var watch = Stopwatch.StartNew();
                        var summary = Compressor.Run(new CompressRequest
                        {
                            ModelPath = model, WeightsPath = weights, Budget = budget, OutDir = outDir,
                            TrainData = new DataSpec { Path = Models.FashionMnist, Split = "train", Classes = list, Limit = limit },
                            EvalData = new DataSpec { Path = Models.FashionMnist, Split = "test", Classes = list },
                        }, line => { if (line.StartsWith("classifier") || line.StartsWith("footprint") || line.StartsWith("kl")) Console.WriteLine($"  {line}"); });
                        var row = new Row(domain, option, cut, seed, summary.AccuracyBefore, summary.AccuracyAfter, summary.AccuracyRecalibrated,
                            summary.ParametersAfter, allClass, Math.Round(watch.Elapsed.TotalSeconds, 1));
                        File.AppendAllText(rowsPath, JsonSerializer.Serialize(row) + "\n");
                        done.Add(row);
                        Console.WriteLine(string.Create(Inv, $"{domain} {option} {(cut ? "cut" : "all outputs")} seed {seed}: {row.Before:0.00}% → {row.After:0.00}%, {100.0 * row.ParametersAfter / allClass:0.00}% of the all-class parameters ({row.Seconds:0} s)"));
                    }

        var md = new StringBuilder();
        md.AppendLine("# Target domains: compressing for a subset of the classes (PFA §4.3)");
        md.AppendLine();
        md.AppendLine(string.Create(Inv, $"`dotnet bench/Pfa.Bench/bin/Release/net10.0/Pfa.Bench.dll domain` ({BenchMachine.Describe()}, {total.Elapsed.TotalMinutes:0} min for this invocation). The quality bench's VGG (trained on all 10 Fashion-MNIST classes, {allClass:N0} parameters) compressed by `compress` itself for each domain: analysis and fine-tuning on the domain's samples among the first {limit:N0} training images, {epochs} fine-tune epoch(s) (SGD Nesterov lr 0.01 cosine, weight decay 5e-4, batch 128), batch-norm recalibration, {seeds} seeds; accuracy on the domain's test images (1,000 per class). **cut** = `\"classifier\": \"classes\"`: the classifier keeps the domain's outputs only, and before/after are the models' top-1 among those classes (before: the original's logits for those classes); **all outputs** = the classifier keeps all 10 outputs (today's `--classes`): top-1 over all 10 outputs on the domain's images. % params: of the all-class model's parameters."));
        md.AppendLine();
        if (reference.TryGetValue("PFA-KL", out var kl))
            md.AppendLine(string.Create(Inv, $"For comparison, PFA-KL on all 10 classes (the quality bench's analysis of the 60k training images) keeps {kl:0.00}% of the parameters."));
        md.AppendLine();
        md.AppendLine("| domain | option | classifier | accuracy before | after recalibration | accuracy after fine-tune | % params of the all-class model |");
        md.AppendLine("|---|---|---|---:|---:|---:|---:|");
        foreach (var (domain, _) in Domains)
            foreach (var (option, _) in Options)
                foreach (bool cut in new[] { false, true })
                {
                    var r = done.Where(x => x.Domain == domain && x.Option == option && x.Cut == cut && x.Seed <= seeds).ToList();
                    if (r.Count == 0) continue;
                    double mean = r.Average(x => x.After), sd = r.Count > 1 ? Math.Sqrt(r.Sum(x => (x.After - mean) * (x.After - mean)) / (r.Count - 1)) : 0;
                    md.AppendLine(string.Create(Inv, $"| {domain} | {option} | {(cut ? "cut" : "all outputs")} | {r[0].Before:0.00} | {r.Where(x => x.Recalibrated is not null).Select(x => x.Recalibrated!.Value).DefaultIfEmpty(double.NaN).Average():0.00} | **{mean:0.00}** ± {sd:0.00} | {100.0 * r[0].ParametersAfter / r[0].ParametersAllClass:0.00} |"));
                }
        md.AppendLine();
        md.AppendLine("<details><summary>rows</summary>");
        md.AppendLine();
        md.AppendLine("```");
        foreach (var r in done) md.AppendLine(JsonSerializer.Serialize(r));
        md.AppendLine("```");
        md.AppendLine("</details>");
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }
}

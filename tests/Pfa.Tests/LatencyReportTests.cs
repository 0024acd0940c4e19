using Pfa.Core.Budget;
using Pfa.Core.Metrics;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;

namespace Pfa.Tests;

/// <summary>"A compressed model is never silently slower" (issue 22): the warnings of <see cref="LatencyReport"/> on
/// recorded timings — slower than the original (PFA2004), slower than its MACs promise beyond 1.5× (PFA2005), quiet
/// otherwise — and the ratios the summary reports.</summary>
public class LatencyReportTests
{
    static ModelDescription Tiny(int width) => ModelDescription.Parse($$"""
        { "schema": "pfa.model/1", "input": [1, 4, 4], "layers": [ { "name": "c", "type": "conv2d", "out": {{width}}, "kernel": 1 }, { "type": "flatten" }, { "name": "fc", "type": "linear", "out": 2 } ] }
        """);

    static LatencyReport.Result Report(double beforeMs, double afterMs, double macsPercent, PfaBudget? budget = null)
    {
        using var original = new PfaNetwork(Tiny(8));
        using var compressed = new PfaNetwork(Tiny(4));
        LatencyResult Timing(PfaNetwork n) => ReferenceEquals(n, original) ? new(beforeMs, beforeMs, 1, 20, 2) : new(afterMs, afterMs, 1, 20, 2);
        return LatencyReport.Measure(original, compressed, null, budget ?? new PfaBudget(), macsPercent, Timing);
    }

    [Fact]
    public void Slower_than_the_original_is_PFA2004_and_says_what_to_set()
    {
        var r = Report(1.0, 1.2, 40);
        var w = Assert.Single(r.Warnings);
        Assert.StartsWith("PFA2004: the compressed model is slower than the original at batch 1 in libtorch (1.2 ms vs 1 ms, 120%)", w);
        Assert.Contains("\"round_to\": \"auto\"", w);
        Assert.Equal(120, r.Latency.Percent);
        Assert.Equal(3, r.Latency.MacsRatio);
    }

    [Fact]
    public void Beyond_one_and_a_half_times_the_MACs_ratio_is_PFA2005_and_within_it_is_quiet()
    {
        var slow = Report(1.0, 0.8, 30);   // 80% of the time for 30% of the MACs: 2.67×
        Assert.StartsWith("PFA2005: the compressed model runs at 80% of the original's time at batch 1 in libtorch but has 30% of its MACs (2.67×", Assert.Single(slow.Warnings));
        Assert.Empty(Report(1.0, 0.44, 30).Warnings);   // 1.47×
        Assert.Empty(Report(1.0, 0.3, 30).Warnings);
    }

    [Fact]
    public void The_advice_names_only_what_the_budget_has_not_set()
    {
        // A size budget without rounding: rounding, where to measure, and a speed budget instead.
        var plain = Assert.Single(Report(1.0, 0.8, 30, PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.3 }""").Budget).Warnings);
        Assert.Contains("\"round_to\": \"auto\"", plain);
        Assert.Contains("\"runtime\": \"onnx\"", plain);
        Assert.Contains("\"strategy\": \"latency\"", plain);
        // Rounding already set: not advised again.
        var rounded = Assert.Single(Report(1.0, 0.8, 30, PfaBudget.Parse("""{ "strategy": "footprint", "target": 0.3, "round_to": 16 }""").Budget).Warnings);
        Assert.DoesNotContain("round_to", rounded);
        Assert.Contains("\"strategy\": \"latency\"", rounded);
        // A latency target with rounding: only the strategy's own lever is left (its rows here are libtorch's).
        var latency = Assert.Single(Report(1.0, 0.8, 30, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.5, "round_to": "auto" }""").Budget).Warnings);
        Assert.DoesNotContain("round_to", latency);
        Assert.DoesNotContain("\"strategy\"", latency);
        Assert.Contains("\"runtime\": \"onnx\"", latency);
        // Nothing left but the target: no ONNX export to measure ("onnx": false), rounding set, a latency target.
        var bare = Assert.Single(Report(1.0, 0.8, 30, PfaBudget.Parse("""{ "strategy": "latency", "target": 0.5, "round_to": 8, "onnx": false }""").Budget).Warnings);
        Assert.DoesNotContain("onnx", bare);
        Assert.Contains("a lower target", bare);
    }

    [Fact]
    public void A_first_pair_that_would_warn_is_measured_again_and_a_noisy_one_does_not_warn()
    {
        using var original = new PfaNetwork(Tiny(8));
        using var compressed = new PfaNetwork(Tiny(4));
        int compressedRuns = 0;
        // The first compressed timing is slow (a noisy pair); the three pairs measured again are not.
        LatencyResult Timing(PfaNetwork n) => ReferenceEquals(n, original) ? new(1.0, 1.0, 1, 20, 2)
            : ++compressedRuns == 1 ? new(1.2, 1.2, 1, 20, 2) : new(0.4, 0.4, 1, 20, 2);
        var r = LatencyReport.Measure(original, compressed, null, new PfaBudget(), 40, Timing);
        Assert.Empty(r.Warnings);
        Assert.Equal(1 + LatencyReport.ConfirmPairs, compressedRuns);
        Assert.Equal(40, r.Latency.Percent);
    }

    [Theory]
    [InlineData("""{ "latency": { "batch": 0 } }""", "'latency.batch' must be from 1 to 65536")]
    [InlineData("""{ "latency": { "threads": 0 } }""", "'latency.threads' must be from 1 to 1024")]
    [InlineData("""{ "latency": { "runtime": "cuda" } }""", "'latency.runtime' must be \"libtorch\" or \"onnx\"")]
    [InlineData("""{ "latency": { "runtime": "onnx" }, "onnx": false }""", "'onnx' is false")]
    [InlineData("""{ "latency": { "batch": 64, "speed": 2 } }""", "speed")]
    public void Bad_latency_settings_are_located_budget_errors(string json, string expected)
    {
        var e = Assert.Throws<Pfa.Core.Errors.PfaException>(() => PfaBudget.Parse(json));
        Assert.Contains(e.Code, new[] { "PFA0007", "PFA0002" });   // a value out of range, or an unknown property
        Assert.Contains(expected, e.Message);
    }
}

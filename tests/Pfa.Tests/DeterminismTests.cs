using System.Diagnostics;

using Pfa.Testing;

namespace Pfa.Tests;

/// <summary>
/// Recipes are meant to be committed and compared in CI on other machines: two separate dotnet-pfa processes
/// with different libtorch thread counts produce byte-identical statistics and recipes.
/// </summary>
public sealed class DeterminismTests(TinyFashionModel model) : IClassFixture<TinyFashionModel>, IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static async Task<string> Tool(int threads, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Repository.ToolDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["MKL_NUM_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, err);
        return await output;
    }

    [Fact]
    public async Task Two_processes_with_different_thread_counts_write_the_same_bytes()
    {
        var budget = _dir["b.json"];
        File.WriteAllText(budget, """{ "strategy": "footprint", "target": 0.5 }""");
        foreach (var threads in new[] { 1, 2 })
        {
            // The thread count really differs between the two processes.
            Assert.Contains($"{threads} threads", await Tool(threads, "info", "--model", model.Model, "--weights", model.Weights, "--latency", "--runs", "1"));
            await Tool(threads, "analyze", "--model", model.Model, "--weights", model.Weights, "--data", TinyFashionModel.Data, "--limit", "1500", "--out", _dir[$"a{threads}"]);
            await Tool(threads, "recipe", "--model", model.Model, "--budget", budget, "--analysis", _dir[$"a{threads}"], "--out", _dir[$"r{threads}.json"]);
        }
        Assert.Equal(File.ReadAllBytes(_dir["a1/stats.safetensors"]), File.ReadAllBytes(_dir["a2/stats.safetensors"]));
        Assert.Equal(File.ReadAllBytes(_dir["r1.json"]), File.ReadAllBytes(_dir["r2.json"]));
    }
}

using System.Diagnostics;

using Pfa.Core.Native;
using Pfa.Testing;
using TorchSharp;
using static TorchSharp.torch;

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

    [Fact]
    public void Long_matrix_products_give_the_same_bits_at_one_and_two_threads()
    {
        // oneMKL splits a long inner dimension across threads on AVX-512 CPUs unless strict CNR is on.
        Assert.Equal(GemmReproducibility.Mode, GemmReproducibility.Current);
        int before = torch.get_num_threads();
        try
        {
            using var scope = NewDisposeScope();
            var generator = new torch.Generator(7);
            var z = randn(20000, 16, generator: generator);
            var x = randn(64, 784, generator: generator);
            var w = randn(32, 784, generator: generator);
            var products = new List<(Tensor Moment, Tensor Linear)>();
            foreach (var threads in new[] { 1, 2 })
            {
                torch.set_num_threads(threads);
                products.Add((zeros(16, 16).addmm_(z.t(), z), nn.functional.linear(x, w)));
            }
            Assert.True(products[0].Moment.equal(products[1].Moment).all().item<bool>(), "addmm differs between 1 and 2 threads");
            Assert.True(products[0].Linear.equal(products[1].Linear).all().item<bool>(), "linear differs between 1 and 2 threads");
        }
        finally { torch.set_num_threads(before); }
    }
}

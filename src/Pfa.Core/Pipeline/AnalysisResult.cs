using Pfa.Core.Analysis;
using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Spectra;
using Pfa.Core.Surgery;

namespace Pfa.Core.Pipeline;

/// <summary>What <c>analyze</c> produces: mergeable statistics and the spectra computed from them.</summary>
public sealed class AnalysisResult(Dictionary<string, ResponseStatistics> statistics, SpectraFile spectra, Sampling sampling = Sampling.Pooled) : IDisposable
{
    public Dictionary<string, ResponseStatistics> Statistics { get; } = statistics;
    public SpectraFile Spectra { get; } = spectra;
    /// <summary>What one sample is: PFA's pooled response or Garg et al.'s per-position activation.</summary>
    public Sampling Sampling { get; } = sampling;
    /// <summary>Inputs run through the model by <see cref="Run"/> (Garg et al.'s sampling stops early); null when loaded.</summary>
    public long? Inputs { get; private set; }

    public const string StatsFileName = "stats.safetensors";
    public const string SpectraFileName = "spectra.json";

    /// <summary>Runs the analysed layers' responses over the data and computes their spectra.</summary>
    public static AnalysisResult Run(PfaNetwork network, Dataset data, BudgetFile budget, int batchSize, Action<long, long>? progress = null)
    {
        var spaces = network.Graph.SpacesFor(budget.Budget.ResidualMode);
        var layers = RecipePlanner.AnalysedLayers(spaces, budget);
        var strategy = Recipes.Allocation.Strategies.Get(budget.Budget.Strategy);
        strategy.Applies?.Invoke(network.Graph, budget);
        var options = strategy.Sampling == Sampling.Positions
            ? new CollectOptions { Sampling = Sampling.Positions, PreActivation = budget.Budget.Responses != "layer_output", SamplesPerChannel = Recipes.Design.GargDesign.SamplesPerChannel }
            : CollectOptions.Pfa;
        var stats = ResponseCollector.Collect(network, data, layers.ToHashSet(), batchSize, out var inputs, progress, options, spaces);
        var result = FromStatistics(stats, layers, options.Sampling);
        result.Inputs = inputs;
        return result;
    }

    /// <summary>Spectra from statistics (also after merging shards), in the given layer order.</summary>
    public static AnalysisResult FromStatistics(Dictionary<string, ResponseStatistics> stats, IEnumerable<string>? order = null, Sampling sampling = Sampling.Pooled)
    {
        var names = order?.Where(stats.ContainsKey).ToList() ?? stats.Keys.ToList();
        var spectra = names.Select(name =>
        {
            using var cov = stats[name].Covariance();
            return LayerSpectrum.Compute(name, cov, stats[name].Count);
        }).ToList();
        return new AnalysisResult(stats, new SpectraFile { Layers = spectra }, sampling);
    }

    /// <summary>Writes stats.safetensors and spectra.json; returns the statistics bytes (the recipe hashes them).</summary>
    public byte[] Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var bytes = StatisticsFile.Write(Path.Combine(folder, StatsFileName), Statistics.Values, Sampling);
        Spectra.Save(Path.Combine(folder, SpectraFileName));
        return bytes;
    }

    public static AnalysisResult Load(string folder)
    {
        var stats = StatisticsFile.Read(Path.Combine(folder, StatsFileName), out var sampling);
        var spectra = SpectraFile.Load(Path.Combine(folder, SpectraFileName));
        return new AnalysisResult(stats, spectra, sampling);
    }

    public void Dispose()
    {
        foreach (var s in Statistics.Values) s.Dispose();
    }
}

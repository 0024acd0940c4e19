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
    /// <summary>The data selection analysed (and which part of it); null for analyses written before it was recorded.</summary>
    public DataSelection? Data { get; init; }

    public const string StatsFileName = "stats.safetensors";
    public const string SpectraFileName = "spectra.json";

    /// <summary>Runs the analysed layers' responses over the data and computes their spectra.</summary>
    public static AnalysisResult Run(PfaNetwork network, Dataset data, BudgetFile budget, int batchSize, Action<long, long>? progress = null)
    {
        var spaces = network.Graph.SpacesFor(budget.Budget.ResidualMode);
        var layers = RecipePlanner.AnalysedLayers(spaces, budget);
        var strategy = Recipes.Allocation.Strategies.Get(budget.Budget.Strategy);
        strategy.Applies?.Invoke(network.Graph, budget);
        if (strategy.Sampling == Sampling.Positions && data.Selection?.Shard is { } shard)
            throw new Errors.PfaException(Errors.ErrorCodes.NotApplicable, $"'{budget.Budget.Strategy}' samples a bounded number of positions and stops early, so its analysis of part {shard} does not merge into the analysis of all the data; analyse it in one pass (it needs only {Recipes.Design.GargDesign.SamplesPerChannel} samples per filter).");
        var options = strategy.Sampling == Sampling.Positions
            ? new CollectOptions { Sampling = Sampling.Positions, PreActivation = budget.Budget.Responses != "layer_output", SamplesPerChannel = Recipes.Design.GargDesign.SamplesPerChannel }
            : CollectOptions.Pfa;
        var stats = ResponseCollector.Collect(network, data, layers.ToHashSet(), batchSize, out var inputs, progress, options, spaces);
        var computed = FromStatistics(stats, layers, options.Sampling);
        var result = new AnalysisResult(computed.Statistics, computed.Spectra, computed.Sampling) { Inputs = inputs, Data = data.Selection };
        return result;
    }

    /// <summary>Spectra from statistics (also after merging shards), in the given layer order.</summary>
    public static AnalysisResult FromStatistics(Dictionary<string, ResponseStatistics> stats, IEnumerable<string>? order = null, Sampling sampling = Sampling.Pooled,
        DataSelection? data = null)
    {
        var names = order?.Where(stats.ContainsKey).ToList() ?? stats.Keys.ToList();
        var spectra = names.Select(name =>
        {
            using var cov = stats[name].Covariance();
            return LayerSpectrum.Compute(name, cov, stats[name].Count);
        }).ToList();
        return new AnalysisResult(stats, new SpectraFile { Layers = spectra }, sampling) { Data = data };
    }

    /// <summary>Writes stats.safetensors and spectra.json; returns the statistics bytes (the recipe hashes them).</summary>
    public byte[] Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var bytes = StatisticsFile.Write(Path.Combine(folder, StatsFileName), Statistics.Values, Sampling, Data);
        Spectra.Save(Path.Combine(folder, SpectraFileName));
        return bytes;
    }

    public static AnalysisResult Load(string folder)
    {
        var stats = StatisticsFile.Read(Path.Combine(folder, StatsFileName), out var sampling, out var data);
        var spectra = SpectraFile.Load(Path.Combine(folder, SpectraFileName));
        return new AnalysisResult(stats, spectra, sampling) { Data = data };
    }

    public void Dispose()
    {
        foreach (var s in Statistics.Values) s.Dispose();
    }
}

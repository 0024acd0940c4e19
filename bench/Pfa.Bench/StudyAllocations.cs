using Pfa.Core.Budget;
using Pfa.Core.Recipes;
using Pfa.Core.Recipes.Allocation;
using Pfa.Core.Spectra;

namespace Pfa.Bench;

/// <summary>
/// Allocations measured while choosing the footprint/flops default, registered only inside the bench
/// (<see cref="Strategies.Register"/>): the KL ratios raised to a power, ρ = γ^a with a = (1 − t)/t, which keeps
/// PFA-KL at t = ½ like the default but shrinks low-γ layers faster than high-γ ones.
/// </summary>
public static class StudyAllocations
{
    sealed class KlPower : ILayerAllocation
    {
        public string Rule => "kl-power";
        public string? Knob => "kl_power";
        static double Gamma(LayerSpectrum s) => Math.Max(RecipePlanner.KlRatio(s.Eigenvalues), 1.0 / s.Filters);
        public int Count(LayerSpectrum s, double t)
        {
            if (t >= 1) return s.Filters;
            double a = (1 - t) / t;
            return Math.Clamp((int)Math.Ceiling(Math.Pow(Gamma(s), a) * s.Filters - 1e-9), 1, s.Filters);
        }
        public IEnumerable<double> Knots(LayerSpectrum s)
        {
            double g = Gamma(s);
            if (g >= 1) return [1.0];
            return Enumerable.Range(1, s.Filters).Select(k => Math.Log((double)k / s.Filters) / Math.Log(g)).Select(a => 1 / (1 + a));
        }
    }

    static bool _registered;

    public static void Register()
    {
        if (_registered) return;
        _registered = true;
        var power = new KlPower();
        Strategies.Register(new("footprint-klpow", "study", power, ["target", "parameters"], null,
            (b, p, m) => new SizeTarget(TargetMeasure.Parameters, b.Target!.Value * p), null));
        Strategies.Register(new("flops-klpow", "study", power, ["target", "flops"], null,
            (b, p, m) => new SizeTarget(TargetMeasure.Macs, b.Target!.Value * m), null));
    }
}

using Pfa.Core.Errors;
using System.CommandLine;
using System.Globalization;
using Pfa.Core.Model;
using Pfa.Core.Pipeline;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa recipe</c>: a recipe from saved analysis and a budget — no data pass.</summary>
public static class RecipeCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var budget = CommonOptions.Budget();
        var analysis = new Option<string>("--analysis") { Description = "Folder written by 'analyze' (stats.safetensors, spectra.json).", DefaultValueFactory = _ => "artifacts/pfa/analysis" };
        var output = new Option<string>("--out") { Description = "Where to write the recipe.", DefaultValueFactory = _ => "artifacts/pfa/recipe.json" };
        var weights = new Option<string?>("--weights") { Description = "The trained weights: needed by selections that read them (\"select\": \"l1\")." };
        var cmd = new Command("recipe", "Make recipe.json from saved analysis and a budget (instant: no data pass). Try budgets freely.")
        {
            model, budget, analysis, output, weights,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var folder = r.GetValue(analysis)!;
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(budget), "budget"),
                (Path.Combine(folder, AnalysisResult.StatsFileName), "statistics file"), (Path.Combine(folder, AnalysisResult.SpectraFileName), "spectra file")],
                [(r.GetValue(output)!, "--out")]);
            var b = CommonOptions.LoadBudget(r, budget);
            var description = ModelDescription.Load(r.GetValue(model)!);
            var graph = ModelGraph.Build(description);
            using var loaded = AnalysisResult.Load(folder);
            using var network = r.GetValue(weights) is { } w ? PfaModel.Load(description, w) : null;
            Pfa.Core.Recipes.Recipe recipe;
            try
            {
                recipe = RecipeMaker.Make(graph, loaded, b, File.ReadAllBytes(Path.Combine(folder, AnalysisResult.StatsFileName)),
                    network is null ? null : PfaModel.WeightsOf(network));
            }
            catch (PfaException e) when (LatencyOutOfReach.Is(e))
            {
                throw CandidateSearch.WidthsShort(e, b, graph, tried: false);   // this verb plans widths only
            }
            recipe.Save(r.GetValue(output)!);
            foreach (var l in recipe.Layers)
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{l.Name,-16} {l.FiltersBefore,5} → {l.FiltersAfter,5}  energy {l.EnergyKept:0.0000}  ({l.Rule}){(l.Dropped is { } why ? $"  dropped: {why}" : "")}"));
            if (Pfa.Core.Recipes.Allocation.Strategies.Get(b.Budget.Strategy).DesignsModel)
            {
                // §III-E: the accuracy-efficiency trade-off from the same analysis.
                ctx.Out.WriteLine("threshold  widths (dropped in brackets)  parameters  MACs");
                foreach (var row in Pfa.Core.Recipes.Design.GargDesign.TradeOff(graph, b, loaded.Spectra.ByLayer()))
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{row.Threshold,-9}  {string.Join(" ", row.Layers.Select(l => l.Dropped ? $"[{l.Width}]" : $"{l.Width}"))}  {100.0 * row.Parameters / recipe.Totals.ParametersBefore:0.00}%  {100.0 * row.Macs / recipe.Totals.MacsBefore:0.00}%"));
            }
            if (network is null && recipe.Strategy.Select == "variance" && Pfa.Core.Selection.ResidualBranches.BeforeLast(graph).Count > 0)
                ctx.Err.WriteLine($"note: without --weights every layer is selected by variance; with them (as compress has), the layer before the last of each residual branch is selected by {Pfa.Core.Selection.Criteria.BeforeLastOfBranch} (README, \"select\").");
            if (Pfa.Core.Pipeline.CandidateSearch.Applies(b))
                ctx.Err.WriteLine($"note: this is the analytic choice (the PFA-KL shape scaled to the target); compress measures {b.Budget.EffectiveSearch.Candidates} shapes and the uniform + l1 peer on held-out training data and keeps the best (\"search\": false turns that off).");
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"parameters {recipe.Totals.ParametersAfter:N0} of {recipe.Totals.ParametersBefore:N0} ({recipe.Totals.ParametersPercent}%), MACs {recipe.Totals.MacsPercent}%{recipe.Strategy.KnobText()}; wrote {r.GetValue(output)}"));
            return 0;
        }));
        return cmd;
    }
}

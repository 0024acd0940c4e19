using Pfa.Core.Errors;
using System.CommandLine;
using Pfa.Core.Pipeline;
using Pfa.Core.Model;
using Pfa.Core.Recipes;
using Pfa.Core.Surgery;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa apply</c>: recipe → compressed description and weights (no fine-tune).</summary>
public static class ApplyCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CommonOptions.Model();
        var weights = CommonOptions.Weights();
        var recipe = new Option<string>("--recipe") { Description = "recipe.json to apply.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for the compressed model.json and weights.", DefaultValueFactory = _ => "artifacts/pfa/applied" };
        var format = new Option<string>("--weights-format") { Description = "dat or safetensors.", DefaultValueFactory = _ => "dat" };
        format.AcceptOnlyFromAmong("dat", "safetensors");
        var cmd = new Command("apply", "Build the compressed model of a recipe: kept filters keep their weights (or are re-initialised when the recipe says init: random).")
        {
            model, weights, recipe, output, format,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            OutputGuard.Check([(r.GetValue(model), "model description"), (r.GetValue(weights), "weights file"), (r.GetValue(recipe), "recipe")], [], (r.GetValue(output)!, "--out"));
            var description = ModelDescription.Load(r.GetValue(model)!);
            using var loaded = PfaModel.Load(description, r.GetValue(weights)!);
            var rec = Recipe.Load(r.GetValue(recipe)!);
            // A target domain's recipe applies to the model cut to its classes, as compress made it.
            using var cut = rec.Classes is { } classes && !(description.Classes ?? []).SequenceEqual(classes) ? ClassifierCut.Apply(loaded, classes) : null;
            var network = cut ?? loaded;
            // A garg recipe is a design: its widths and depth, trained from scratch unless init is selected.
            var (compressedDescription, compressed) = Pfa.Core.Recipes.Allocation.Strategies.Find(rec.Strategy.Name)?.DesignsModel == true
                ? Pfa.Core.Recipes.Design.GargDesign.Build(network, rec, rec.Strategy.Init == "selected", rec.Strategy.Seed)
                : ChannelSurgery.Apply(network, rec);
            using var _ = compressed;
            // Written as one set (see RunFolder): never a new model.json beside old weights.
            using var run = RunFolder.Begin(r.GetValue(output)!, "apply");
            PfaModel.SaveWeights(compressed, run.Stage("model." + r.GetValue(format)));
            compressedDescription.Save(run.Stage("model.json"));
            run.Publish();
            ctx.Out.WriteLine($"wrote {run.FinalPath("model.json")} and model.{r.GetValue(format)}");
            return 0;
        }));
        return cmd;
    }
}

using System.CommandLine;
using Pfa.Core;
using Pfa.Core.Recipes;

namespace Pfa.Tool.Cli;

/// <summary><c>dotnet pfa accept</c>: make a recipe the committed baseline that later builds compare with.</summary>
public static class AcceptCommand
{
    public static Command Create(CliContext ctx)
    {
        var recipe = new Option<string>("--recipe") { Description = "The recipe to accept.", DefaultValueFactory = _ => "artifacts/pfa/recipe.json" };
        var baseline = new Option<string>("--baseline") { Description = "The baseline file to write (commit it next to the budget).", DefaultValueFactory = _ => "pfa.recipe.json" };
        var cmd = new Command("accept", "Accept a recipe as the baseline: later compressions with --baseline (and builds with <PfaCompress>) fail with PFA1002 if the recipe changes.")
        {
            recipe, baseline,
        };
        cmd.SetAction(r => ctx.Guard(() =>
        {
            var path = r.GetValue(recipe)!;
            var loaded = Recipe.Load(path); // validates it is a recipe
            var target = r.GetValue(baseline)!;
            if (File.Exists(target))
                foreach (var change in RecipeDiff.Compare(Recipe.Load(target), loaded)) ctx.Out.WriteLine($"  {change}");
            AtomicFile.WriteText(target, File.ReadAllText(path));
            ctx.Out.WriteLine($"accepted {path} as the baseline {target}");
            return 0;
        }));
        return cmd;
    }
}

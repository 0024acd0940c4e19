using Pfa.Core.Budget;
using Pfa.Core.Data;
using Pfa.Core.Errors;
using Pfa.Core.Model;
using Pfa.Core.Surgery;

namespace Pfa.Core.Pipeline;

/// <summary>
/// Compression for a target domain (PFA §4.3), to the classifier: with <c>"classifier": "classes"</c> and
/// <c>data.classes</c>, the input model is first restricted to those classes' outputs (<see cref="ClassifierCut"/>),
/// and everything after — the accuracy before, analysis, recipe, search, fine-tuning, the gate — works on that
/// model with each label mapped to its output. So before and after are measured on the same task.
/// </summary>
public static class TargetDomain
{
    public const string AllClasses = "all", ListedClasses = "classes";

    /// <summary>The input model restricted to the budget's classes, or null when the classifier keeps every output.</summary>
    public static PfaNetwork? Restrict(PfaNetwork network, BudgetFile budget, DataSpec train, Action<string> log)
    {
        if (budget.Budget.Classifier != ListedClasses) return null;
        if (train.Classes is not { Count: > 0 } classes)
            throw budget.Error("$.classifier", "\"classifier\": \"classes\" keeps the outputs of the classes in 'data.classes' (or --classes); list them.");
        var cut = ClassifierCut.Apply(network, classes);
        log($"classifier: {network.Graph.OutputShape[0]} → {classes.Count} outputs (classes {string.Join(", ", classes)}); accuracy before and after is among these classes");
        return cut;
    }

    /// <summary>The data as a model cut to classes sees it: only its classes' samples, each label its output index.
    /// Unchanged for a model with every output.</summary>
    public static DataSpec For(DataSpec spec, ModelDescription model)
    {
        if (model.Classes is not { } outputs) return spec;
        // An index, not FirstOrDefault: its default, 0, is a class too (a clothing domain 0, 1, 2, 3, 4, 6 was refused).
        if (spec.Classes?.FindIndex(c => !outputs.Contains(c)) is int at && at >= 0)
            throw new PfaException(ErrorCodes.InvalidArgument, $"class {spec.Classes![at]} is not among the model's outputs ({string.Join(", ", outputs)}); it was cut to those classes.");
        return spec with { Classes = spec.Classes ?? outputs, Relabel = outputs };
    }
}

namespace Pfa.Core.Errors;

/// <summary>Every error code the tool emits. Documented in README.md, "Error codes".</summary>
public static class ErrorCodes
{
    /// <summary>A file or folder named on the command line or in a config does not exist or cannot be read.</summary>
    public const string FileNotFound = "PFA0001";
    /// <summary>A JSON file is not well-formed, or has a property of the wrong type or an unknown property.</summary>
    public const string InvalidJson = "PFA0002";
    /// <summary>A model description is inconsistent: unknown layer type, bad shape, bad reference.</summary>
    public const string InvalidModel = "PFA0003";
    /// <summary>A weights file is damaged or in an unsupported format or dtype.</summary>
    public const string InvalidWeights = "PFA0004";
    /// <summary>Weights and description disagree: a missing key, an extra key, or a wrong shape.</summary>
    public const string WeightsMismatch = "PFA0005";
    /// <summary>A dataset file is damaged, of the wrong kind, or does not match the model's input.</summary>
    public const string InvalidData = "PFA0006";
    /// <summary>A budget (pfa.json) is invalid.</summary>
    public const string InvalidBudget = "PFA0007";
    /// <summary>A TorchSharp module has a layer type that the model description cannot express.</summary>
    public const string UnsupportedModule = "PFA0008";
    /// <summary>A command-line argument is missing or malformed.</summary>
    public const string InvalidArgument = "PFA0009";
    /// <summary>The CPU self-check failed: libtorch's convolution disagrees with a float64 reference on every path.</summary>
    public const string SelfCheckFailed = "PFA0013";
    /// <summary>The chosen method does not apply to this model (e.g. Garg et al.'s design on a residual or grouped network).</summary>
    public const string NotApplicable = "PFA0014";
    /// <summary>A recipe (recipe.json) is inconsistent: a layer listed twice, kept indices out of range, an unknown init.</summary>
    public const string InvalidRecipe = "PFA0015";
    /// <summary>Gate: accuracy dropped more than the tolerance.</summary>
    public const string AccuracyGate = "PFA1001";
    /// <summary>Gate: the recipe differs from the committed baseline.</summary>
    public const string RecipeDrift = "PFA1002";
    /// <summary>Fine-tuning diverged: a non-finite loss or weight. The model is unusable, so it never passes.</summary>
    public const string Diverged = "PFA1003";
}

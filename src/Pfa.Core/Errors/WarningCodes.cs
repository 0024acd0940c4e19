namespace Pfa.Core.Errors;

/// <summary>
/// Warnings the tool prints as "file: warning PFA2xxx: …" (the shape MSBuild turns into a coded build warning,
/// so <c>NoWarn</c> and <c>-warnaserror</c> work on them). Documented in README.md, "Error codes". Only things a
/// user should act on are warnings; what the tool handles by design (inactive filters, a single filter) is a note.
/// </summary>
public static class WarningCodes
{
    /// <summary>A layer's responses have no variance at all: it keeps its minimum number of filters.</summary>
    public const string NoVariance = "PFA2001";
    /// <summary>Fewer samples than filters: the spectrum is rank-deficient.</summary>
    public const string TooFewSamples = "PFA2002";
    /// <summary>The model does not end in a linear classifier.</summary>
    public const string NoClassifier = "PFA2003";
    /// <summary>The compressed model measured slower than the original (at batch 1 or the serving batch).</summary>
    public const string SlowerThanOriginal = "PFA2004";
    /// <summary>The compressed model's latency ratio is more than 1.5× its MACs ratio.</summary>
    public const string SlowerThanMacs = "PFA2005";
    /// <summary>compress: a latency target was missed (measured end to end at the serving batch).</summary>
    public const string MissedLatencyTarget = "PFA2006";

    /// <summary>"CODE: message", the form kept in spectra.json and recipe.json.</summary>
    public static string Format(string code, string message) => $"{code}: {message}";

    /// <summary>The line printed for a warning kept as "CODE: message", pointing at <paramref name="file"/>.</summary>
    public static string Line(string? file, string codedMessage) => $"{(file is null ? "" : file + ": ")}warning {codedMessage}";
}

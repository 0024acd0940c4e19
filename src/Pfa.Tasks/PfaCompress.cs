using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Pfa.Tasks;

/// <summary>
/// Runs <c>dotnet pfa compress</c> out of process for one <c>&lt;PfaCompress&gt;</c> item: libtorch never loads
/// into the build node. The tool's "file(line,col): error PFA….: …" lines become MSBuild errors with code and
/// location (ToolTask parses the canonical format); its progress goes to the log at normal verbosity; its
/// summary.json gives the one-line result. Exit codes: 0 ok, 1 gate (PFA1001 accuracy, PFA1002 recipe drift),
/// 2 bad input, 3 internal error.
/// </summary>
public sealed class PfaCompress : ToolTask
{
    /// <summary>The project that declares the item: errors point at it, and the tool runs in its folder.</summary>
    [Required] public string ProjectFile { get; set; } = "";
    /// <summary>The trained weights (.dat or .safetensors): the item itself.</summary>
    [Required] public string Weights { get; set; } = "";
    /// <summary>model.json.</summary>
    [Required] public string Model { get; set; } = "";
    /// <summary>pfa.json; empty means the parameter-free PFA-KL recipe.</summary>
    public string? Budget { get; set; }
    /// <summary>Data folder or file to analyse and fine-tune on (default: the budget's 'data').</summary>
    public string? Data { get; set; }
    /// <summary>Data for the accuracy gate (default: the budget's 'eval_data', or Data's test split).</summary>
    public string? EvalData { get; set; }
    [Required] public string OutputDir { get; set; } = "";
    /// <summary>Overrides the budget's tolerance, in percentage points.</summary>
    public string? Tolerance { get; set; }
    /// <summary>Committed baseline recipe; the build fails with PFA1002 when the new recipe differs.</summary>
    public string? Baseline { get; set; }
    /// <summary>Write the new recipe to <see cref="Baseline"/> instead of comparing.</summary>
    public bool UpdateBaseline { get; set; }
    /// <summary>Command that runs the tool: empty = <c>dotnet pfa</c> (a local or global tool); a path to
    /// <c>dotnet-pfa.dll</c> = <c>dotnet that.dll</c>; any other path = that executable.</summary>
    public string? PfaToolPath { get; set; }
    /// <summary>Extra arguments for <c>compress</c>, e.g. "--limit 2000 --epochs 1".</summary>
    public string? ExtraArguments { get; set; }

    /// <summary>True when the tool ran; false when MSBuild skipped the target (output inference keeps the
    /// attribute's value), which lets the targets say "up to date".</summary>
    [Output] public bool Ran { get; set; }
    /// <summary>summary.json of the run.</summary>
    [Output] public string? Summary { get; set; }

    protected override string ToolName => "dotnet";

    protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Normal;
    protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.Normal;

    /// <summary>The project folder: `dotnet pfa` finds the project's tool manifest from there.</summary>
    protected override string GetWorkingDirectory() => Path.GetDirectoryName(ProjectFile) ?? Environment.CurrentDirectory;

    protected override string GenerateFullPathToTool()
    {
        if (!string.IsNullOrEmpty(PfaToolPath) && !PfaToolPath!.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            return PfaToolPath;
        return "dotnet";
    }

    protected override bool ValidateParameters()
    {
        bool ok = true;
        void Missing(string what, string? path, string property)
        {
            Log.LogError(null, "PFA0001", null, ProjectFile, 0, 0, 0, 0,
                $"{what} '{path}' does not exist (the {property} of <PfaCompress Include=\"{Weights}\">).");
            ok = false;
        }
        if (!File.Exists(Weights)) Missing("weights file", Weights, "Include");
        if (!File.Exists(Model)) Missing("model description", Model, "Model metadata");
        if (!string.IsNullOrEmpty(Budget) && !File.Exists(Budget)) Missing("budget", Budget, "Budget metadata");
        if (!string.IsNullOrEmpty(Data) && !File.Exists(Data) && !Directory.Exists(Data)) Missing("data", Data, "Data metadata");
        if (!string.IsNullOrEmpty(EvalData) && !File.Exists(EvalData) && !Directory.Exists(EvalData)) Missing("evaluation data", EvalData, "EvalData metadata");
        if (!string.IsNullOrEmpty(PfaToolPath) && PfaToolPath!.Contains(Path.DirectorySeparatorChar) && !File.Exists(PfaToolPath))
            Missing("tool", PfaToolPath, "PfaToolPath property");
        if (!string.IsNullOrEmpty(Tolerance) &&
            (!double.TryParse(Tolerance, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !(t >= 0)))
        {
            Log.LogError(null, "PFA0007", null, ProjectFile, 0, 0, 0, 0,
                $"the tolerance '{Tolerance}' (PfaTolerance or Tolerance metadata) must be a number of percentage points ≥ 0.");
            ok = false;
        }
        if (UpdateBaseline && string.IsNullOrEmpty(Baseline))
        {
            Log.LogError(null, "PFA0009", null, ProjectFile, 0, 0, 0, 0,
                "PfaUpdateBaseline=true needs a baseline path (the Baseline metadata, by default pfa.recipe.json next to the budget).");
            ok = false;
        }
        return ok;
    }

    protected override string GenerateCommandLineCommands()
    {
        var b = new CommandLineBuilder();
        if (string.IsNullOrEmpty(PfaToolPath)) b.AppendTextUnquoted("pfa");
        else if (PfaToolPath!.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) b.AppendFileNameIfNotNull(PfaToolPath);
        b.AppendTextUnquoted(" compress");
        b.AppendSwitchIfNotNull("--model ", Model);
        b.AppendSwitchIfNotNull("--weights ", Weights);
        if (!string.IsNullOrEmpty(Budget)) b.AppendSwitchIfNotNull("--budget ", Budget);
        if (!string.IsNullOrEmpty(Data)) b.AppendSwitchIfNotNull("--data ", Data);
        if (!string.IsNullOrEmpty(EvalData)) b.AppendSwitchIfNotNull("--eval-data ", EvalData);
        b.AppendSwitchIfNotNull("--out ", OutputDir.TrimEnd('/', '\\'));
        if (!string.IsNullOrEmpty(Tolerance)) b.AppendSwitchIfNotNull("--tolerance ", Tolerance);
        if (!string.IsNullOrEmpty(Baseline))
        {
            b.AppendSwitchIfNotNull("--baseline ", Baseline);
            if (UpdateBaseline) b.AppendSwitch("--update-baseline");
        }
        if (!string.IsNullOrEmpty(ExtraArguments)) b.AppendTextUnquoted(" " + ExtraArguments);
        return b.ToString();
    }

    public override bool Execute()
    {
        Ran = true;
        Log.LogMessage(MessageImportance.High, $"Pfa: compressing {Weights} (budget {(string.IsNullOrEmpty(Budget) ? "PFA-KL defaults" : Budget)}) into {OutputDir}");
        bool ok = base.Execute();
        var summaryPath = Path.Combine(OutputDir, "summary.json");
        Summary = summaryPath;
        if (ok && File.Exists(summaryPath)) Log.LogMessage(MessageImportance.High, "Pfa: " + OneLine(summaryPath));
        return ok && !Log.HasLoggedErrors;
    }

    /// <summary>The tool already printed its own error line; do not add MSB6006 "exited with code 1" on top.</summary>
    protected override bool HandleTaskExecutionErrors() =>
        Log.HasLoggedErrors ? false : base.HandleTaskExecutionErrors();

    static string OneLine(string summaryPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(summaryPath));
        var s = doc.RootElement;
        double P(string name) => s.GetProperty(name).GetDouble();
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(s.GetProperty("strategy").GetString());
        sb.Append(string.Format(inv, ": parameters {0:0.##}%, MACs {1:0.##}%, accuracy {2:0.00}% → {3:0.00}% ({4:+0.00;-0.00} pp)",
            P("parameters_percent"), P("macs_percent"), P("accuracy_before"), P("accuracy_after"), -P("drop")));
        return sb.ToString();
    }
}

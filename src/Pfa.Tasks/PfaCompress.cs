using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Pfa.Tasks.Tooling;

namespace Pfa.Tasks;

/// <summary>
/// Runs <c>dotnet pfa compress</c> out of process for one resolved <c>&lt;PfaCompress&gt;</c> item: libtorch never
/// loads into the build node. Before it runs, the tool is found (<see cref="ToolCommand"/>) and asked its
/// version, so a missing, unrestored or outdated tool is one clear error (PFA0010/PFA0011) rather than
/// "MSB6006: dotnet exited with code 1". The tool's "file(line,col): error|warning PFA….: …" lines become MSBuild
/// errors and warnings with code and location (ToolTask parses the canonical format); its progress goes to the
/// log at normal verbosity; summary.json gives the one-line result. Tool exit codes: 0 ok, 1 gate (PFA1001
/// accuracy, PFA1002 recipe drift), 2 bad input, 3 internal error.
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
    /// <summary>How to run the tool: empty = <c>dotnet pfa</c> (a local or global tool); a path to
    /// <c>dotnet-pfa.dll</c> = <c>dotnet that.dll</c>; any other path = that executable.</summary>
    public string? PfaToolPath { get; set; }
    /// <summary>Extra arguments for <c>compress</c>, split like a shell's words (see <see cref="ArgumentSplitter"/>).</summary>
    public string? ExtraArguments { get; set; }
    /// <summary>The oldest tool these targets work with; empty = this assembly's version.</summary>
    public string? MinimumToolVersion { get; set; }

    /// <summary>The item, when the tool ran and exited 0. Empty when MSBuild skipped the target as up to date
    /// (output inference sets only attributes, and this one is never set as one), which lets the targets name
    /// exactly the items that were skipped.</summary>
    [Output] public ITaskItem[] Compressed { get; set; } = [];
    /// <summary>summary.json of the run.</summary>
    [Output] public string? Summary { get; set; }

    /// <summary>The environment the tool runs in; tests replace it.</summary>
    internal Func<string, string?> Environment { get; set; } = System.Environment.GetEnvironmentVariable;

    ToolCommand? _command;
    ToolCommand Command => _command ??= ToolCommand.Resolve(PfaToolPath, Environment, out _);

    protected override string ToolName => "dotnet-pfa";

    protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Normal;
    protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.Normal;

    /// <summary>The project folder: `dotnet pfa` finds the project's tool manifest from there.</summary>
    protected override string GetWorkingDirectory() => Path.GetDirectoryName(ProjectFile) ?? System.Environment.CurrentDirectory;

    protected override string GenerateFullPathToTool() => Command.Executable;

    void Error(string code, string message) => Log.LogError(null, code, null, ProjectFile, 0, 0, 0, 0, message);

    bool? _valid;

    /// <summary>Checked once: Execute validates before probing the tool, and ToolTask.Execute asks again.</summary>
    protected override bool ValidateParameters() => _valid ??= Validate();

    bool Validate()
    {
        bool ok = true;
        void Missing(string what, string? path, string property)
        {
            Error(TaskCodes.FileNotFound, $"{what} '{path}' does not exist (the {property} of <PfaCompress Include=\"{Weights}\">).");
            ok = false;
        }
        if (!File.Exists(Weights)) Missing("weights file", Weights, "Include");
        if (!File.Exists(Model)) Missing("model description", Model, "Model metadata");
        if (!string.IsNullOrEmpty(Budget) && !File.Exists(Budget)) Missing("budget", Budget, "Budget metadata");
        if (!string.IsNullOrEmpty(Data) && !File.Exists(Data) && !Directory.Exists(Data)) Missing("data", Data, "Data metadata");
        if (!string.IsNullOrEmpty(EvalData) && !File.Exists(EvalData) && !Directory.Exists(EvalData)) Missing("evaluation data", EvalData, "EvalData metadata");
        if (!string.IsNullOrEmpty(PfaToolPath) && (PfaToolPath!.Contains('/') || PfaToolPath.Contains('\\')) && !File.Exists(PfaToolPath))
            Missing("tool", PfaToolPath, "PfaToolPath property");
        if (!string.IsNullOrEmpty(Tolerance) &&
            (!double.TryParse(Tolerance, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !(t >= 0) || double.IsInfinity(t)))
        {
            Error(TaskCodes.InvalidBudget, $"the tolerance '{Tolerance}' (PfaTolerance or Tolerance metadata) must be a finite number of percentage points ≥ 0.");
            ok = false;
        }
        if (UpdateBaseline && string.IsNullOrEmpty(Baseline))
        {
            Error(TaskCodes.InvalidArgument, "PfaUpdateBaseline=true needs a baseline path (the Baseline metadata, by default pfa.recipe.json next to the budget).");
            ok = false;
        }
        try { ArgumentSplitter.Split(ExtraArguments); }
        catch (FormatException e)
        {
            Error(TaskCodes.InvalidArgument, $"the Arguments metadata of <PfaCompress Include=\"{Weights}\"> has {e.Message}: '{ExtraArguments}'.");
            ok = false;
        }
        return ok;
    }

    /// <summary>The arguments after the tool command, one string per argument.</summary>
    internal IReadOnlyList<string> Arguments()
    {
        var a = new List<string>(Command.Prefix) { "compress", "--model", Model, "--weights", Weights };
        if (!string.IsNullOrEmpty(Budget)) a.AddRange(["--budget", Budget!]);
        if (!string.IsNullOrEmpty(Data)) a.AddRange(["--data", Data!]);
        if (!string.IsNullOrEmpty(EvalData)) a.AddRange(["--eval-data", EvalData!]);
        a.AddRange(["--out", OutputDir.TrimEnd('/', '\\')]);
        if (!string.IsNullOrEmpty(Tolerance)) a.AddRange(["--tolerance", Tolerance!]);
        if (!string.IsNullOrEmpty(Baseline))
        {
            a.AddRange(["--baseline", Baseline!]);
            if (UpdateBaseline) a.Add("--update-baseline");
        }
        a.AddRange(ArgumentSplitter.Split(ExtraArguments));
        return a;
    }

    protected override string GenerateCommandLineCommands() => CommandLine.Join(Arguments());

    public override bool Execute()
    {
        _command = ToolCommand.Resolve(PfaToolPath, Environment, out var problem);
        if (problem is not null) { Error(TaskCodes.ToolUnavailable, problem); return false; }
        if (!ValidateParameters()) return false;
        if (!CheckTool()) return false;
        Log.LogMessage(MessageImportance.High, $"Pfa: compressing {Weights} (budget {(string.IsNullOrEmpty(Budget) ? "PFA-KL defaults" : Budget)}) into {OutputDir}");
        bool ok = base.Execute();
        var summaryPath = Path.Combine(OutputDir, "summary.json");
        Summary = summaryPath;
        ok = ok && !Log.HasLoggedErrors;
        if (ok)
        {
            if (File.Exists(summaryPath)) Log.LogMessage(MessageImportance.High, "Pfa: " + OneLine(summaryPath));
            // Where the outputs are, for a later target (e.g. copying model.onnx into the app's output).
            var item = new TaskItem(Weights);
            item.SetMetadata("Summary", Path.GetFullPath(summaryPath));
            var onnx = Path.Combine(OutputDir, "model.onnx");
            if (File.Exists(onnx)) item.SetMetadata("Onnx", Path.GetFullPath(onnx));
            Compressed = [item];
        }
        return ok;
    }

    /// <summary>Asks the tool its version: answers "not installed" and "too old" before minutes of work would.</summary>
    bool CheckTool()
    {
        var workingDirectory = GetWorkingDirectory();
        var (exit, output) = Command.Probe(workingDirectory, TimeSpan.FromSeconds(120));
        if (exit != 0)
        {
            var fix = string.IsNullOrEmpty(PfaToolPath)
                ? ToolManifest.Find(workingDirectory) is { PfaVersion: not null } m
                    ? $"Run 'dotnet tool restore' in {ManifestRoot(m.Path)} (the manifest {m.Path} lists dotnet-pfa {m.PfaVersion}), or set PfaToolPath to the tool."
                    : "Install it for this project: 'dotnet new tool-manifest' then 'dotnet tool install dotnet-pfa' (see README, 'MSBuild'), or set PfaToolPath to the tool."
                : "Check PfaToolPath: it must name dotnet-pfa.dll or an executable that runs the tool.";
            Error(TaskCodes.ToolUnavailable, $"dotnet-pfa cannot be run ('{Command.Display("--version")}' exited with {exit}: {FirstLines(output)}). {fix}");
            return false;
        }
        var minimum = ToolCommand.ParseVersion(MinimumToolVersion ?? "") ?? OwnVersion();
        var version = ToolCommand.ParseVersion(output);
        if (version is null || version < minimum)
        {
            Error(TaskCodes.ToolTooOld, $"dotnet-pfa {(version?.ToString() ?? $"of unknown version ('{FirstLines(output)}')")} is older than these Pfa.Build targets need ({minimum}). Update it: dotnet tool update dotnet-pfa --version {minimum} (and commit the tool manifest), or use the Pfa.Build package of the tool's version.");
            return false;
        }
        Log.LogMessage(MessageImportance.Low, $"Pfa: dotnet-pfa {version} ({Command.Display()})");
        return true;
    }

    /// <summary>The folder a manifest belongs to: the parent of .config/ for .config/dotnet-tools.json.</summary>
    static string? ManifestRoot(string manifest)
    {
        var dir = Path.GetDirectoryName(manifest);
        return dir is not null && Path.GetFileName(dir) == ".config" ? Path.GetDirectoryName(dir) : dir;
    }

    static Version OwnVersion()
    {
        var v = typeof(PfaCompress).Assembly.GetName().Version ?? new Version(0, 0, 0);
        return new Version(v.Major, v.Minor, Math.Max(0, v.Build));
    }

    static string FirstLines(string text)
    {
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).Take(3);
        var joined = string.Join(" ", lines);
        return joined.Length == 0 ? "no output" : joined;
    }

    /// <summary>An exit code without an error line (exit 3 prints "internal error: …", a crash prints nothing)
    /// becomes one coded error instead of MSB6006; a tool that already logged its error adds nothing.</summary>
    protected override bool HandleTaskExecutionErrors()
    {
        if (Log.HasLoggedErrors) return false;
        Error(TaskCodes.ToolFailed, $"dotnet-pfa compress stopped with exit code {ExitCode} and no error line; its output is in the build log at normal verbosity (-v:n). Exit code 3 is an internal error of dotnet-pfa: please report it with that output.");
        return false;
    }

    /// <summary>"internal error: …" lines of the tool are errors even without a code.</summary>
    protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
    {
        if (singleLine.StartsWith("internal error:", StringComparison.Ordinal))
        {
            Error(TaskCodes.ToolFailed, "dotnet-pfa " + singleLine);
            return;
        }
        base.LogEventsFromTextOutput(singleLine, messageImportance);
    }

    static string OneLine(string summaryPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(summaryPath));
            var s = doc.RootElement;
            double P(string name) => s.GetProperty(name).GetDouble();
            var inv = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            sb.Append(s.GetProperty("strategy").GetString());
            sb.Append(string.Format(inv, ": parameters {0:0.00}%, MACs {1:0.00}%, accuracy {2:0.00}% → {3:0.00}% ({4:+0.00;-0.00} pp)",
                P("parameters_percent"), P("macs_percent"), P("accuracy_before"), P("accuracy_after"), -P("drop")));
            return sb.ToString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            return $"done; {summaryPath} could not be read ({e.Message})";
        }
    }
}

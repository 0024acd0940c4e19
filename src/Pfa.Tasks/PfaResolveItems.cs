using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Pfa.Tasks.Tooling;

namespace Pfa.Tasks;

/// <summary>
/// Resolves each <c>&lt;PfaCompress&gt;</c> item for the incremental <c>PfaCompress</c> target: full paths and
/// defaults, the files whose change re-runs compression (<c>InputFiles</c>), and per item two files in the state
/// folder (obj/pfa/):
/// <list type="bullet">
/// <item><c>KEY.settings</c>: every effective setting (metadata, properties, tool version, targets), rewritten only
/// when its content changes, so a changed setting re-runs compression and an unchanged build does not;</item>
/// <item><c>KEY.stamp</c> (the target's output): deleted before the tool runs and touched only when it exits 0, so
/// a failed gate or recipe drift fails every build until something changes (ILLink's semaphore).</item>
/// </list>
/// </summary>
public sealed class PfaResolveItems : Microsoft.Build.Utilities.Task
{
    [Required] public ITaskItem[] Items { get; set; } = [];
    [Required] public string ProjectFile { get; set; } = "";
    /// <summary>$(PfaOutputDir): the output folder of items without OutputDir metadata.</summary>
    [Required] public string OutputDir { get; set; } = "";
    /// <summary>Folder for the per-item settings and stamps (obj/pfa/).</summary>
    [Required] public string StateDir { get; set; } = "";
    /// <summary>$(PfaTolerance): the tolerance of items without Tolerance metadata.</summary>
    public string? Tolerance { get; set; }
    public bool UpdateBaseline { get; set; }
    public string? ToolPath { get; set; }
    /// <summary>The targets file in use: its content is part of the settings (a package update re-runs).</summary>
    public string? TargetsFile { get; set; }

    [Output] public ITaskItem[] Resolved { get; set; } = [];

    public override bool Execute()
    {
        var projectDir = Path.GetDirectoryName(Path.GetFullPath(ProjectFile)) ?? Environment.CurrentDirectory;
        string Full(string path) => Path.GetFullPath(Path.Combine(projectDir, path));
        string Folder(string path) => EnsureSlash(Full(path));
        var manifest = string.IsNullOrEmpty(ToolPath) ? ToolManifest.Find(projectDir) : null;
        string targetsHash = TargetsFile is { Length: > 0 } t && File.Exists(t) ? Hash(File.ReadAllBytes(t)) : "";
        var resolved = new List<ITaskItem>();
        var byOutput = new Dictionary<string, string>(StringComparer.Ordinal);
        Directory.CreateDirectory(StateDir);

        foreach (var item in Items)
        {
            string M(string name) => item.GetMetadata(name) ?? "";
            var weights = Full(item.ItemSpec);
            var r = new TaskItem(weights);
            if (M("Model").Length == 0)
            {
                Error(TaskCodes.InvalidArgument, $"<PfaCompress Include=\"{item.ItemSpec}\"> has no Model metadata: name the model description (model.json) that PfaModel.Export wrote, e.g. Model=\"runs/model.json\".");
                continue;
            }
            var output = M("OutputDir").Length > 0 ? Folder(M("OutputDir")) : Folder(OutputDir);
            if (byOutput.TryGetValue(output, out var other))
            {
                Error(TaskCodes.InvalidArgument, $"<PfaCompress Include=\"{item.ItemSpec}\"> and <PfaCompress Include=\"{other}\"> would both write into {output}: give each item its own OutputDir metadata.");
                continue;
            }
            byOutput[output] = item.ItemSpec;
            var budget = M("Budget").Length > 0 ? Full(M("Budget")) : "";
            // An explicit Baseline must exist (the tool says so when it does not); the default one next to the
            // budget is used when it exists, or when this build writes it.
            var defaultBaseline = Path.Combine(budget.Length > 0 ? Path.GetDirectoryName(budget)! : projectDir, "pfa.recipe.json");
            var baseline = M("Baseline").Length > 0 ? Full(M("Baseline"))
                : File.Exists(defaultBaseline) || UpdateBaseline ? defaultBaseline : "";
            var values = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["Weights"] = weights,
                ["Model"] = Full(M("Model")),
                ["Budget"] = budget,
                ["Data"] = M("Data").Length > 0 ? Full(M("Data")) : "",
                ["EvalData"] = M("EvalData").Length > 0 ? Full(M("EvalData")) : "",
                ["OutputDir"] = output,
                ["Tolerance"] = M("Tolerance").Length > 0 ? M("Tolerance") : Tolerance ?? "",
                ["Baseline"] = baseline,
                ["Arguments"] = M("Arguments"),
            };
            foreach (var (k, v) in values) r.SetMetadata(k, v);

            // Settings: what the tool is asked to do, by which tool, through which targets. UpdateBaseline is left
            // out: it forces one run (below) and must not make the next ordinary build run again.
            var settings = new StringBuilder();
            foreach (var (k, v) in values) settings.Append(k).Append('=').Append(v).Append('\n');
            settings.Append("ToolPath=").Append(ToolPath).Append('\n');
            settings.Append("ToolManifest=").Append(manifest?.Path).Append('\n');
            settings.Append("ToolVersion=").Append(manifest?.PfaVersion).Append('\n');
            settings.Append("TargetsFile=").Append(TargetsFile).Append(' ').Append(targetsHash).Append('\n');
            settings.Append("Tasks=").Append(typeof(PfaResolveItems).Assembly.GetName().Version).Append('\n');
            var key = Key(weights, output);
            var settingsFile = Path.Combine(StateDir, key + ".settings");
            WriteIfDifferent(settingsFile, settings.ToString());

            var inputs = new List<string> { weights, values["Model"], settingsFile };
            if (budget.Length > 0) inputs.Add(budget);
            inputs.AddRange(DataFiles(values["Data"]));
            inputs.AddRange(DataFiles(values["EvalData"]));
            if (baseline.Length > 0 && File.Exists(baseline)) inputs.Add(baseline);
            if (!string.IsNullOrEmpty(ToolPath) && (ToolPath!.Contains('/') || ToolPath.Contains('\\'))) inputs.Add(Full(ToolPath));
            r.SetMetadata("InputFiles", string.Join(";", inputs.Distinct(StringComparer.Ordinal)));
            r.SetMetadata("SettingsFile", settingsFile);
            r.SetMetadata("Stamp", Path.Combine(StateDir, key + ".stamp"));
            // A file that never exists is an output that is always out of date: the run that updates the baseline.
            r.SetMetadata("Force", UpdateBaseline ? Path.Combine(StateDir, key + ".update-baseline-requested") : "");
            resolved.Add(r);
        }
        Resolved = resolved.ToArray();
        return !Log.HasLoggedErrors;
    }

    void Error(string code, string message) => Log.LogError(null, code, null, ProjectFile, 0, 0, 0, 0, message);

    /// <summary>A readable, collision-free name per item: the weights' file name and a hash of what identifies the item.</summary>
    static string Key(string weights, string output)
    {
        var name = new string(Path.GetFileName(weights).Select(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());
        return name + "-" + Hash(Encoding.UTF8.GetBytes(weights + "\n" + output))[..12];
    }

    static IEnumerable<string> DataFiles(string data)
    {
        if (data.Length == 0) return [];
        if (Directory.Exists(data)) return Directory.GetFiles(data).OrderBy(f => f, StringComparer.Ordinal);
        return [data];
    }

    static string Hash(byte[] bytes)
    {
        using var sha = SHA256.Create();
        return string.Concat(sha.ComputeHash(bytes).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    static string EnsureSlash(string path) => path.EndsWith("/", StringComparison.Ordinal) || path.EndsWith("\\", StringComparison.Ordinal) ? path : path + Path.DirectorySeparatorChar;

    /// <summary>Writes only when the content differs, so the file's time changes only with the settings.</summary>
    internal static void WriteIfDifferent(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content) return;
        var temp = path + ".tmp";
        File.WriteAllText(temp, content);
        File.Move(temp, path, overwrite: true);
    }
}

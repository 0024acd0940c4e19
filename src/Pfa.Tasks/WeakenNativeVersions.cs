using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Pfa.Tasks.Native;

namespace Pfa.Tasks;

/// <summary>
/// Build step that applies <see cref="WeakVersionPatcher"/> to copies of native libraries in an output
/// folder (never to the NuGet cache). Does nothing where the system library already has the versions.
/// </summary>
public sealed class WeakenNativeVersions : Microsoft.Build.Utilities.Task
{
    /// <summary>Native libraries to check (e.g. the output folder's libLibTorchSharp.so).</summary>
    [Required] public ITaskItem[] Libraries { get; set; } = [];

    /// <summary>Soname of the provider whose versions may be missing.</summary>
    public string Provider { get; set; } = "libstdc++.so.6";

    /// <summary>Semicolon-separated versions that are known to be marker-only and safe to weaken.</summary>
    public string Versions { get; set; } = "GLIBCXX_3.4.32";

    /// <summary>Path of the provider to compare with; found in the loader's directories when empty.</summary>
    public string? SystemProvider { get; set; }

    /// <summary>Weaken the versions whatever this machine has: for packages (the dotnet-pfa tool), which run
    /// on other machines. A weak requirement changes nothing where the version exists.</summary>
    public bool Always { get; set; }

    public override bool Execute()
    {
        if (!OperatingSystem.IsLinux()) return true;
        var providerPath = string.IsNullOrEmpty(SystemProvider) ? WeakVersionPatcher.FindSystemLibrary(Provider) : SystemProvider;
        if (Always) providerPath = null;
        if (providerPath is null && !Always)
        {
            Log.LogMessage(MessageImportance.Low, $"Pfa: no system {Provider} found; native libraries left unchanged.");
            return true;
        }
        try
        {
            var provider = providerPath is null ? ElfFile.Empty : ElfFile.Read(providerPath);
            var versions = Versions.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var item in Libraries)
            {
                var outcome = WeakVersionPatcher.Apply(item.ItemSpec, Provider, provider, versions);
                if (outcome.Changed)
                    Log.LogMessage(MessageImportance.High,
                        Always
                            ? $"Pfa: marked {string.Join(", ", outcome.Weakened)} weak in {item.ItemSpec} (packaged for other machines; the symbol is a link-time marker)."
                            : $"Pfa: marked {string.Join(", ", outcome.Weakened)} weak in {item.ItemSpec} (the system {providerPath} lacks it; the symbol is a link-time marker).");
                else
                    Log.LogMessage(MessageImportance.Low, $"Pfa: {item.ItemSpec} needs no native fix.");
            }
            return true;
        }
        catch (InvalidDataException e)
        {
            Log.LogError(null, "PFA0901", null, null, 0, 0, 0, 0, $"native-library fix failed: {e.Message}");
            return false;
        }
    }
}

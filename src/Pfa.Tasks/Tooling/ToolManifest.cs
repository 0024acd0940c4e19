using System.Text.Json;

namespace Pfa.Tasks.Tooling;

/// <summary>
/// The local tool manifest that <c>dotnet pfa</c> would use from a folder: the nearest <c>.config/dotnet-tools.json</c>
/// or <c>dotnet-tools.json</c> in the folder or above it (the SDK's search order: .config/ first in each folder;
/// the search stops at a manifest with <c>"isRoot": true</c>). Its dotnet-pfa version is part of the settings, so
/// a tool update re-runs compression and adding an unrelated tool does not.
/// </summary>
public sealed record ToolManifest(string Path, string? PfaVersion)
{
    public const string ToolId = "dotnet-pfa";

    public static ToolManifest? Find(string folder)
    {
        for (var dir = new DirectoryInfo(folder); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, ".config", "dotnet-tools.json"), System.IO.Path.Combine(dir.FullName, "dotnet-tools.json") })
            {
                if (!File.Exists(candidate)) continue;
                var (version, isRoot) = Read(candidate);
                if (version is not null || isRoot) return new ToolManifest(candidate, version);
            }
        }
        return null;
    }

    static (string? Version, bool IsRoot) Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            bool isRoot = root.TryGetProperty("isRoot", out var r) && r.ValueKind == JsonValueKind.True;
            string? version = null;
            if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Object)
                foreach (var tool in tools.EnumerateObject())
                    if (string.Equals(tool.Name, ToolId, StringComparison.OrdinalIgnoreCase) && tool.Value.TryGetProperty("version", out var v))
                        version = v.GetString();
            return (version, isRoot);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return (null, false); // `dotnet tool restore` reports a damaged manifest itself
        }
    }
}

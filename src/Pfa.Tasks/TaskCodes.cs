namespace Pfa.Tasks;

/// <summary>
/// The codes the MSBuild side reports itself (the tool's own codes reach the build through its output). Each is
/// listed in README.md, "Error codes". Kept apart from Pfa.Core's table because this assembly never loads the
/// engine (and with it libtorch) into a build node.
/// </summary>
public static class TaskCodes
{
    /// <summary>A file named by an item or property does not exist.</summary>
    public const string FileNotFound = "PFA0001";
    /// <summary>A tolerance that is not a finite number ≥ 0.</summary>
    public const string InvalidBudget = "PFA0007";
    /// <summary>An item's metadata or a property is malformed or contradicts another.</summary>
    public const string InvalidArgument = "PFA0009";
    /// <summary>The tool cannot be run: dotnet not found, dotnet-pfa not installed or not restored, or an MSBuild
    /// that cannot run the tasks.</summary>
    public const string ToolUnavailable = "PFA0010";
    /// <summary>The tool is older than these targets expect.</summary>
    public const string ToolTooOld = "PFA0011";
    /// <summary>The tool stopped with an internal error (exit 3) or an exit code without an error line.</summary>
    public const string ToolFailed = "PFA0012";
}

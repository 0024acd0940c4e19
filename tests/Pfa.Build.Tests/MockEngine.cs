using System.Collections;
using Microsoft.Build.Framework;

namespace Pfa.Build.Tests;

/// <summary>
/// A build engine that records what a task logs, as SourceLink's and Grpc.Tools' task tests do: errors and
/// warnings as "CODE: message" (with their file), messages with their importance.
/// </summary>
public sealed class MockEngine : IBuildEngine
{
    public List<BuildErrorEventArgs> Errors { get; } = [];
    public List<BuildWarningEventArgs> Warnings { get; } = [];
    public List<BuildMessageEventArgs> Messages { get; } = [];

    public IEnumerable<string> ErrorLines => Errors.Select(e => $"{e.Code}: {e.Message}");
    public IEnumerable<string> WarningLines => Warnings.Select(e => $"{e.Code}: {e.Message}");
    public string Log => string.Join("\n", ErrorLines.Concat(WarningLines).Concat(Messages.Select(m => m.Message)));

    public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);
    public void LogWarningEvent(BuildWarningEventArgs e) => Warnings.Add(e);
    public void LogMessageEvent(BuildMessageEventArgs e) => Messages.Add(e);
    public void LogCustomEvent(CustomBuildEventArgs e) { }
    public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => throw new NotSupportedException();
    public bool ContinueOnError => false;
    public int LineNumberOfTaskNode => 0;
    public int ColumnNumberOfTaskNode => 0;
    public string ProjectFileOfTaskNode => "test.proj";
}

using System.Diagnostics;
using System.Globalization;

namespace Pfa.Tool.Cli;

/// <summary>
/// One updating status line for a long stage on a terminal — "analysing  12,288/20,000  61%  ETA 0:07" — redrawn
/// with a carriage return at most every 100 ms and erased when the stage ends, so the ordinary log lines around
/// it stay as they are. Only used when standard error is a terminal: redirected, in CI or under MSBuild the
/// output stays plain, one line per event, exactly as without it.
/// </summary>
public sealed class TerminalProgress(TextWriter terminal, Func<TimeSpan>? clock = null)
{
    static readonly Stopwatch Watch = Stopwatch.StartNew();
    readonly Func<TimeSpan> _clock = clock ?? (() => Watch.Elapsed);

    /// <summary>Whether this process's standard error is an interactive terminal.</summary>
    public static bool IsTerminal() =>
        !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb")
        && Environment.GetEnvironmentVariable("CI") is null;

    /// <summary>A callback for (done, total) of one stage.</summary>
    public Action<long, long> Stage(string name)
    {
        var start = _clock();
        TimeSpan? lastDraw = null;
        int width = 0;
        return (done, total) =>
        {
            var now = _clock();
            bool finished = done >= total;
            if (!finished && lastDraw is { } last && now - last < TimeSpan.FromMilliseconds(100)) return;
            lastDraw = now;
            if (finished)
            {
                terminal.Write("\r" + new string(' ', width) + "\r");
                terminal.Flush();
                return;
            }
            var elapsed = now - start;
            string eta = done > 0 ? Format(TimeSpan.FromTicks((long)(elapsed.Ticks * (double)(total - done) / done))) : "…";
            var line = string.Create(CultureInfo.InvariantCulture, $"{name}  {done:N0}/{total:N0}  {100.0 * done / Math.Max(1, total):0}%  ETA {eta}");
            terminal.Write("\r" + line.PadRight(width));
            width = Math.Max(width, line.Length);
            terminal.Flush();
        };
    }

    static string Format(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
        : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");
}

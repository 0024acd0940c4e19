using Pfa.Tool.Cli;

namespace Pfa.Tests;

/// <summary>The terminal progress line: redrawn in place with an ETA, throttled, erased at the end; and never
/// used when output is redirected (the CLI tests run with redirected output and see plain lines only).</summary>
public class TerminalProgressTests
{
    [Fact]
    public void Draws_one_line_in_place_with_an_eta_and_erases_it_at_the_end()
    {
        var now = TimeSpan.Zero;
        var terminal = new StringWriter();
        var stage = new TerminalProgress(terminal, () => now).Stage("analysing");
        now = TimeSpan.FromSeconds(10);
        stage(2_500, 10_000);                         // 10 s for a quarter: 30 s to go
        Assert.Equal("\ranalysing  2,500/10,000  25%  ETA 0:30", terminal.ToString());
        now += TimeSpan.FromMilliseconds(50);
        stage(2_600, 10_000);                         // within 100 ms: not redrawn
        Assert.Equal(1, terminal.ToString().Count(c => c == '\r'));
        now = TimeSpan.FromSeconds(20);
        stage(5_000, 10_000);
        Assert.EndsWith("\ranalysing  5,000/10,000  50%  ETA 0:20", terminal.ToString());
        stage(10_000, 10_000);                        // done: the line is blanked, the cursor back at its start
        Assert.EndsWith("\r" + new string(' ', "analysing  5,000/10,000  50%  ETA 0:20".Length) + "\r", terminal.ToString());
        Assert.DoesNotContain('\n', terminal.ToString());
    }

    [Fact]
    public void Without_a_terminal_the_output_has_no_carriage_returns()
    {
        var err = new StringWriter();
        PfaCli.Run(["info", "--help"], new StringWriter(), err);
        Assert.DoesNotContain('\r', err.ToString());
    }
}

using CucmSim.Cli;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>What `serve` says about itself: its help and its start-up warnings.</summary>
public sealed class ServeCommandTests
{
    [Fact]
    public async Task The_help_says_one_thing_about_tftp_gso()
    {
        var output = new StringWriter();
        Assert.Equal(0, await CliMain.RunAsync(["serve", "--help"], output, TextWriter.Null).DefaultTimeout());
        var lines = output.ToString().Split('\n');
        var at = Array.FindIndex(lines, l => l.TrimStart().StartsWith("--tftp-gso", StringComparison.Ordinal));
        Assert.True(at >= 0, output.ToString());

        // The option's text runs until the next option.
        var text = string.Join(' ', lines.Skip(at).TakeWhile((l, i) => i == 0 || !l.TrimStart().StartsWith("--", StringComparison.Ordinal)).Select(l => l.Trim()));
        Assert.Contains("one large datagram per window", text, StringComparison.Ordinal);
        Assert.DoesNotContain("each DATA packet", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_loopback_external_address_is_warned_about_once_at_start(bool loopback)
    {
        string[] args = ["serve", "--only", "t7.mgcp", "--bind", "127.0.0.1", "--ephemeral-ports", "--control", "127.0.0.1:0", "--ledger", "none",
            "--state-dir", SimHost.TempDirectory(), "--external-address", loopback ? "127.0.0.1" : "198.51.100.7"];
        await using var child = CucmSimProcess.Start(args);
        await child.ReadyAsync();
        var warnings = child.Output.Split('\n').Count(l => l.StartsWith("warning: --external-address", StringComparison.Ordinal));
        Assert.Equal(loopback ? 1 : 0, warnings);
    }

    [Fact]
    public async Task Every_problem_of_the_command_line_is_listed_at_once_with_exit_1()
    {
        var error = new StringWriter();
        Assert.Equal(1, await CliMain.RunAsync(["serve", "--bogus", "--port-offset=x", "extra", "--bind", "127.0.0.1", "--bind", "not-an-address", "--role"], TextWriter.Null, error).DefaultTimeout());
        var text = error.ToString();
        Assert.Contains("unknown option --bogus", text, StringComparison.Ordinal);
        Assert.Contains("--port-offset x: a whole number", text, StringComparison.Ordinal);
        Assert.Contains("unexpected argument 'extra'", text, StringComparison.Ordinal);
        Assert.Contains("--bind not-an-address: not an IP address", text, StringComparison.Ordinal);
        Assert.Contains("'--role'", text, StringComparison.Ordinal);
    }
}

namespace CucmSim.Tests.Infrastructure;

/// <summary>Commands of the network namespace fixtures: steps that must succeed, and tools run inside a namespace.</summary>
internal static class Netns
{
    /// <summary>Runs each command (split on spaces); the first that fails throws with its output.</summary>
    public static async Task RunStepsAsync(IEnumerable<string> commands)
    {
        foreach (var command in commands)
        {
            var parts = command.Split(' ');
            var result = await ExternalTool.RunAsync(parts[0], parts[1..], TimeSpan.FromSeconds(10));
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"{command}: {result.All}");
            }
        }
    }

    /// <summary>Loads an nftables ruleset into a namespace.</summary>
    public static async Task LoadRulesetAsync(string ns, string ruleset)
    {
        var result = await ExternalTool.RunAsync("ip", ["netns", "exec", ns, "nft", "-f", "-"], TimeSpan.FromSeconds(10), stdin: ruleset);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"nft: {result.All}");
        }
    }

    /// <summary>Runs a tool inside a namespace.</summary>
    public static Task<ToolResult> ExecAsync(string ns, string tool, IEnumerable<string> args, TimeSpan timeout, string? stdin = null) =>
        ExternalTool.RunAsync("ip", new[] { "netns", "exec", ns, tool }.Concat(args), timeout, stdin);

    /// <summary>Deletes namespaces (and with them the veth ends inside, and so their peers), ignoring failures.</summary>
    public static async Task DeleteAsync(params string[] namespaces)
    {
        foreach (var ns in namespaces)
        {
            await ExternalTool.RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(10));
        }
    }
}

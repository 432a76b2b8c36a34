using System.Globalization;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Load;

/// <summary>
/// Load phones on both sides of a firewall (a <see cref="NatPath"/> with a server namespace): inside addresses on the
/// client's link, outside ones beside the server, routed through the firewall; one plan run as two shards, one per
/// side, started together.
/// </summary>
internal static class PhoneSides
{
    public const string InsideNet = "198.18.0.0/24";
    public const string OutsideNet = "198.19.0.0/24";

    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    /// <summary>The first <paramref name="count"/> host addresses of a /24 given by its first three octets ("198.18.0").</summary>
    public static string[] Addresses(string net, int count) => [.. Enumerable.Range(1, count).Select(i => $"{net}.{i.ToString(CultureInfo.InvariantCulture)}")];

    /// <summary>
    /// Puts <paramref name="inside"/> on the client's link and <paramref name="outside"/> beside the server, the
    /// firewall routing each network to its side; everything else the server side sends (toward an inside address an
    /// SDP names) goes to the firewall.
    /// </summary>
    public static async Task AddAsync(NatPath path, IEnumerable<string> inside, IEnumerable<string> outside)
    {
        var serverNs = path.ServerNs ?? throw new InvalidOperationException("the path needs a server namespace");
        var clientLink = await VethAsync(path.ClientNs);
        var serverLink = await VethAsync(serverNs);
        await Netns.RunStepsAsync([
            .. inside.Select(a => $"ip -n {path.ClientNs} addr add {a}/32 dev {clientLink}"),
            .. outside.Select(a => $"ip -n {serverNs} addr add {a}/32 dev {serverLink}"),
            $"ip -n {serverNs} route add default via {NatPath.FirewallOutside}",
        ]).DefaultTimeout();
        foreach (var (net, via) in new[] { (InsideNet, NatPath.Client), (OutsideNet, NatPath.Server) })
        {
            var route = await path.InFirewallAsync("ip", ["route", "add", net, "via", via.ToString()], Step).DefaultTimeout();
            Assert.True(route.ExitCode == 0, route.All);
        }
    }

    /// <summary>
    /// Starts <paramref name="plan"/> (the arguments of `cucmsim load`, without --shard and --json) as shard 0/2 in the
    /// client namespace and 1/2 in the server's, each writing its report; each ends within 40 s.
    /// </summary>
    public static (Task<ToolResult> Inside, Task<ToolResult> Outside) Start(NatPath path, string[] plan, string jsonIn, string jsonOut) => (
        ExternalTool.RunAsync("ip", ["netns", "exec", path.ClientNs, "dotnet", CucmSimProcess.DllPath, "load", .. plan, "--shard", "0/2", "--json", jsonIn], TimeSpan.FromSeconds(40)),
        ExternalTool.RunAsync("ip", ["netns", "exec", path.ServerNs!, "dotnet", CucmSimProcess.DllPath, "load", .. plan, "--shard", "1/2", "--json", jsonOut], TimeSpan.FromSeconds(40)));

    /// <summary>The one veth interface of a namespace.</summary>
    private static async Task<string> VethAsync(string ns)
    {
        var links = await Netns.ExecAsync(ns, "ip", ["-o", "link", "show", "type", "veth"], Step).DefaultTimeout();
        return links.Stdout.Split(':')[1].Trim().Split('@')[0];
    }
}

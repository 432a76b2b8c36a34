using System.Globalization;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Load;

/// <summary>
/// Load phones on both sides of a firewall (a <see cref="NatPath"/> with a server namespace): inside addresses on the
/// client's link, outside ones beside the server, routed through the firewall; one plan run as two shards, one per
/// side, started together by shard 0 over a management link that does not cross the firewall.
/// </summary>
internal static class PhoneSides
{
    public const string InsideNet = "198.18.0.0/24";
    public const string OutsideNet = "198.19.0.0/24";

    /// <summary>Shard 0's coordinator, inside, on the management link (169.254.77.0/30) between the two sides.</summary>
    public const string Coordinator = "169.254.77.1:9910";

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

            // The shards' own link, as a management network beside the one under test: the coordination never
            // meets the firewall's policy, and goes when the namespaces go.
            $"ip -n {path.ClientNs} link add mgmt0 type veth peer name mgmt1 netns {serverNs}",
            $"ip -n {path.ClientNs} addr add 169.254.77.1/30 dev mgmt0",
            $"ip -n {serverNs} addr add 169.254.77.2/30 dev mgmt1",
            $"ip -n {path.ClientNs} link set mgmt0 up",
            $"ip -n {serverNs} link set mgmt1 up",
        ]).DefaultTimeout();
        foreach (var (net, via) in new[] { (InsideNet, NatPath.Client), (OutsideNet, NatPath.Server) })
        {
            var route = await path.InFirewallAsync("ip", ["route", "add", net, "via", via.ToString()], Step).DefaultTimeout();
            Assert.True(route.ExitCode == 0, route.All);
        }
    }

    /// <summary>
    /// Starts <paramref name="plan"/> (the arguments of `cucmsim load`, without --shard and --json) as shard 0/2 in the
    /// client namespace, coordinating, and 1/2 in the server's, joining it: both start when both are ready. Shard 0
    /// writes the merged report to <paramref name="jsonMerged"/>, shard 1 its own to <paramref name="jsonOut"/>; each
    /// ends within 40 s.
    /// </summary>
    public static (Task<ToolResult> Inside, Task<ToolResult> Outside) Start(NatPath path, string[] plan, string jsonMerged, string jsonOut) => (
        ExternalTool.RunAsync("ip", ["netns", "exec", path.ClientNs, "dotnet", CucmSimProcess.DllPath, "load", .. plan, "--shard", "0/2", "--coordinator-listen", Coordinator,
            "--json", jsonMerged], TimeSpan.FromSeconds(40)),
        ExternalTool.RunAsync("ip", ["netns", "exec", path.ServerNs!, "dotnet", CucmSimProcess.DllPath, "load", .. plan, "--shard", "1/2", "--coordinator", Coordinator,
            "--json", jsonOut], TimeSpan.FromSeconds(40)));

    /// <summary>
    /// The inside shard's own part of a merged report: the merged counters, failures and lost legs less the outside
    /// shard's (a merge sums them, <see cref="LoadMerge"/>).
    /// </summary>
    public static LoadReport Inside(LoadReport merged, LoadReport outside)
    {
        var counters = new LoadCounters();
        foreach (var property in typeof(LoadCounters).GetProperties().Where(p => p.PropertyType == typeof(long) && p.CanWrite))
        {
            property.SetValue(counters, (long)property.GetValue(merged.Counters)! - (long)property.GetValue(outside.Counters)!);
        }

        static SortedDictionary<string, long> Less(SortedDictionary<string, long> all, SortedDictionary<string, long> part) =>
            new(all.Select(p => (p.Key, Value: p.Value - part.GetValueOrDefault(p.Key))).Where(p => p.Value != 0).ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal);

        return new LoadReport { Shard = "0/2", Counters = counters, Failures = Less(merged.Failures, outside.Failures), LostLegs = Less(merged.LostLegs, outside.LostLegs) };
    }

    /// <summary>The one veth interface of a namespace.</summary>
    private static async Task<string> VethAsync(string ns)
    {
        var links = await Netns.ExecAsync(ns, "ip", ["-o", "link", "show", "type", "veth"], Step).DefaultTimeout();
        return links.Stdout.Split(':')[1].Trim().Split('@')[0];
    }
}

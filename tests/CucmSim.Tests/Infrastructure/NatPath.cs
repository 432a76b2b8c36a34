using System.Net;

namespace CucmSim.Tests.Infrastructure;

/// <summary>
/// A path through a firewall, built from network namespaces the test owns: a client namespace
/// (192.0.2.2/30) routes through a firewall namespace that masquerades onto the host link (198.51.100.2/30)
/// and filters with nftables; the server listens on the host side (198.51.100.1). Documentation prefixes only;
/// everything is removed on dispose.
/// </summary>
public sealed class NatPath : IAsyncDisposable
{
    public static readonly IPAddress Server = IPAddress.Parse("198.51.100.1");
    public static readonly IPAddress Client = IPAddress.Parse("192.0.2.2");
    public static readonly IPAddress FirewallOutside = IPAddress.Parse("198.51.100.2");
    public static readonly IPAddress FirewallInside = IPAddress.Parse("192.0.2.1");

    private readonly string _id = Guid.NewGuid().ToString("N")[..5];

    private NatPath()
    {
    }

    public string ClientNs => $"cs{_id}-cli";

    private string FirewallNs => $"cs{_id}-fw";

    private string HostIf => $"cs{_id}-h";

    /// <summary>The server side's own namespace when the path was built with one; null when the server side is this host.</summary>
    public string? ServerNs { get; private set; }

    /// <summary>
    /// Builds the path with an empty forward chain (everything passes, masqueraded). With
    /// <paramref name="serverNamespace"/> the server side is a namespace of its own (<see cref="ServerNs"/>, loopback
    /// up): a server there may bind the profile's own ports without meeting anything else on this host.
    /// </summary>
    public static async Task<NatPath> CreateAsync(bool serverNamespace = false)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("network namespace tests need root (CI runs as root)");
        }

        var path = new NatPath();
        var id = path._id;
        var steps = new[]
        {
            $"ip netns add {path.ClientNs}",
            $"ip netns add {path.FirewallNs}",
            $"ip link add cs{id}-c type veth peer name cs{id}-fc",
            $"ip link add {path.HostIf} type veth peer name cs{id}-fh",
            $"ip link set cs{id}-c netns {path.ClientNs}",
            $"ip link set cs{id}-fc netns {path.FirewallNs}",
            $"ip link set cs{id}-fh netns {path.FirewallNs}",
            $"ip -n {path.ClientNs} addr add {Client}/30 dev cs{id}-c",
            $"ip -n {path.ClientNs} link set cs{id}-c up",
            $"ip -n {path.ClientNs} link set lo up",
            $"ip -n {path.ClientNs} route add default via 192.0.2.1",
            $"ip -n {path.FirewallNs} addr add 192.0.2.1/30 dev cs{id}-fc",
            $"ip -n {path.FirewallNs} addr add {FirewallOutside}/30 dev cs{id}-fh",
            $"ip -n {path.FirewallNs} link set cs{id}-fc up",
            $"ip -n {path.FirewallNs} link set cs{id}-fh up",
            $"ip netns exec {path.FirewallNs} sysctl -qw net.ipv4.ip_forward=1",
        };
        path.ServerNs = serverNamespace ? $"cs{id}-srv" : null;
        string[] serverSide = path.ServerNs is { } srv
            ? [$"ip netns add {srv}", $"ip link set {path.HostIf} netns {srv}", $"ip -n {srv} addr add {Server}/30 dev {path.HostIf}", $"ip -n {srv} link set {path.HostIf} up", $"ip -n {srv} link set lo up"]
            : [$"ip addr add {Server}/30 dev {path.HostIf}", $"ip link set {path.HostIf} up"];
        try
        {
            await Netns.RunStepsAsync([.. steps, .. serverSide]);
            await Netns.LoadRulesetAsync(path.FirewallNs, $$"""
                table ip nat {
                  chain post { type nat hook postrouting priority 100; oifname "cs{{id}}-fh" masquerade; }
                }
                table inet filter {
                  chain forward { type filter hook forward priority 0; policy accept; }
                }
                """);
        }
        catch
        {
            await path.DisposeAsync();
            throw;
        }

        return path;
    }

    /// <summary>Adds nftables rules to the firewall's forward chain, e.g. "tcp dport 2443 drop".</summary>
    public async Task AddRulesAsync(params string[] rules)
    {
        foreach (var rule in rules)
        {
            var result = await ExternalTool.RunAsync("ip", new[] { "netns", "exec", FirewallNs, "nft", "add", "rule", "inet", "filter", "forward" }.Concat(rule.Split(' ')), TimeSpan.FromSeconds(10));
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"nft add rule {rule}: {result.All}");
            }
        }
    }

    /// <summary>
    /// Assigns a conntrack helper (tftp, sip, ...) to new flows toward <paramref name="port"/>, as an ALG or
    /// inspection would: the channels the protocol opens become related and pass a stateful policy.
    /// </summary>
    public Task AddHelperAsync(string helper, string protocol, int port) =>
        Netns.LoadRulesetAsync(FirewallNs, $$"""
            table inet helpers {
              ct helper {{helper}}-h { type "{{helper}}" protocol {{protocol}}; l3proto ip; }
              chain pre { type filter hook prerouting priority 0; {{protocol}} dport {{port}} ct helper set "{{helper}}-h"; }
            }
            """);

    /// <summary>
    /// A static NAT of the server, as in front of a CUCM: the client reaches it at the firewall's inside address
    /// (<see cref="FirewallInside"/>), translated to <see cref="Server"/>.
    /// </summary>
    public Task PublishServerAsync() =>
        Netns.LoadRulesetAsync(FirewallNs, $$"""
            table ip publish {
              chain pre { type nat hook prerouting priority -100; ip daddr {{FirewallInside}} dnat to {{Server}}; }
            }
            """);

    /// <summary>Loads a whole nftables ruleset (a generated policy, say) into the firewall namespace.</summary>
    public Task LoadFirewallAsync(string ruleset) => Netns.LoadRulesetAsync(FirewallNs, ruleset);

    /// <summary>Runs a command inside the firewall namespace (nft list, conntrack).</summary>
    public Task<ToolResult> InFirewallAsync(string tool, IEnumerable<string> args, TimeSpan timeout, string? stdin = null) =>
        Netns.ExecAsync(FirewallNs, tool, args, timeout, stdin);

    /// <summary>
    /// Sets how long the firewall's conntrack keeps an idle UDP flow (both the one-answer and the stream timeout;
    /// the sysctls are per namespace): a mapping silent for longer is forgotten, and with it the masquerade's way back.
    /// </summary>
    public Task SetUdpTimeoutAsync(int seconds) =>
        Netns.RunStepsAsync([
            $"ip netns exec {FirewallNs} sysctl -qw net.netfilter.nf_conntrack_udp_timeout={seconds}",
            $"ip netns exec {FirewallNs} sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream={seconds}",
        ]);

    /// <summary>Runs a command inside the client namespace.</summary>
    public Task<ToolResult> InClientAsync(string tool, IEnumerable<string> args, TimeSpan timeout, string? stdin = null) =>
        Netns.ExecAsync(ClientNs, tool, args, timeout, stdin);

    public async ValueTask DisposeAsync()
    {
        await Netns.DeleteAsync(ServerNs is null ? [ClientNs, FirewallNs] : [ClientNs, FirewallNs, ServerNs]);
        if (ServerNs is null)
        {
            await ExternalTool.RunAsync("ip", ["link", "del", HostIf], TimeSpan.FromSeconds(10));
        }
    }
}

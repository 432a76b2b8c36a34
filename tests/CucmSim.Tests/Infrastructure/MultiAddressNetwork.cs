using System.Net;

namespace CucmSim.Tests.Infrastructure;

/// <summary>
/// Three network namespaces the test owns, routed (no NAT): a client (198.18.1.2) reaches a server with two
/// addresses on one interface (198.19.0.10, the primary, and 198.19.0.20) through a firewall that lets the client
/// open flows and lets back only what belongs to them (ct state established,related; policy drop), with the tftp
/// conntrack helper on the TFTP ports. An answer that leaves the server from any address but the one the client asked is
/// a new flow to that firewall, and is dropped, as in the field. Everything is removed on dispose.
/// </summary>
public sealed class MultiAddressNetwork : IAsyncDisposable
{
    public static readonly IPAddress Client = IPAddress.Parse("198.18.1.2");
    public static readonly IPAddress ServerPrimary = IPAddress.Parse("198.19.0.10");
    public static readonly IPAddress ServerSecondary = IPAddress.Parse("198.19.0.20");

    private readonly string _id = Guid.NewGuid().ToString("N")[..5];

    private MultiAddressNetwork()
    {
    }

    public string ClientNs => $"ma{_id}-cli";

    public string FirewallNs => $"ma{_id}-fw";

    public string ServerNs => $"ma{_id}-srv";

    /// <summary>Builds the network; the firewall's tftp helper watches <paramref name="tftpPorts"/> (69 when none).</summary>
    public static async Task<MultiAddressNetwork> CreateAsync(params int[] tftpPorts)
    {
        var helperPorts = string.Join(", ", tftpPorts.Length == 0 ? [69] : tftpPorts);
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("network namespace tests need root (CI runs as root)");
        }

        var n = new MultiAddressNetwork();
        var id = n._id;
        string[] steps =
        [
            $"ip netns add {n.ClientNs}",
            $"ip netns add {n.FirewallNs}",
            $"ip netns add {n.ServerNs}",
            $"ip link add ma{id}-c type veth peer name ma{id}-fc",
            $"ip link add ma{id}-s type veth peer name ma{id}-fs",
            $"ip link set ma{id}-c netns {n.ClientNs}",
            $"ip link set ma{id}-fc netns {n.FirewallNs}",
            $"ip link set ma{id}-fs netns {n.FirewallNs}",
            $"ip link set ma{id}-s netns {n.ServerNs}",
            $"ip -n {n.ClientNs} addr add {Client}/24 dev ma{id}-c",
            $"ip -n {n.ClientNs} link set ma{id}-c up",
            $"ip -n {n.ClientNs} link set lo up",
            $"ip -n {n.ClientNs} route add default via 198.18.1.1",
            $"ip -n {n.FirewallNs} addr add 198.18.1.1/24 dev ma{id}-fc",
            $"ip -n {n.FirewallNs} addr add 198.19.0.1/24 dev ma{id}-fs",
            $"ip -n {n.FirewallNs} link set ma{id}-fc up",
            $"ip -n {n.FirewallNs} link set ma{id}-fs up",
            $"ip netns exec {n.FirewallNs} sysctl -qw net.ipv4.ip_forward=1",
            $"ip -n {n.ServerNs} addr add {ServerPrimary}/24 dev ma{id}-s",
            $"ip -n {n.ServerNs} addr add {ServerSecondary}/24 dev ma{id}-s",
            $"ip -n {n.ServerNs} link set ma{id}-s up",
            $"ip -n {n.ServerNs} link set lo up",
            $"ip -n {n.ServerNs} route add default via 198.19.0.1",
        ];
        try
        {
            await Netns.RunStepsAsync(steps);
            await Netns.LoadRulesetAsync(n.FirewallNs, $$"""
                table inet filter {
                  ct helper tftp-std { type "tftp" protocol udp; }
                  chain forward {
                    type filter hook forward priority 0; policy drop;
                    ct state established,related accept
                    iifname "ma{{id}}-fc" udp dport { {{helperPorts}} } ct helper set "tftp-std" accept
                    iifname "ma{{id}}-fc" accept
                  }
                }
                """);
        }
        catch
        {
            await n.DisposeAsync();
            throw;
        }

        return n;
    }

    /// <summary>Runs a command inside the client namespace.</summary>
    public Task<ToolResult> InClientAsync(string tool, IEnumerable<string> args, TimeSpan timeout, string? stdin = null) =>
        Netns.ExecAsync(ClientNs, tool, args, timeout, stdin);

    /// <summary>The firewall's ruleset with its counters (for failure messages).</summary>
    public async Task<string> FirewallStateAsync() => (await Netns.ExecAsync(FirewallNs, "nft", ["list", "ruleset"], TimeSpan.FromSeconds(10))).All;

    public async ValueTask DisposeAsync() => await Netns.DeleteAsync(ClientNs, FirewallNs, ServerNs);
}

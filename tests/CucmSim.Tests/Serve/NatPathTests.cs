using System.Globalization;
using System.Net;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>The echo through a real (namespaced) firewall: NAT shows in the peer as seen; drops and rejects show as such.</summary>
[Collection("real ports")]
public sealed class NatPathTests
{
    [Fact]
    public async Task The_echo_reveals_nat_and_filtered_ports_leave_no_trace()
    {
        await using var path = await NatPath.CreateAsync().DefaultTimeout();
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = ["t6.sccp", "t6.sccp-tls", "t6.capf", "t2.snmp", "t7.mgcp"],
            Bind = [NatPath.Server],
            EphemeralPorts = true,
        }).DefaultTimeout();

        string Port(string id) => server.EndPoint(id).Port.ToString(CultureInfo.InvariantCulture);
        await path.AddRulesAsync(
            $"tcp dport {Port("tcp/2443")} drop",
            $"tcp dport {Port("tcp/3804")} reject with tcp reset",
            $"udp dport {Port("udp/2427")} drop").DefaultTimeout();

        // Allowed, masqueraded: the answer shows the firewall's outside address, not the client's.
        var tcp = await path.InClientAsync("nc", ["-q", "1", "-w", "3", NatPath.Server.ToString(), Port("tcp/2000")], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE through-nat\n");
        var echo = tcp.Stdout.Trim().Split(' ');
        Assert.True(echo.Length == 5 && echo[0] == "CUCMSIM-ECHO", $"no echo: {tcp.All}");
        var seen = IPEndPoint.Parse(echo[4]);
        Assert.Equal(NatPath.FirewallOutside, seen.Address);
        Assert.NotEqual(NatPath.Client, seen.Address);
        var record = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == "through-nat");
        Assert.StartsWith(NatPath.FirewallOutside + ":", record.Peer);

        var udp = await path.InClientAsync("nc", ["-u", "-w", "2", NatPath.Server.ToString(), Port("udp/161")], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE udp-through-nat");
        Assert.StartsWith("CUCMSIM-ECHO udp-through-nat udp/161 ", udp.Stdout);
        Assert.Contains($" {NatPath.FirewallOutside}:", udp.Stdout);

        // Dropped: no answer at all (filtered), and the server never saw it.
        var dropped = await path.InClientAsync("nc", ["-w", "2", NatPath.Server.ToString(), Port("tcp/2443")], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE dropped\n");
        Assert.NotEqual(0, dropped.ExitCode);
        Assert.Equal(string.Empty, dropped.Stdout);

        // Rejected: refused at once.
        var rejected = await path.InClientAsync("nc", ["-v", "-w", "2", NatPath.Server.ToString(), Port("tcp/3804")], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE rejected\n");
        Assert.NotEqual(0, rejected.ExitCode);
        Assert.Contains("refused", rejected.Stderr, StringComparison.OrdinalIgnoreCase);

        var droppedUdp = await path.InClientAsync("nc", ["-u", "-w", "2", NatPath.Server.ToString(), Port("udp/2427")], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE dropped-udp");
        Assert.Equal(string.Empty, droppedUdp.Stdout);

        Assert.Equal(0, server.Listeners.Single(l => l.Id == "tcp/2443").Connections);
        Assert.Equal(0, server.Listeners.Single(l => l.Id == "tcp/3804").Connections);
        Assert.Equal(0, server.Listeners.Single(l => l.Id == "udp/2427").Datagrams);
    }
}

using System.Net;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Probe;

/// <summary>
/// The probe in a client namespace, nftables in a firewall namespace between it and a serve on the host side
/// (<see cref="NatPath"/>): each verdict comes from the rule that should produce it.
/// </summary>
[Collection("real ports")]
public sealed class ProbeFirewallTests
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(60);

    private static Task<SimServer> ServeAsync(params string[] only) => SimHost.StartAsync(new ServeOptions
    {
        Only = only,
        Bind = [NatPath.Server],
        Control = new IPEndPoint(NatPath.Server, 0),
    });

    private static string[] ProbeArgs(SimServer server, params string[] more) =>
        [NatPath.Server.ToString(), "--control", $"http://{server.ControlEndPoint}", "--timeout", "1", "--retries", "0", .. more];

    [Fact]
    public async Task Accept_drop_reset_icmp_and_a_dropped_return_path_each_give_their_verdict()
    {
        await using var path = await NatPath.CreateAsync().DefaultTimeout();
        await using var server = await ServeAsync("t6.sccp", "t6.capf", "t6.tvs", "t6.dns", "t6.sip");
        await path.AddRulesAsync(
            "tcp dport 3804 drop",
            "tcp dport 2445 reject with tcp reset",
            "tcp dport 53 reject with icmpx admin-prohibited",
            $"ip saddr {NatPath.Server} udp sport 5060 drop").DefaultTimeout();

        var run = await ProbeRun.InNamespaceAsync(path.ClientNs, ProbeTimeout, ProbeArgs(server, "--only", "t6.sccp,t6.capf,t6.tvs,t6.dns,t6.sip"));
        Assert.True(run.ExitCode == 1, run.ToString());

        var sccp = run.Flow("t6.sccp");
        Assert.True(sccp.VerdictName == "allowed", $"{sccp.VerdictName}: {sccp.Reason}");
        Assert.StartsWith(NatPath.FirewallOutside + ":", sccp.ServerSeen!.Peer);

        var capf = run.Flow("t6.capf");
        Assert.True(capf.VerdictName == "blocked-silent", $"{capf.VerdictName}: {capf.Reason}");
        Assert.Null(capf.ServerSeen);

        var tvs = run.Flow("t6.tvs");
        Assert.True(tvs.VerdictName == "blocked-reset", $"{tvs.VerdictName}: {tvs.Reason}");

        var dns = run.Flow("t6.dns");
        Assert.True(dns.VerdictName == "blocked-icmp", $"{dns.VerdictName}: {dns.Reason}");
        var icmp = dns.Legs.Single(l => l.Name == "echo").Icmp!;
        Assert.Equal(3, icmp.Type);
        Assert.Equal(13, icmp.Code);
        Assert.Equal("admin-prohibited", icmp.Name);
        Assert.Equal("192.0.2.1", icmp.From);
        Assert.Contains("code 13", dns.Reason);

        var sip = run.Flow("t6.sip");
        Assert.True(sip.VerdictName == "one-way", $"{sip.VerdictName}: {sip.Reason}");
        Assert.Contains("udp/5060", sip.Reason);
        Assert.NotNull(sip.Legs.Single(l => l.Name == "echo" && l.Listener == "udp/5060").ServerSeen);
        Assert.Equal("allowed", sip.Legs.Single(l => l.Name == "sip-options" && l.Listener == "tcp/5060").VerdictName);

        Assert.Equal(0, server.Listeners.Single(l => l.Id == "tcp/3804").Connections);
        Assert.Equal(0, server.Listeners.Single(l => l.Id == "tcp/2445").Connections);
        Assert.Equal(0, server.Listeners.Single(l => l.Id == "tcp/53").Connections);
    }

    [Fact]
    public async Task A_stateful_firewall_blocks_the_tftp_data_leg_unless_its_helper_is_on()
    {
        await using var path = await NatPath.CreateAsync().DefaultTimeout();
        await using var server = await ServeAsync("t6.tftp", "t6.sccp");

        // Only replies may come back from the server's side: TFTP data from a fresh transfer port is a new flow.
        await path.AddRulesAsync($"ip saddr {NatPath.Server} ct state new drop").DefaultTimeout();
        var without = await ProbeRun.InNamespaceAsync(path.ClientNs, ProbeTimeout, ProbeArgs(server, "--only", "t6.tftp,t6.sccp"));
        var tftp = without.Flow("t6.tftp");
        Assert.True(tftp.VerdictName == "secondary-blocked", $"{tftp.VerdictName}: {tftp.Reason}\n{without}");
        Assert.Contains("tftp-data", tftp.Reason);
        Assert.Equal("allowed", without.Flow("t6.sccp").VerdictName);
        Assert.Equal(1, without.ExitCode);

        // The conntrack TFTP helper expects the data channel: it is related, and passes.
        await path.AddHelperAsync("tftp", "udp", 69).DefaultTimeout();
        var with = await ProbeRun.InNamespaceAsync(path.ClientNs, ProbeTimeout, ProbeArgs(server, "--only", "t6.tftp,t6.sccp"));
        Assert.True(with.ExitCode == 0, with.ToString());
        Assert.Equal("allowed", with.Flow("t6.tftp").VerdictName);
    }

    [Fact]
    public async Task A_path_that_drops_everything_costs_one_timeout_per_attempt_not_one_per_flow()
    {
        await using var path = await NatPath.CreateAsync().DefaultTimeout();
        await using var server = await ServeAsync("t6.sccp");
        await path.AddRulesAsync(
            $"ip daddr {NatPath.Server} tcp dport != {server.ControlEndPoint!.Port} drop",
            $"ip daddr {NatPath.Server} udp dport 1-65535 drop").DefaultTimeout();

        // 14 flows, 31 ports and 16 media ports, every one dropped: 1 s per attempt, 2 attempts.
        var run = await ProbeRun.InNamespaceAsync(path.ClientNs, ProbeTimeout, [NatPath.Server.ToString(), "--control", $"http://{server.ControlEndPoint}", "--timeout", "1", "--retries", "1"]);
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.All(run.Report!.Flows, f => Assert.True(f.VerdictName == "blocked-silent", $"{f.Id}: {f.VerdictName}: {f.Reason}"));
        Assert.True(run.Report.ElapsedMs < (1 * 2 + 2) * 1000, $"{run.Report.ElapsedMs} ms");
    }

    [Fact]
    public async Task Source_nat_with_the_sip_helper_shows_as_rewritten_with_the_fields_it_changed()
    {
        await using var path = await NatPath.CreateAsync().DefaultTimeout();
        await using var server = await ServeAsync("t6.sip", "t6.rtp-to-cucm");
        await path.AddHelperAsync("sip", "udp", 5060).DefaultTimeout();

        var run = await ProbeRun.InNamespaceAsync(path.ClientNs, ProbeTimeout, ProbeArgs(server, "--only", "t6.sip"));
        var sip = run.Flow("t6.sip");
        Assert.True(sip.VerdictName == "rewritten", $"{sip.VerdictName}: {sip.Reason}\n{run}");
        Assert.Equal(1, run.ExitCode);
        var client = NatPath.Client.ToString();
        var outside = NatPath.FirewallOutside.ToString();
        Assert.Contains(sip.Diffs, d => d.Field == "contact" && d.Sent.Contains(client, StringComparison.Ordinal) && d.Got.Contains(outside, StringComparison.Ordinal));
        Assert.Contains(sip.Diffs, d => d.Field == "sdp c=" && d.Sent == $"c=IN IP4 {client}" && d.Got == $"c=IN IP4 {outside}");
        Assert.All(sip.Diffs, d => Assert.StartsWith("sip-", d.Leg, StringComparison.Ordinal));

        // The calls still carried media both ways: the helper opened the pinholes it rewrote.
        Assert.All(sip.Legs.Where(l => l.Name == "sip-rtp"), l => Assert.Equal(CucmSim.Probe.Outcome.Answered, l.Outcome));
        Assert.Contains("rewritten", run.Output);
    }
}

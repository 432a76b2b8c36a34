using System.Net;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Probe;

/// <summary>
/// The probe in a client namespace, nftables in a firewall namespace, a serve child process in a server namespace
/// on the profile's own ports (<see cref="NatPath"/>): each verdict comes from the rule that should produce it.
/// </summary>
public sealed class ProbeFirewallTests
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(60);
    private const string Control = "198.51.100.1:9900";

    /// <summary>The control API is bound off loopback here, so it asks for a token.</summary>
    private const string ControlToken = "probe-firewall-tests";

    /// <summary>A path with its server side in a namespace, and a serve there with only these flows.</summary>
    private sealed class Lab : IAsyncDisposable
    {
        private Lab(NatPath path, CucmSimProcess server)
        {
            Path = path;
            Server = server;
        }

        public NatPath Path { get; }

        public CucmSimProcess Server { get; }

        public static Task<Lab> StartAsync(params string[] only) => StartServingAsync([], only);

        /// <summary>serve with <paramref name="only"/>'s flows and more options of its own.</summary>
        public static async Task<Lab> StartServingAsync(string[] serveArgs, params string[] only)
        {
            var path = await NatPath.CreateAsync(serverNamespace: true).DefaultTimeout();
            var server = CucmSimProcess.StartIn(path.ServerNs!, ["serve", "--bind", NatPath.Server.ToString(), "--only", string.Join(",", only), "--control", Control, "--control-token", ControlToken,
                "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning", .. serveArgs]);
            var lab = new Lab(path, server);
            try
            {
                await server.ReadyAsync();
            }
            catch
            {
                await lab.DisposeAsync();
                throw;
            }

            return lab;
        }

        /// <summary>Runs the probe in the client namespace: one attempt of 2 s (long enough for a process that starts up on a busy machine).</summary>
        public Task<ProbeRun> ProbeAsync(IPAddress target, params string[] more) =>
            ProbeRun.InNamespaceAsync(Path.ClientNs, ProbeTimeout, [target.ToString(), "--control", $"http://{Control}", "--control-token", ControlToken, "--timeout", "2", "--retries", "0", .. more]);

        public Task<ProbeRun> ProbeAsync(params string[] more) => ProbeAsync(NatPath.Server, more);

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Path.DisposeAsync();
        }
    }

    [Fact]
    public async Task Accept_drop_reset_icmp_and_a_dropped_return_path_each_give_their_verdict()
    {
        await using var lab = await Lab.StartAsync("t6.sccp", "t6.capf", "t6.tvs", "t6.dns", "t6.sip");
        await lab.Path.AddRulesAsync(
            "tcp dport 3804 drop",
            "tcp dport 2445 reject with tcp reset",
            "tcp dport 53 reject with icmpx admin-prohibited",
            $"ip saddr {NatPath.Server} udp sport 5060 drop").DefaultTimeout();

        var run = await lab.ProbeAsync("--only", "t6.sccp,t6.capf,t6.tvs,t6.dns,t6.sip");
        Assert.True(run.ExitCode == 1, run.ToString());

        var sccp = run.Flow("t6.sccp");
        Assert.True(sccp.VerdictName == "allowed", $"{sccp.VerdictName}: {sccp.Reason}");
        Assert.StartsWith(NatPath.FirewallOutside + ":", sccp.ServerSeen!.Peer);
        Assert.Contains(sccp.Legs.Single(l => l.Name == "echo").Evidence, e => e.StartsWith($"source NAT: the server saw {NatPath.FirewallOutside}:", StringComparison.Ordinal));

        var capf = run.Flow("t6.capf");
        Assert.True(capf.VerdictName == "blocked-silent", $"{capf.VerdictName}: {capf.Reason}");
        Assert.Contains("the server saw nothing", capf.Reason);

        var tvs = run.Flow("t6.tvs");
        Assert.True(tvs.VerdictName == "blocked-reset", $"{tvs.VerdictName}: {tvs.Reason}");
        Assert.Contains("is bound, so a device on the path answered", tvs.Reason);

        var dns = run.Flow("t6.dns");
        Assert.True(dns.VerdictName == "blocked-icmp", $"{dns.VerdictName}: {dns.Reason}");
        var icmp = dns.Legs.Single(l => l.Name == "echo").Icmp!;
        Assert.Equal(3, icmp.Type);
        Assert.Equal(13, icmp.Code);
        Assert.Equal("admin-prohibited", icmp.Name);
        Assert.Equal(NatPath.FirewallInside.ToString(), icmp.From);
        Assert.Contains("code 13", dns.Reason);

        var sip = run.Flow("t6.sip");
        Assert.True(sip.VerdictName == "one-way", $"{sip.VerdictName}: {sip.Reason}");
        Assert.Contains("udp/5060", sip.Reason);
        Assert.NotNull(sip.Legs.Single(l => l.Name == "echo" && l.Listener == "udp/5060").ServerSeen);
        Assert.Equal("allowed", sip.Legs.Single(l => l.Name == "sip-options" && l.Listener == "tcp/5060").VerdictName);

        // What was blocked never reached the server.
        foreach (var id in new[] { "t6.capf", "t6.tvs", "t6.dns" })
        {
            Assert.All(run.Flow(id).Legs, l => Assert.Null(l.ServerSeen));
        }
    }

    [Fact]
    public async Task A_stateful_firewall_blocks_the_tftp_data_leg_unless_its_helper_is_on()
    {
        await using var lab = await Lab.StartAsync("t6.tftp", "t6.sccp");

        // Only replies may come back from the server's side: TFTP data from a fresh transfer port is a new flow.
        await lab.Path.AddRulesAsync($"ip saddr {NatPath.Server} ct state new drop").DefaultTimeout();
        var without = await lab.ProbeAsync("--only", "t6.tftp,t6.sccp");
        var tftp = without.Flow("t6.tftp");
        Assert.True(tftp.VerdictName == "secondary-blocked", $"{tftp.VerdictName}: {tftp.Reason}\n{without}");
        Assert.Contains("tftp-data", tftp.Reason);
        Assert.Equal("allowed", without.Flow("t6.sccp").VerdictName);
        Assert.Equal(1, without.ExitCode);

        // The conntrack TFTP helper expects the data channel: it is related, and passes.
        await lab.Path.AddHelperAsync("tftp", "udp", 69).DefaultTimeout();
        var with = await lab.ProbeAsync("--only", "t6.tftp,t6.sccp");
        Assert.True(with.ExitCode == 0, with.ToString());
        Assert.Equal("allowed", with.Flow("t6.tftp").VerdictName);
    }

    [Fact]
    public async Task A_path_that_drops_everything_costs_one_timeout_per_attempt_not_one_per_flow()
    {
        await using var lab = await Lab.StartAsync("6");
        await lab.Path.AddRulesAsync(
            $"ip daddr {NatPath.Server} tcp dport != {Control.Split(':')[1]} drop",
            $"ip daddr {NatPath.Server} udp dport 1-65535 drop").DefaultTimeout();

        // The whole phone role (14 flows, 31 ports and 16 media ports), every one dropped: 1 s per attempt, 2 attempts.
        var run = await ProbeRun.InNamespaceAsync(lab.Path.ClientNs, ProbeTimeout, [NatPath.Server.ToString(), "--control", $"http://{Control}", "--control-token", ControlToken, "--timeout", "1", "--retries", "1"]);
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.All(run.Report!.Flows, f => Assert.True(f.VerdictName == "blocked-silent", $"{f.Id}: {f.VerdictName}: {f.Reason}"));
        Assert.True(run.Report.ElapsedMs < (1 * 2 + 2) * 1000, $"{run.Report.ElapsedMs} ms");
    }

    [Fact]
    public async Task Nat_with_the_sip_helper_shows_as_rewritten_with_the_fields_it_changed_both_ways()
    {
        // The client's source is masqueraded, the server published at the firewall's inside address; the SIP
        // helper rewrites the client's addresses in requests and the server's in responses.
        await using var lab = await Lab.StartAsync("t6.sip", "t6.rtp-to-cucm");
        await lab.Path.PublishServerAsync().DefaultTimeout();
        await lab.Path.AddHelperAsync("sip", "udp", 5060).DefaultTimeout();

        var run = await lab.ProbeAsync(NatPath.FirewallInside, "--only", "t6.sip");
        var sip = run.Flow("t6.sip");
        Assert.True(sip.VerdictName == "rewritten", $"{sip.VerdictName}: {sip.Reason}\n{run}");
        Assert.Equal(1, run.ExitCode);
        string client = NatPath.Client.ToString(), outside = NatPath.FirewallOutside.ToString(), published = NatPath.FirewallInside.ToString(), real = NatPath.Server.ToString();
        Assert.Contains(sip.Diffs, d => d.Field == "contact" && d.Sent.Contains(client, StringComparison.Ordinal) && d.Got.Contains(outside, StringComparison.Ordinal));
        Assert.Contains(sip.Diffs, d => d.Field == "sdp c=" && d.Sent == $"c=IN IP4 {client}" && d.Got == $"c=IN IP4 {outside}");
        Assert.Contains(sip.Diffs, d => d.Field == "response contact" && d.Sent.Contains(real, StringComparison.Ordinal) && d.Got.Contains(published, StringComparison.Ordinal));
        Assert.Contains(sip.Diffs, d => d.Leg == "sip-invite" && d.Field == "response sdp c=" && d.Sent == $"c=IN IP4 {real}" && d.Got == $"c=IN IP4 {published}");
        Assert.All(sip.Legs.Where(l => l.Listener == "tcp/5060"), l => Assert.Empty(l.Diffs));

        // The calls still carried media both ways: the helper opened the pinholes it rewrote.
        Assert.All(sip.Legs.Where(l => l.Name == "sip-rtp"), l => Assert.Equal(CucmSim.Probe.Outcome.Answered, l.Outcome));
        Assert.Contains("rewritten", run.Output);
    }

    [Fact]
    public async Task A_path_that_drops_large_datagrams_gives_mtu_drop_when_asked()
    {
        await using var lab = await Lab.StartAsync("t6.sip", "t6.rtp-to-cucm");
        await lab.Path.AddRulesAsync("udp dport 5060 meta length > 1300 drop").DefaultTimeout();

        var run = await lab.ProbeAsync("--only", "t6.sip", "--mtu");
        var sip = run.Flow("t6.sip");
        Assert.True(sip.VerdictName == "mtu-drop", $"{sip.VerdictName}: {sip.Reason}\n{run}");
        Assert.StartsWith("udp/5060", sip.Reason, StringComparison.Ordinal);
        Assert.Equal(CucmSim.Probe.Outcome.NoAnswer, sip.Legs.Single(l => l.Name == "sip-mtu").Outcome);
        Assert.Equal(CucmSim.Probe.Outcome.Answered, sip.Legs.Single(l => l.Name == "sip-options" && l.Listener == "udp/5060").Outcome);

        // Without --mtu the small messages are all there is to see.
        var plain = await lab.ProbeAsync("--only", "t6.sip");
        Assert.True(plain.ExitCode == 0, plain.ToString());
    }

    [Fact]
    public async Task A_udp_mapping_forgotten_within_the_idle_time_gives_expired_and_a_longer_one_allowed()
    {
        // SCCP keepalives every second: a held SCCP call keeps its phone registered through the silence by sending them.
        await using var lab = await Lab.StartServingAsync(["--sccp-keepalive", "1"], "t6.sip", "t6.rtp-to-cucm", "t6.sccp");
        string[] args = ["--only", "t6.sip,t6.rtp-to-cucm,t6.sccp", "--rtp-sample", "2", "--idle", "3"];

        // conntrack's default (30 s) outlives 3 s of silence: the delayed answers find their way back.
        var kept = await lab.ProbeAsync(args);
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.Equal(3, kept.Report!.IdleSeconds);
        var keptIdle = kept.Report.Flows.SelectMany(f => f.Legs).Where(l => l.Role == "idle").ToList();
        Assert.All(keptIdle, l => Assert.True(l.Outcome == CucmSim.Probe.Outcome.Answered, $"{l.Name} {l.Listener}: {l.Detail}"));

        // Three kinds of silence: the echo on udp/5060, the two sampled pool ports, and each call on hold (one per SIP
        // listener, one SCCP), its own media path silent with the call up, then ended with BYE or on hook.
        var sipListeners = kept.Flow("t6.sip").Legs.Where(l => l.Name == "sip-invite").Select(l => l.Listener).ToList();
        Assert.Equal(1 + 2 + sipListeners.Count + 1, keptIdle.Count);
        var sccpHeld = Assert.Single(keptIdle, l => l.Name == "sccp-rtp-idle");
        Assert.Contains("on hook after the silence: the server stopped and closed the call's media", sccpHeld.Evidence);
        Assert.Equal("allowed", kept.Flow("t6.sccp").VerdictName);
        var callIdle = keptIdle.Where(l => l.Name == "sip-rtp-idle").ToList();
        Assert.Equal(sipListeners.Order(), callIdle.Select(l => l.Listener).Order());
        Assert.All(callIdle, l => Assert.Contains("on the call's media path: the same sockets as its RTP, the call up through the silence", l.Evidence));
        Assert.All(kept.Flow("t6.sip").Legs.Where(l => l.Name == "sip-invite"), l => Assert.Contains("; BYE 200", l.Detail, StringComparison.Ordinal));

        // A firewall that forgets UDP flows after 1 s: the echo passes, the answer after 3 s has no mapping to return through.
        await lab.Path.SetUdpTimeoutAsync(1).DefaultTimeout();
        var forgotten = await lab.ProbeAsync(args);
        Assert.True(forgotten.ExitCode == 1, forgotten.ToString());
        var sip = forgotten.Flow("t6.sip");
        Assert.True(sip.VerdictName == "expired", $"{sip.VerdictName}: {sip.Reason}\n{forgotten}");
        Assert.StartsWith("udp/5060: the echo came back at once, but the server's delayed answer after 3 s", sip.Reason, StringComparison.Ordinal);
        Assert.Contains("raise its UDP idle timeout", sip.Reason);
        var idle = sip.Legs.Single(l => l.Name == "idle");
        Assert.Equal(CucmSim.Probe.Outcome.NoAnswer, idle.Outcome);
        Assert.StartsWith(NatPath.FirewallOutside + ":", idle.PeerSeen);
        Assert.Contains(idle.Evidence, e => e.StartsWith("idle 3 s; the server saw this socket as " + NatPath.FirewallOutside, StringComparison.Ordinal));
        Assert.Contains(idle.Evidence, e => e.StartsWith("server: callback #", StringComparison.Ordinal) && e.EndsWith(" to " + idle.PeerSeen, StringComparison.Ordinal));
        Assert.Equal("allowed", sip.Legs.Single(l => l.Name == "sip-options" && l.Listener == "udp/5060").VerdictName);
        Assert.Equal("allowed", sip.Legs.Single(l => l.Name == "echo" && l.Listener == "tcp/5060").VerdictName);

        // Every call's media went through at first; after the silence its pinhole was gone, the call itself still up
        // (the BYE answered, over TCP on tcp/5060).
        Assert.All(sip.Legs.Where(l => l.Name == "sip-rtp"), l => Assert.Equal("allowed", l.VerdictName));
        var heldCalls = sip.Legs.Where(l => l.Name == "sip-rtp-idle").ToList();
        Assert.Equal(callIdle.Count, heldCalls.Count);
        Assert.All(heldCalls, l => Assert.True(l.VerdictName == "expired", $"{l.Listener}: {l.VerdictName} {l.Detail}"));
        Assert.All(heldCalls, l => Assert.StartsWith(NatPath.FirewallOutside + ":", l.PeerSeen));
        Assert.Contains("; BYE 200", sip.Legs.Single(l => l.Name == "sip-invite" && l.Listener == "tcp/5060").Detail, StringComparison.Ordinal);

        // The SCCP call the same: its media passed, the pinhole was gone after the silence, the call ended on hook.
        var sccp = forgotten.Flow("t6.sccp");
        Assert.True(sccp.VerdictName == "expired", $"{sccp.VerdictName}: {sccp.Reason}");
        Assert.Equal("allowed", sccp.Legs.Single(l => l.Name == "sccp-rtp").VerdictName);
        var sccpExpired = sccp.Legs.Single(l => l.Name == "sccp-rtp-idle");
        Assert.Equal(CucmSim.Probe.Outcome.NoAnswer, sccpExpired.Outcome);
        Assert.Contains("on hook after the silence: the server stopped and closed the call's media", sccpExpired.Evidence);

        var rtp = forgotten.Flow("t6.rtp-to-cucm");
        Assert.True(rtp.VerdictName == "expired", $"{rtp.VerdictName}: {rtp.Reason}");
        Assert.Contains("2 of 2 failed the idle check", rtp.Reason);

        // Every wait at once: the run lasts the idle time and one timeout, not one per port.
        Assert.True(forgotten.Report!.ElapsedMs < (3 + 2 + 2) * 1000, $"{forgotten.Report.ElapsedMs} ms");
        Assert.Contains("expired", forgotten.Output);
    }
}

using CucmSim.Catalog;
using CucmSim.Clients.Net;
using CucmSim.Probe;

namespace CucmSim.Tests.Probe;

/// <summary>The verdict rules, the expectation file and the plan, without a socket.</summary>
public sealed class JudgeTests
{
    private static FlowResult Flow(string protocol, params LegResult[] legs)
    {
        var flow = new FlowResult { Id = "t6.x", Table = 6, From = "phone", To = "cucm", Protocol = protocol, Transport = "udp", Ports = "69" };
        flow.Legs.AddRange(legs);
        return flow;
    }

    private static LegResult Leg(string name, string listener, string role, Outcome outcome, params string[] nonces)
    {
        var leg = new LegResult { Name = name, Listener = listener, Role = role, Outcome = outcome, Detail = name };
        leg.Nonces.AddRange(nonces);
        return leg;
    }

    [Fact]
    public void Silence_is_blocked_silent_on_tcp_but_inconclusive_on_udp_until_the_server_record_says()
    {
        var tcp = Flow("opaque", Leg("echo", "tcp/2445", "reachability", Outcome.NoAnswer, "n1"));
        Judge.Flow(tcp, ServerView.None);
        Assert.Equal(Verdict.BlockedSilent, tcp.Verdict);

        var udp = Flow("opaque", Leg("echo", "udp/2427", "reachability", Outcome.NoAnswer, "n2"));
        Judge.Flow(udp, ServerView.None);
        Assert.Equal(Verdict.Inconclusive, udp.Verdict);
        Assert.Contains("--control or --ledger", udp.Reason);

        var ledger = Path.GetTempFileName();
        File.WriteAllText(ledger, """
            {"seq":7,"time":"2026-12-03T10:00:00+00:00","kind":"udp-flow","listener":"udp/2427","local":"10.0.0.5:2427","peer":"192.0.2.9:4000","nonce":"n2"}
            {"seq":8,"kind":"udp-fl
            """);
        var view = ServerView.FromLedgerFile(ledger);
        Judge.Flow(udp, view);
        Assert.Equal(Verdict.OneWay, udp.Verdict);
        Assert.Equal(7, udp.ServerSeen!.Seq);
        Assert.Equal("192.0.2.9:4000", udp.ServerSeen.Peer);

        var unseen = Flow("opaque", Leg("echo", "udp/2427", "reachability", Outcome.NoAnswer, "n3"));
        Judge.Flow(unseen, view);
        Assert.Equal(Verdict.BlockedSilent, unseen.Verdict);
    }

    [Fact]
    public void A_delayed_answer_that_never_came_is_expired_unless_the_server_says_it_never_sent_it()
    {
        FlowResult Idle(string nonce) => Flow("opaque",
            Leg("echo", "udp/5060", "reachability", Outcome.Answered, nonce),
            Leg("idle", "udp/5060", "idle", Outcome.NoAnswer, nonce));

        var alone = Idle("n1");
        Judge.Flow(alone, ServerView.None);
        Assert.Equal(Verdict.Expired, alone.Verdict);
        Assert.StartsWith("udp/5060: idle: the firewall or NAT forgot the UDP mapping", alone.Reason, StringComparison.Ordinal);
        Assert.True(Verdicts.TryParse("expired", out var parsed) && parsed == Verdict.Expired);
        Assert.False(Verdict.Expired.IsBlocked());

        var ledger = Path.GetTempFileName();
        File.WriteAllText(ledger, """
            {"seq":7,"time":"2026-12-03T10:00:00+00:00","kind":"udp-flow","listener":"udp/5060","local":"10.0.0.5:5060","peer":"192.0.2.9:4000","nonce":"n1"}
            {"seq":9,"time":"2026-12-03T10:00:03+00:00","kind":"echo-idle","verdict":"callback","listener":"udp/5060","local":"10.0.0.5:5060","peer":"192.0.2.9:4000","nonce":"n1"}
            """);
        var view = ServerView.FromLedgerFile(ledger);
        Judge.Flow(alone, view);
        Judge.Flow(alone, view);
        Assert.Equal(Verdict.Expired, alone.Verdict);
        var idle = alone.Legs.Single(l => l.Role == "idle");
        Assert.Equal("server: callback #9 at 10:00:03.000 from 10.0.0.5:5060 to 192.0.2.9:4000", Assert.Single(idle.Evidence));
        Assert.Equal(7, alone.ServerSeen!.Seq);

        // The server's record has no callback for this nonce: it never sent one, the path is not to blame.
        var unsent = Idle("n2");
        Judge.Flow(unsent, view);
        Assert.Equal(Verdict.Inconclusive, unsent.Verdict);

        // Came back: allowed; a serve that scheduled nothing: inconclusive.
        var back = Flow("opaque", Leg("echo", "udp/5060", "reachability", Outcome.Answered, "n3"), Leg("idle", "udp/5060", "idle", Outcome.Answered, "n3"));
        Judge.Flow(back, ServerView.None);
        Assert.Equal(Verdict.Allowed, back.Verdict);
        var old = Flow("opaque", Leg("echo", "udp/5060", "reachability", Outcome.Answered, "n4"), Leg("idle", "udp/5060", "idle", Outcome.Incomplete, "n4"));
        Judge.Flow(old, ServerView.None);
        Assert.Equal(Verdict.Inconclusive, old.Verdict);

        // A blocked port stays blocked: the idle check does not hide it.
        var blocked = Flow("opaque", Leg("echo", "udp/5060", "reachability", Outcome.Icmp, "n5"));
        Judge.Flow(blocked, ServerView.None);
        Assert.Equal(Verdict.BlockedIcmp, blocked.Verdict);
    }

    [Fact]
    public void The_native_exchange_decides_and_a_lost_second_channel_is_named()
    {
        // Inspection that drops the echo but passes TFTP: allowed.
        var inspected = Flow("tftp",
            Leg("echo", "udp/69", "reachability", Outcome.NoAnswer, "n1"),
            Leg("tftp-rrq", "udp/69", "primary", Outcome.Answered),
            Leg("tftp-data", "udp/69", "secondary", Outcome.Answered));
        Judge.Flow(inspected, ServerView.None);
        Assert.Equal(Verdict.Allowed, inspected.Verdict);

        // The echo passes both ways, no DATA comes back: the data leg is blocked.
        var stateful = Flow("tftp",
            Leg("echo", "udp/69", "reachability", Outcome.Answered, "n2"),
            Leg("tftp-rrq", "udp/69", "primary", Outcome.NoAnswer),
            Leg("tftp-data", "udp/69", "secondary", Outcome.NoAnswer));
        Judge.Flow(stateful, ServerView.None);
        Assert.Equal(Verdict.SecondaryBlocked, stateful.Verdict);
        Assert.Contains("tftp-data", stateful.Reason);

        // Diffs make it rewritten; the worst port of a flow wins.
        var sip = Flow("sip",
            Leg("echo", "udp/5060", "reachability", Outcome.Answered, "a"),
            Leg("sip-options", "udp/5060", "primary", Outcome.Answered),
            Leg("echo", "tcp/5060", "reachability", Outcome.Reset, "b"),
            Leg("sip-options", "tcp/5060", "primary", Outcome.Reset));
        sip.Legs[1].Diffs.Add(new FieldDiff("sip-options", "contact", "<sip:a@192.0.2.2>", "<sip:a@198.51.100.2>"));
        Judge.Flow(sip, ServerView.None);
        Assert.Equal(Verdict.BlockedReset, sip.Verdict);
        Assert.StartsWith("tcp/5060", sip.Reason, StringComparison.Ordinal);
        Assert.Single(sip.Diffs);
    }

    [Fact]
    public void Expectations_match_by_selector_the_last_rule_winning_and_report_bad_lines()
    {
        var profile = ProfileLoader.Load("cucm");
        var errors = new List<string>();
        var rules = Expectations.Parse("policy.txt", "6 allowed\nt6.capf denied  # CAPF closed\nudp/69 secondary-blocked\nport:9 nonsense\nbogus denied\n", profile, errors);
        Assert.Equal(["policy.txt:4: 'nonsense' is not allowed, denied or a verdict name", "policy.txt:5: 'bogus' is not a flow id, table, protocol or port of profile 'cucm'"], errors);

        var capf = new FlowResult { Id = "t6.capf", Table = 6, From = "phone", To = "cucm", Protocol = "capf", Transport = "tcp", Ports = "3804", Verdict = Verdict.BlockedIcmp };
        var tftp = new FlowResult { Id = "t6.tftp", Table = 6, From = "phone", To = "cucm", Protocol = "tftp", Transport = "udp", Ports = "69", Verdict = Verdict.SecondaryBlocked };
        var sccp = new FlowResult { Id = "t6.sccp", Table = 6, From = "phone", To = "cucm", Protocol = "sccp", Transport = "tcp", Ports = "2000", Verdict = Verdict.OneWay };
        foreach (var f in new[] { capf, tftp, sccp })
        {
            Judge.Expect(f, rules);
        }

        Assert.Equal(("denied", "pass"), (capf.Expected, capf.Result));
        Assert.Equal(("secondary-blocked", "pass"), (tftp.Expected, tftp.Result));
        Assert.Equal(("allowed", "fail"), (sccp.Expected, sccp.Result));
    }

    [Fact]
    public void The_plan_follows_the_profile_roles_ports_offset_and_sample()
    {
        var profile = ProfileLoader.Load("cucm");
        var plan = ProbePlan.Build(profile, "phone", "cucm", FlowFilter.All, 1000, 8);
        var sip = plan.Flows.Single(f => f.Flow.Id == "t6.sip");
        Assert.Equal(["udp/5060", "tcp/5060"], sip.Targets.Select(t => t.Listener));
        Assert.All(sip.Targets, t => Assert.Equal(6060, t.Dial));
        var rtp = plan.Flows.Single(f => f.IsRtp);
        Assert.Equal(8, rtp.Targets.Count);
        Assert.Equal(24576, rtp.Targets[0].Port);
        Assert.Equal(32767, rtp.Targets[^1].Port);
        Assert.All(plan.Flows, f => Assert.Equal("phone", f.Flow.From));

        // CUCM as the sender: the same profile the other way round; ephemeral and IP-protocol flows are skipped.
        var reverse = ProbePlan.Build(profile, "cucm", "gateway", FlowFilter.All, 0, 16);
        Assert.Contains(reverse.Flows, f => f.Flow.Id == "t7.ipsec-rev" && f.SkipReason is not null);
        Assert.Contains(reverse.Flows, f => f.Flow.Id == "t7.h225-rev" && f.SkipReason is null);
        Assert.Throws<ArgumentException>(() => ProbePlan.Build(profile, "phone", "nobody", FlowFilter.All, 0, 16));
    }

    [Fact]
    public void An_error_queue_message_gives_icmp_type_code_and_offender()
    {
        // struct cmsghdr (LP64: len 8, level 4, type 4) + sock_extended_err (16) + sockaddr_in of the offender (16).
        var control = new byte[16 + 16 + 16];
        BitConverter.TryWriteBytes(control.AsSpan(0), (ulong)control.Length);
        BitConverter.TryWriteBytes(control.AsSpan(8), 0);   // SOL_IP
        BitConverter.TryWriteBytes(control.AsSpan(12), 11); // IP_RECVERR
        BitConverter.TryWriteBytes(control.AsSpan(16), 113); // EHOSTUNREACH
        control[20] = 2;  // SO_EE_ORIGIN_ICMP
        control[21] = 3;  // destination unreachable
        control[22] = 13; // communication administratively prohibited
        control[32] = 2;  // AF_INET
        control[36] = 192;
        control[37] = 0;
        control[38] = 2;
        control[39] = 1;
        var error = IcmpErrorQueue.ParseControl(control, null)!;
        Assert.Equal((3, 13, "admin-prohibited", "192.0.2.1"), (error.Type, error.Code, error.Name, error.Offender!.ToString()));
        Assert.Null(IcmpErrorQueue.ParseControl(control.AsSpan(0, 12), null));
    }
}

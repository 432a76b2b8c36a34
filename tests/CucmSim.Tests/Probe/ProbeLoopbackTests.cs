using System.Xml.Linq;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Probe;

/// <summary>
/// A real serve child process on the loopback of a namespace of its own, on the profile's own ports (nothing else
/// on this host can hold them), and the probe beside it.
/// </summary>
public sealed class LoopbackServe : IAsyncLifetime
{
    public string Namespace { get; } = $"cp{Guid.NewGuid().ToString("N")[..6]}-lo";

    public CucmSimProcess Server { get; private set; } = null!;

    public string Ledger { get; } = Path.Combine(Path.GetTempPath(), $"cucmsim-probe-ledger-{Guid.NewGuid():N}.jsonl");

    public string Control => $"http://{Server.Control}";

    public async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("network namespace tests need root (CI runs as root)");
        }

        await Netns.RunStepsAsync([$"ip netns add {Namespace}", $"ip -n {Namespace} link set lo up"]).DefaultTimeout();
        Server = CucmSimProcess.StartIn(Namespace, "serve", "--bind", "127.0.0.1", "--control", "127.0.0.1:9900", "--ledger", Ledger, "--state-dir", SimHost.TempDirectory(), "--strict",
            "--snmp-user", "probe3:SHA-256:authpass1:AES:privpass1", "--log-level", "warning");
        await Server.ReadyAsync();
    }

    /// <summary>Runs the probe beside the server.</summary>
    public Task<ProbeRun> ProbeAsync(params string[] args) => ProbeRun.InNamespaceAsync(Namespace, TimeSpan.FromSeconds(60), args);

    /// <summary>The server's ledger sequence number, from its control API.</summary>
    public async Task<string> LedgerSeqAsync()
    {
        var health = await Netns.ExecAsync(Namespace, "curl", ["-s", $"{Control}/healthz"], TimeSpan.FromSeconds(10));
        return System.Text.Json.JsonDocument.Parse(health.Stdout).RootElement.GetProperty("ledgerSeq").GetRawText();
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Netns.DeleteAsync(Namespace);
    }
}

public sealed class ProbeLoopbackTests(LoopbackServe serve) : IClassFixture<LoopbackServe>
{
    private static readonly string[] PhoneFlows =
        ["t6.dns", "t6.tftp", "t6.sccp", "t6.sccp-tls", "t6.tvs", "t6.capf", "t6.sip", "t6.sips", "t6.tftp-http", "t6.tftp-https", "t6.phone-services", "t6.contact-search", "t6.headset", "t6.rtp-to-cucm"];

    [Fact]
    public async Task The_browser_role_asks_axl_for_the_version_on_every_admin_web_port()
    {
        var run = await serve.ProbeAsync("127.0.0.1", "--role", "browser", "--control", serve.Control);
        Assert.True(run.ExitCode == 0, run.ToString());
        var axl = run.Report!.Flows.SelectMany(f => f.Legs).Where(l => l.Name == "axl").ToList();
        Assert.Equal(["tcp/443", "tcp/80", "tcp/8080", "tcp/8443"], axl.Select(l => l.Listener).Order());
        Assert.All(axl, l => Assert.Matches(@"AXL getCCMVersion: \d+\.\d+", l.Detail));

        // Wrong credentials still prove the path (401), and say so.
        var refused = await serve.ProbeAsync("127.0.0.1", "--role", "browser", "--only", "t4.https", "--axl-user", "administrator:wrong");
        Assert.True(refused.ExitCode == 0, refused.ToString());
        Assert.All(refused.Flow("t4.https").Legs.Where(l => l.Name == "axl"), l => Assert.Contains("HTTP 401", l.Detail, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Gateway_and_rtmt_flows_run_ike_mgcp_and_rmi_natively()
    {
        var gateway = await serve.ProbeAsync("127.0.0.1", "--role", "gateway", "--only", "t7.ike,t7.mgcp", "--control", serve.Control);
        Assert.True(gateway.ExitCode == 0, gateway.ToString());
        foreach (var name in new[] { "ike-v1", "ike-v2" })
        {
            var ike = gateway.Flow("t7.ike").Legs.Single(l => l.Name == name);
            Assert.Equal(CucmSim.Probe.Outcome.Answered, ike.Outcome);
            Assert.Contains("NO_PROPOSAL_CHOSEN", ike.Detail, StringComparison.Ordinal);
        }

        // The call agent's audit comes back to the gateway that restarted: the secondary leg of MGCP.
        var audit = gateway.Flow("t7.mgcp").Legs.Single(l => l.Name == "mgcp-auep");
        Assert.Equal("secondary", audit.Role);
        Assert.Equal(CucmSim.Probe.Outcome.Answered, audit.Outcome);

        var rtmt = await serve.ProbeAsync("127.0.0.1", "--role", "cucm", "--only", "t1.amc");
        Assert.True(rtmt.ExitCode == 0, rtmt.ToString());
        Assert.All(rtmt.Flow("t1.amc").Legs.Where(l => l.Name == "rmi-handshake"), l =>
        {
            Assert.Equal(CucmSim.Probe.Outcome.Answered, l.Outcome);
            Assert.StartsWith("127.0.0.1:", l.PeerSeen, StringComparison.Ordinal);
        });
        Assert.Equal(2, rtmt.Flow("t1.amc").Legs.Count(l => l.Name == "rmi-handshake"));
    }

    [Fact]
    public async Task The_subscriber_install_flow_gets_the_ssh_host_key_as_evidence()
    {
        var run = await serve.ProbeAsync("127.0.0.1", "--role", "cucm", "--only", "t1.sftp-subscriber", "--control", serve.Control);
        Assert.True(run.ExitCode == 0, run.ToString());
        var flow = run.Flow("t1.sftp-subscriber");
        Assert.True(flow.VerdictName == "allowed", $"{flow.VerdictName}: {flow.Reason}");
        var leg = flow.Legs.Single(l => l.Name == "ssh-kex");
        Assert.Equal(CucmSim.Probe.Outcome.Answered, leg.Outcome);
        Assert.Contains("banner SSH-2.0-OpenSSH_7.4", leg.Evidence);
        Assert.Contains(leg.Evidence, e => e.StartsWith("host key ecdsa-sha2-nistp256 SHA256:", StringComparison.Ordinal));
        Assert.Contains("(signature verified)", leg.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_snmp_manager_reads_sysDescr_with_v2c_and_v3_and_a_refused_v3_user_is_named()
    {
        var run = await serve.ProbeAsync("127.0.0.1", "--role", "snmp-manager", "--only", "t2.snmp", "--control", serve.Control, "--snmp-user", "probe3:SHA-256:authpass1:AES:privpass1");
        Assert.True(run.ExitCode == 0, run.ToString());
        var legs = run.Flow("t2.snmp").Legs;
        Assert.Equal(CucmSim.Probe.Outcome.Answered, legs.Single(l => l.Name == "snmp-get").Outcome);
        var v3 = legs.Single(l => l.Name == "snmp-v3-get");
        Assert.Equal(CucmSim.Probe.Outcome.Answered, v3.Outcome);
        Assert.StartsWith("v3 GET sysDescr as probe3 (authPriv, Sha256/Aes128), engine 80000009", v3.Detail, StringComparison.Ordinal);
        Assert.Contains("Software:UCOS", v3.Detail, StringComparison.Ordinal);

        // The agent's Report proves the path: the flow is not allowed, and the reason names the credential, not the firewall.
        var wrong = await serve.ProbeAsync("127.0.0.1", "--role", "snmp-manager", "--only", "t2.snmp", "--snmp-user", "probe3:SHA-256:wrongpass:AES:privpass1");
        Assert.True(wrong.ExitCode == 1, wrong.ToString());
        var flow = wrong.Flow("t2.snmp");
        Assert.True(flow.VerdictName == "inconclusive", $"{flow.VerdictName}: {flow.Reason}");
        Assert.StartsWith("udp/161: the echo passes, snmp-v3-get failed: v3 GET sysDescr, engine 80000009", flow.Reason, StringComparison.Ordinal);
        Assert.Contains("report usmStatsWrongDigests: wrong digest", flow.Reason, StringComparison.Ordinal);
        Assert.EndsWith("; v2c on the same port was answered", flow.Reason, StringComparison.Ordinal);

        var bad = new StringWriter();
        Assert.Equal(2, await CucmSim.Probe.ProbeCommand.RunAsync(["127.0.0.1", "--snmp-user", "u:MD5:authpass1"], new StringWriter(), bad).DefaultTimeout());
        Assert.Contains("--snmp-user u:...: authentication protocol MD5: SHA or SHA-256", bad.ToString());
    }

    [Fact]
    public async Task The_full_phone_role_is_allowed_on_loopback_and_every_report_says_so()
    {
        var junit = Path.GetTempFileName();
        var html = Path.GetTempFileName();
        var run = await serve.ProbeAsync("127.0.0.1", "--control", serve.Control, "--junit", junit, "--html", html, "--rtp-sample", "64");

        Assert.True(run.ExitCode == 0, run.ToString());
        var report = run.Report!;
        Assert.Equal(PhoneFlows.Order(), report.Flows.Select(f => f.Id).Order());
        Assert.All(report.Flows, f =>
        {
            Assert.True(f.VerdictName == "allowed", $"{f.Id}: {f.VerdictName}: {f.Reason}");
            Assert.Equal("pass", f.Result);
            Assert.NotNull(f.ServerSeen);
            Assert.Equal("127.0.0.1", f.ServerSeen!.Peer!.Split(':')[0]);
        });
        Assert.StartsWith("control ", report.ServerView);
        Assert.True(report.ElapsedMs < 5000, $"{report.ElapsedMs} ms");
        Assert.Equal(64, run.Flow("t6.rtp-to-cucm").Legs.Count);

        // Native exchanges happened, with their evidence.
        var data = run.Flow("t6.tftp").Legs.Single(l => l.Name == "tftp-data");
        Assert.Equal(CucmSim.Probe.Outcome.Answered, data.Outcome);
        Assert.NotEqual("127.0.0.1:69", data.Target);
        Assert.Contains("sha256", data.Detail);
        foreach (var tls in new[] { "t6.sccp-tls", "t6.sips", "t6.tftp-https", "t6.tvs", "t6.capf" })
        {
            Assert.Contains(run.Flow(tls).Legs, l => l.Name == "tls" && l.Certificate is { Subject.Length: > 0 });
        }

        Assert.Contains(run.Flow("t6.sip").Legs, l => l.Name == "sip-options" && l.Listener == "udp/5060" && l.Detail!.Contains("200"));
        Assert.Contains(run.Flow("t6.sip").Legs, l => l.Name == "sip-options" && l.Listener == "tcp/5060");
        foreach (var (flow, media) in new[] { ("t6.sip", "sip-rtp"), ("t6.sips", "sip-rtp"), ("t6.sccp", "sccp-rtp"), ("t6.sccp-tls", "sccp-rtp") })
        {
            Assert.Contains(run.Flow(flow).Legs, l => l.Name == media);
            Assert.All(run.Flow(flow).Legs.Where(l => l.Name == media), l => Assert.True(l.Outcome == CucmSim.Probe.Outcome.Answered, $"{flow} {l.Listener}: {l.Detail}"));
        }

        // JUnit: one suite per table, one case per flow, no addresses in class names.
        var doc = XDocument.Load(junit);
        var suites = doc.Root!.Elements("testsuite").ToList();
        Assert.Single(suites);
        Assert.StartsWith("Table 6", suites[0].Attribute("name")!.Value);
        var cases = suites[0].Elements("testcase").ToList();
        Assert.Equal(PhoneFlows.Length, cases.Count);
        Assert.All(cases, c =>
        {
            Assert.DoesNotContain("127.0.0.1", c.Attribute("classname")!.Value);
            Assert.Empty(c.Elements("failure"));
            Assert.Contains("verdict: allowed", c.Element("system-out")!.Value);
        });
        Assert.Equal("0", doc.Root.Attribute("failures")!.Value);

        // HTML: self-contained, every flow there.
        var page = await File.ReadAllTextAsync(html);
        foreach (var id in PhoneFlows)
        {
            Assert.Contains($"id=\"flow-{id}\"", page);
        }

        Assert.DoesNotContain("<link", page);
        Assert.DoesNotContain(" src=", page);
        Assert.DoesNotContain("http://", page.Replace(serve.Control, string.Empty, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Expectations_pass_a_deny_that_holds_and_fail_one_that_does_not()
    {
        // A second server without the TVS listener: its port answers with a RST.
        await using var partial = CucmSimProcess.StartIn(serve.Namespace, "serve", "--bind", "127.0.0.1", "--port-offset", "1000", "--only", "6", "--except", "t6.tvs,rtp",
            "--no-control", "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await partial.ReadyAsync();
        var holds = Path.GetTempFileName();
        await File.WriteAllTextAsync(holds, "# the policy\n6 allowed\nt6.tvs denied\n");
        var breaks = Path.GetTempFileName();
        await File.WriteAllTextAsync(breaks, "t6.tvs denied\ntcp/2000 denied   # SCCP should be closed, but is not\n");

        var pass = await serve.ProbeAsync("127.0.0.1", "--port-offset", "1000", "--except", "rtp", "--expect", holds);
        Assert.True(pass.ExitCode == 0, pass.ToString());
        Assert.Equal("blocked-reset", pass.Flow("t6.tvs").VerdictName);
        Assert.Equal("denied", pass.Flow("t6.tvs").Expected);
        Assert.Equal("pass", pass.Flow("t6.tvs").Result);

        var fail = await serve.ProbeAsync("127.0.0.1", "--port-offset", "1000", "--except", "rtp", "--expect", breaks);
        Assert.True(fail.ExitCode == 1, fail.ToString());
        Assert.Equal("fail", fail.Flow("t6.sccp").Result);
        Assert.Equal("allowed", fail.Flow("t6.sccp").VerdictName);
        Assert.Equal("pass", fail.Flow("t6.tvs").Result);
        Assert.Contains("FAIL", fail.Output);
    }

    [Fact]
    public async Task Against_a_digest_server_the_call_needs_the_sip_password_and_says_so()
    {
        // A second server that challenges REGISTER, INVITE and BYE, as CUCM does a phone with digest authentication.
        await using var digest = CucmSimProcess.StartIn(serve.Namespace, "serve", "--bind", "127.0.0.1", "--port-offset", "2000", "--only", "t6.sip,t6.rtp-to-cucm",
            "--sip-password", "pw", "--no-control", "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await digest.ReadyAsync();

        var without = await serve.ProbeAsync("127.0.0.1", "--port-offset", "2000", "--only", "t6.sip");
        var invite = without.Flow("t6.sip").Legs.First(l => l.Name == "sip-invite");
        Assert.True(invite.Detail!.Contains("401", StringComparison.Ordinal), without.ToString());
        Assert.Contains(invite.Evidence, e => e.Contains("give --sip-password", StringComparison.Ordinal));
        Assert.DoesNotContain(without.Flow("t6.sip").Legs, l => l.Name == "sip-rtp" && l.Outcome == CucmSim.Probe.Outcome.Answered);

        var with = await serve.ProbeAsync("127.0.0.1", "--port-offset", "2000", "--only", "t6.sip", "--sip-password", "pw");
        Assert.True(with.ExitCode == 0, with.ToString());
        Assert.Contains(with.Flow("t6.sip").Legs, l => l.Name == "sip-invite" && l.Detail!.Contains("200", StringComparison.Ordinal)
            && l.Detail.Contains("BYE 200 (after a 401 challenge", StringComparison.Ordinal));
        var media = with.Flow("t6.sip").Legs.Where(l => l.Name == "sip-rtp").ToList();
        Assert.NotEmpty(media);
        Assert.All(media, l => Assert.True(l.Outcome == CucmSim.Probe.Outcome.Answered, $"{l.Listener}: {l.Detail}"));
    }

    [Fact]
    public async Task The_plan_lists_every_flow_and_sends_nothing()
    {
        var before = await serve.LedgerSeqAsync().DefaultTimeout();
        var plan = await serve.ProbeAsync("127.0.0.1", "--plan", "--control", serve.Control);
        Assert.True(plan.ExitCode == 0, plan.ToString());
        foreach (var id in PhoneFlows)
        {
            Assert.Contains(id, plan.Output);
        }

        Assert.Contains("nothing sent", plan.Output);
        Assert.Equal(before, await serve.LedgerSeqAsync().DefaultTimeout());
    }

    [Fact]
    public async Task A_saved_result_is_judged_again_with_the_ledger_and_the_baseline_shows_what_changed()
    {
        var first = await serve.ProbeAsync("127.0.0.1", "--only", "t6.sccp,t6.tftp");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.All(first.Report!.Flows, f => Assert.Null(f.ServerSeen));
        var saved = Path.GetTempFileName();
        await File.WriteAllTextAsync(saved, first.Report.ToJson());

        var again = await ProbeRun.InProcessAsync("--from", saved, "--ledger", serve.Ledger, "--baseline", saved);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.All(again.Report!.Flows, f => Assert.NotNull(f.ServerSeen));
        Assert.StartsWith("ledger ", again.Report.ServerView);
        Assert.Empty(again.Report.Changes!);
        Assert.Contains("baseline: nothing changed", again.Output);
    }

    [Fact]
    public async Task Bad_options_exit_2_each_named()
    {
        var errors = new StringWriter();
        var exit = await CucmSim.Probe.ProbeCommand.RunAsync(["127.0.0.1", "--role", "nobody", "--timeout", "x", "--only", "t99.none"], new StringWriter(), errors).DefaultTimeout();
        Assert.Equal(2, exit);
        Assert.Contains("--timeout", errors.ToString());
        Assert.Contains("'x'", errors.ToString());
        Assert.Contains("t99.none", errors.ToString());
        Assert.Contains("nobody", errors.ToString());
        Assert.Equal(0, await CucmSim.Probe.ProbeCommand.RunAsync(["--help"], new StringWriter(), new StringWriter()).DefaultTimeout());
    }
}

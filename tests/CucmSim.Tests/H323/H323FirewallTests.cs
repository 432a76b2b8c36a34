using CucmSim.Tests.Infrastructure;
using CucmSim.Tests.Probe;

namespace CucmSim.Tests.H323;

/// <summary>
/// The probe's H.323 call through a stateful firewall that admits only new connections to 1720 (and RAS): the H.245
/// connection the Connect names passes only when Linux's H.323 conntrack helper reads the Connect and expects it,
/// as ASA's <c>inspect h323 h225</c> would; without the helper the probe says secondary-blocked.
/// </summary>
public sealed class H323FirewallTests
{
    private const string Control = "198.51.100.1:9900";

    [Theory]
    [InlineData(true, "allowed")]
    [InlineData(false, "secondary-blocked")]
    public async Task The_h245_pinhole_opens_with_the_conntrack_helper_and_not_without(bool helper, string verdict)
    {
        await using var path = await NatPath.CreateAsync(serverNamespace: true).DefaultTimeout();
        await using var server = CucmSimProcess.StartIn(path.ServerNs!, "serve", "--profile", H323Tests.Profile(), "--bind", NatPath.Server.ToString(),
            "--only", "t7.ras,t7.h225,rtp", "--control", Control, "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await server.ReadyAsync();
        await path.AddRulesAsync("ct state established,related accept", "tcp dport 1720 accept", "udp dport 1719 accept", "drop").DefaultTimeout();
        if (helper)
        {
            await path.AddHelperAsync("Q.931", "tcp", 1720).DefaultTimeout();
        }

        var run = await ProbeRun.InNamespaceAsync(path.ClientNs, TimeSpan.FromSeconds(60),
            NatPath.Server.ToString(), "--role", "gateway", "--only", "t7.h225", "--control", $"http://{Control}", "--timeout", "2", "--retries", "0");
        var flow = run.Flow("t7.h225");
        Assert.True(flow.VerdictName == verdict, $"{flow.VerdictName}: {flow.Reason}\n{run}");
        var setup = flow.Legs.Single(l => l.Name == "h225-setup");
        Assert.Contains("CallProceeding, Alerting, Connect", setup.Detail, StringComparison.Ordinal);
        var h245 = flow.Legs.Single(l => l.Name == "h245");
        Assert.Equal(helper ? CucmSim.Probe.Outcome.Answered : CucmSim.Probe.Outcome.NoAnswer, h245.Outcome);
        Assert.StartsWith(NatPath.Server + ":", h245.Target, StringComparison.Ordinal);

        // RAS passes the same firewall both ways (its answers are replies).
        var ras = await ProbeRun.InNamespaceAsync(path.ClientNs, TimeSpan.FromSeconds(60),
            NatPath.Server.ToString(), "--role", "gatekeeper", "--only", "t7.ras", "--control", $"http://{Control}", "--timeout", "2", "--retries", "0");
        Assert.True(ras.Flow("t7.ras").VerdictName == "allowed", ras.ToString());
    }
}

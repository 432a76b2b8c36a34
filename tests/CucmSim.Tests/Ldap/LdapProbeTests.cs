using CucmSim.Tests.Infrastructure;
using CucmSim.Tests.Probe;

namespace CucmSim.Tests.Ldap;

/// <summary>probe --role cucm against a real serve --role ldap-directory on the profile's own ports, in a namespace of its own.</summary>
public sealed class LdapProbeTests
{
    [Fact]
    public async Task Cucm_binds_and_searches_the_directory_on_all_four_ports()
    {
        Assert.True(Environment.IsPrivilegedProcess, "network namespace tests need root (CI runs as root)");
        var ns = $"cl{Guid.NewGuid().ToString("N")[..6]}-lo";
        await Netns.RunStepsAsync([$"ip netns add {ns}", $"ip -n {ns} link set lo up"]).DefaultTimeout();
        try
        {
            var ledger = Path.Combine(Path.GetTempPath(), $"cucmsim-ldap-ledger-{Guid.NewGuid():N}.jsonl");
            await using var server = CucmSimProcess.StartIn(ns, "serve", "--role", "ldap-directory", "--bind", "127.0.0.1", "--control", "127.0.0.1:9900",
                "--ledger", ledger, "--state-dir", SimHost.TempDirectory(), "--strict", "--log-level", "warning");
            await server.ReadyAsync();

            var run = await ProbeRun.InNamespaceAsync(ns, TimeSpan.FromSeconds(60), "127.0.0.1", "--role", "cucm", "--target-role", "ldap-directory",
                "--control", $"http://{server.Control}");
            Assert.True(run.ExitCode == 0, run.ToString());
            foreach (var id in new[] { "t3.ldap", "t3.ldaps" })
            {
                var flow = run.Flow(id);
                Assert.Equal(CucmSim.Probe.Verdict.Allowed, flow.Verdict);
                var legs = flow.Legs.Where(l => l.Name == "ldap-bind-search").ToList();
                Assert.Equal(2, legs.Count);
                Assert.All(legs, l =>
                {
                    Assert.Equal(CucmSim.Probe.Outcome.Answered, l.Outcome);
                    Assert.Contains("bind success; root DSE naming context dc=cucmsim,dc=example", l.Detail, StringComparison.Ordinal);
                });
            }

            Assert.All(run.Flow("t3.ldaps").Legs.Where(l => l.Name == "ldap-bind-search"), l => Assert.Contains("CN=directory-", l.Detail, StringComparison.Ordinal));
        }
        finally
        {
            await Netns.DeleteAsync(ns);
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Dhcp;

/// <summary>
/// BusyBox's udhcpc, a real DHCP client broadcasting on a link, against serve --dhcp on the other end of a veth
/// pair: two namespaces the test creates (server 198.18.67.1/24, the client with no address) and tears down.
/// </summary>
public sealed class DhcpNamespaceTests
{
    [Fact]
    public async Task Udhcpc_gets_a_lease_with_option_150_and_releases_it()
    {
        Assert.True(Environment.IsPrivilegedProcess, "network namespace tests need root (CI runs as root)");
        var id = Guid.NewGuid().ToString("N")[..6];
        var (serverNs, clientNs) = ($"dh{id}-s", $"dh{id}-c");
        var script = Path.Combine(Path.GetTempPath(), $"cucmsim-udhcpc-{id}.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\necho \"EVENT $1 ip=$ip subnet=$subnet serverid=$serverid lease=$lease opt150=$opt150 tftp=$tftp\"\n" +
            "[ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\nexit 0\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            await Netns.RunStepsAsync(
            [
                $"ip netns add {serverNs}",
                $"ip netns add {clientNs}",
                $"ip link add dh{id}s type veth peer name dh{id}c",
                $"ip link set dh{id}s netns {serverNs}",
                $"ip link set dh{id}c netns {clientNs}",
                $"ip -n {serverNs} addr add 198.18.67.1/24 dev dh{id}s",
                $"ip -n {serverNs} link set dh{id}s up",
                $"ip -n {serverNs} link set lo up",
                $"ip -n {clientNs} link set dh{id}c up",
                $"ip -n {clientNs} link set lo up",
            ]).DefaultTimeout();

            await using var server = CucmSimProcess.StartIn(serverNs, "serve", "--only", "t2.dhcp-server", "--dhcp", "--control", "127.0.0.1:9900",
                "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--strict", "--log-level", "warning");
            await server.ReadyAsync();

            // udhcpc stays bound until SIGTERM, then releases (-R) and exits; the script prints each event.
            var psi = new ProcessStartInfo(ExternalTool.Require("ip")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "netns", "exec", clientNs, "busybox", "udhcpc", "-i", $"dh{id}c", "-f", "-R", "-n", "-t", "5", "-T", "1", "-O", "150", "-O", "66", "-s", script })
            {
                psi.ArgumentList.Add(a);
            }

            using var udhcpc = Process.Start(psi)!;
            var errors = udhcpc.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            string? bound = null;
            try
            {
                while (bound is null && await udhcpc.StandardOutput.ReadLineAsync().DefaultTimeout() is { } line)
                {
                    lines.Add(line);
                    bound = line.StartsWith("EVENT bound", StringComparison.Ordinal) ? line : null;
                }

                if (bound is null)
                {
                    // udhcpc gave up (-n) and closed its output: say what it printed.
                    Assert.Fail(string.Join('\n', lines) + await errors.DefaultTimeout());
                }

                Assert.Equal(0, (await ExternalTool.RunAsync("kill", ["-TERM", udhcpc.Id.ToString(CultureInfo.InvariantCulture)]).DefaultTimeout()).ExitCode);
                await udhcpc.WaitForExitAsync().DefaultTimeout();
            }
            finally
            {
                if (!udhcpc.HasExited)
                {
                    udhcpc.Kill();
                }
            }

            Assert.Contains("ip=198.18.67.2 ", bound, StringComparison.Ordinal);
            Assert.Contains("subnet=255.255.255.0 ", bound, StringComparison.Ordinal);
            Assert.Contains("serverid=198.18.67.1 ", bound, StringComparison.Ordinal);
            Assert.Contains("lease=3600 ", bound, StringComparison.Ordinal);
            Assert.Contains("opt150=c6124301 ", bound, StringComparison.Ordinal); // 198.18.67.1
            Assert.EndsWith("tftp=198.18.67.1", bound.Trim(), StringComparison.Ordinal);
            Assert.Contains("unicasting a release of 198.18.67.2 to 198.18.67.1", await errors.DefaultTimeout(), StringComparison.Ordinal);

            // The release reaches the server: its ledger (through the control API) records it.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            string ledger;
            do
            {
                ledger = (await Netns.ExecAsync(serverNs, "curl", ["-s", "http://127.0.0.1:9900/api/ledger?limit=200"], TimeSpan.FromSeconds(10)).DefaultTimeout()).Stdout;
            }
            while (!ledger.Contains("dhcp-release", StringComparison.Ordinal) && DateTime.UtcNow < deadline && await Task.Delay(200).ContinueWith(_ => true, TaskScheduler.Default));

            Assert.Contains("\"dhcp-offer\"", ledger, StringComparison.Ordinal);
            Assert.Contains("\"dhcp-ack\"", ledger, StringComparison.Ordinal);
            Assert.Contains("\"dhcp-release\"", ledger, StringComparison.Ordinal);
        }
        finally
        {
            await Netns.DeleteAsync(serverNs, clientNs);
            File.Delete(script);
        }
    }
}

using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Echo;
using CucmSim.Cli;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class BindFailureTests
{
    /// <summary>
    /// Three listeners on a loopback address of the test's own (<see cref="UniqueLoopback"/>): one on a port a listener
    /// of the test holds, two on ports free when found (nothing else on this host binds that address).
    /// </summary>
    private static (string Profile, IPAddress Address, int BusyPort, int FreeTcp, int FreeUdp, TcpListener Holder) ProfileWithOneBusyPort()
    {
        var address = UniqueLoopback.Address(204);
        var holder = new TcpListener(address, 0);
        holder.Start();
        var busy = ((IPEndPoint)holder.LocalEndpoint).Port;
        var freeTcp = UniqueLoopback.FreePort(address, SocketType.Stream);
        var freeUdp = UniqueLoopback.FreePort(address, SocketType.Dgram);
        var profile = SimHost.WriteProfile($$"""
            {
              "name": "busy",
              "extends": "cucm",
              "select": { "flows": ["t6.sccp", "t6.sccp-tls", "t2.snmp"] },
              "override": {
                "t6.sccp": { "ports": "{{busy}}" },
                "t6.sccp-tls": { "ports": "{{freeTcp}}" },
                "t2.snmp": { "ports": "{{freeUdp}}" }
              }
            }
            """);
        return (profile, address, busy, freeTcp, freeUdp, holder);
    }

    [Fact]
    public async Task A_port_in_use_is_reported_with_the_fix_and_every_other_listener_serves()
    {
        var (profile, address, busy, freeTcp, freeUdp, holder) = ProfileWithOneBusyPort();
        using var _ = holder.Server;
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = profile, Bind = [address] });

        var failed = Assert.Single(server.Listeners, l => l.Status == ListenerStatus.Failed);
        Assert.Equal($"tcp/{busy}", failed.Id);
        Assert.Contains($"tcp/{busy}", failed.Error);
        Assert.Contains("already in use", failed.Error);
        Assert.Contains($"sport = :{busy}", failed.Fix);
        Assert.Contains("--port-offset", failed.Fix);
        Assert.False(server.Complete);

        Assert.True((await EchoClient.TcpAsync(new IPEndPoint(address, freeTcp)).DefaultTimeout()).Ok);
        Assert.True((await EchoClient.UdpAsync(new IPEndPoint(address, freeUdp)).DefaultTimeout()).Ok);
        var record = await server.WaitForRecordAsync(r => r.Kind == "listener" && r.Listener == $"tcp/{busy}");
        Assert.Equal("failed", record.Verdict);
        Assert.NotNull(record.Fix);
    }

    [Fact]
    public async Task A_second_server_cannot_share_a_tcp_port_with_the_first()
    {
        var address = UniqueLoopback.Address(204);
        var port = UniqueLoopback.FreePort(address, SocketType.Stream);

        var profile = SimHost.WriteProfile($$"""
            { "name": "one-port", "extends": "cucm", "select": { "flows": ["t6.sccp"] }, "override": { "t6.sccp": { "ports": "{{port}}" } } }
            """);
        await using var first = await SimHost.StartAsync(new ServeOptions { Profile = profile, Bind = [address] });
        Assert.Equal(ListenerStatus.Bound, first.Listeners.Single().Status);
        await using var second = await SimHost.StartAsync(new ServeOptions { Profile = profile, Bind = [address] });
        var failed = second.Listeners.Single();
        Assert.Equal(ListenerStatus.Failed, failed.Status);
        Assert.Contains("already in use", failed.Error);
    }

    [Fact]
    public async Task Strict_exits_with_2_and_names_the_port()
    {
        var (profile, address, busy, _, _, holder) = ProfileWithOneBusyPort();
        using var _ = holder.Server;
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliMain.RunAsync(
            ["serve", "--profile", profile, "--bind", address.ToString(), "--strict", "--control", "127.0.0.1:0", "--ledger", "none", "--state-dir", SimHost.TempDirectory()],
            output, error).DefaultTimeout();
        Assert.Equal(2, code);
        Assert.Contains($"FAILED tcp/{busy}", output.ToString());
        Assert.Contains("fix:", output.ToString());
        Assert.Contains("ready: 2/3 listeners up", output.ToString());
    }

    [Fact]
    public async Task Without_strict_a_partial_start_keeps_serving_until_a_signal()
    {
        var (profile, address, busy, _, _, holder) = ProfileWithOneBusyPort();
        using var _ = holder.Server;
        await using var child = CucmSimProcess.Start("serve", "--profile", profile, "--bind", address.ToString(), "--control", "127.0.0.1:0", "--ledger", "none", "--state-dir", SimHost.TempDirectory());
        var ready = await child.ReadyAsync();
        Assert.Contains("2/3 listeners up", ready);
        Assert.Contains($"FAILED tcp/{busy}", child.Output);
        child.Signal(CucmSimProcess.SigTerm);
        Assert.Equal(0, await child.ExitAsync());
    }

    [Fact]
    public async Task Without_privilege_ports_below_1024_fail_with_the_fix_and_the_rest_serves()
    {
        // As root, drop to nobody for the child; as an ordinary user, the child is unprivileged already.
        int? uid = Environment.IsPrivilegedProcess ? 65534 : null;
        // The child's own state directory (serve refuses one that every user may write).
        var state = SimHost.TempDirectory();
        if (uid is { } owner)
        {
            var chown = await ExternalTool.RunAsync("chown", [owner.ToString(System.Globalization.CultureInfo.InvariantCulture), state]);
            Assert.True(chown.ExitCode == 0, chown.All);
        }

        await using var child = CucmSimProcess.StartAs(uid, "serve", "--only", "t1.sftp-subscriber,t2.snmp,t6.sccp", "--bind", "127.0.0.1",
            "--port-offset", "0", "--control", "127.0.0.1:0", "--ledger", "none", "--state-dir", state);
        var ready = await child.ReadyAsync();
        var output = child.Output;
        Assert.Contains("ready: 1/3 listeners up", ready);
        Assert.Contains("FAILED tcp/22 (ssh): permission denied binding tcp/22", output);
        Assert.Contains("FAILED udp/161 (snmp): permission denied binding udp/161", output);
        Assert.Contains("CAP_NET_BIND_SERVICE", output);
        Assert.Contains("--port-offset", output);
        child.Signal(CucmSimProcess.SigTerm);
        Assert.Equal(0, await child.ExitAsync());
    }

    [Fact]
    public async Task Bad_options_and_profiles_exit_with_1_and_say_why()
    {
        var error = new StringWriter();
        Assert.Equal(1, await CliMain.RunAsync(["serve", "--bind", "not-an-ip", "--port-offset", "x"], TextWriter.Null, error));
        Assert.Contains("--bind not-an-ip: not an IP address", error.ToString());
        Assert.Contains("--port-offset x", error.ToString());

        error = new StringWriter();
        Assert.Equal(1, await CliMain.RunAsync(["serve", "--io", "sideways", "--io-threads", "0"], TextWriter.Null, error));
        Assert.Contains("--io sideways: inline or pool", error.ToString());
        Assert.Contains("--io-threads 0", error.ToString());

        error = new StringWriter();
        Assert.Equal(1, await CliMain.RunAsync(["serve", "--only", "table:42", "--ledger", "none", "--no-control"], TextWriter.Null, error));
        Assert.Contains("no flows in table 42", error.ToString());
    }
}

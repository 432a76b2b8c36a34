using System.Globalization;
using System.Net.Sockets;
using CucmSim.Clients.Rmi;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Rmi;

/// <summary>nmap and the client against the JRMP handshake on the AMC ports 1090 and 1099.</summary>
public sealed class RmiProtocolTests : IAsyncLifetime
{
    private SimServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t1.amc"], EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Nmap_names_java_rmi_on_both_ports()
    {
        var ports = string.Join(',', new[] { "tcp/1090", "tcp/1099" }.Select(l => _server.EndPoint(l).Port.ToString(CultureInfo.InvariantCulture)));
        var nmap = await ExternalTool.RunAsync("nmap", ["-sV", "-sT", "-Pn", "-n", "-p", ports, "127.0.0.1"], TimeSpan.FromSeconds(150)).DefaultTimeout(TimeSpan.FromSeconds(160));
        Assert.True(nmap.ExitCode == 0, nmap.All);
        var lines = nmap.Stdout.Split('\n').Where(l => l.Contains("/tcp", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Contains("java-rmi", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_sees_its_own_endpoint_in_the_protocol_ack_and_a_ping_answered()
    {
        var result = await RmiClient.HandshakeAsync(_server.EndPoint("tcp/1099")).DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        Assert.Equal("127.0.0.1", result.SeenHost);
        Assert.InRange(result.SeenPort, 1, 65535);
        Assert.True(result.PingAnswered);
        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == "tcp/1099");
        Assert.Equal("rmi-handshake", record.Verdict);
        Assert.Equal("1", record.Detail!["pings"]);
        Assert.StartsWith("127.0.0.1:", record.Peer, StringComparison.Ordinal);
        Assert.Equal(record.Peer, $"127.0.0.1:{result.SeenPort}");
    }

    [Fact]
    public async Task Multiplex_gets_protocol_not_supported_and_garbage_is_counted_and_closed()
    {
        var target = _server.EndPoint("tcp/1090");
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(target).DefaultTimeout();
            await socket.SendAsync("JRMI\0\u0002M"u8.ToArray()).DefaultTimeout();
            var b = new byte[8];
            Assert.Equal(1, await socket.ReceiveAsync(b).DefaultTimeout());
            Assert.Equal(0x4F, b[0]);
            Assert.Equal(0, await socket.ReceiveAsync(b).DefaultTimeout());
        }

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(target).DefaultTimeout();
            await socket.SendAsync("HELLO\r\n"u8.ToArray()).DefaultTimeout();
            Assert.Equal(0, await socket.ReceiveAsync(new byte[8]).DefaultTimeout());
        }

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "rmi-malformed");
        Assert.Equal("HELLO\\r\\n", record.Detail!["first"]);
        Assert.Equal(1, _server.Listeners.Single(l => l.Id == "tcp/1090").Malformed);

        // The universal echo still answers first.
        using var echo = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await echo.ConnectAsync(target).DefaultTimeout();
        await echo.SendAsync("CUCMSIM-PROBE 5\n"u8.ToArray()).DefaultTimeout();
        var buffer = new byte[256];
        var n = await echo.ReceiveAsync(buffer).DefaultTimeout();
        Assert.StartsWith("CUCMSIM-ECHO 5 tcp/1090", System.Text.Encoding.ASCII.GetString(buffer, 0, n), StringComparison.Ordinal);
    }
}

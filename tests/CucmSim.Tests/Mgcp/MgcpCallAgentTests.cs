using System.Globalization;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Mgcp;
using CucmSim.Protocols.Mgcp;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Mgcp;

/// <summary>The call agent on 2427/udp against the gateway client, checked by tshark's MGCP dissector.</summary>
public sealed class MgcpCallAgentTests : IAsyncLifetime
{
    private SimServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t7.mgcp", "t7.mgcp-backhaul"], EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private System.Net.IPEndPoint Target => _server.EndPoint("udp/2427");

    [Fact]
    public async Task Restart_is_acknowledged_then_audited_and_tshark_decodes_every_message()
    {
        var port = Target.Port.ToString(CultureInfo.InvariantCulture);
        var file = Path.Combine(SimHost.TempDirectory(), "mgcp.pcapng");
        using var tshark = await TsharkCapture.StartAsync($"udp port {port}", file);

        var restart = await MgcpClient.RestartAsync(Target, "S0/SU0/DS1-0/1@gw1.lab.local").DefaultTimeout();
        Assert.True(restart.Restart.Ok, restart.Restart.Error);
        Assert.Equal("OK", restart.Restart.Response!.Commentary);
        Assert.Null(restart.AuditError);
        Assert.Equal(("AUEP", "S0/SU0/DS1-0/1@gw1.lab.local", "A"), (restart.Audit!.Verb, restart.Audit.Endpoint, restart.Audit["F"]));

        var ntfy = await MgcpClient.CommandAsync(Target, MgcpMessage.Command("NTFY", MgcpClient.NewTransactionId(), "aaln/1@gw1.lab.local", "1.0", [new("X", "1"), new("O", "L/hd")])).DefaultTimeout();
        Assert.Equal(200, ntfy.Response!.Code);
        var crcx = await MgcpClient.CommandAsync(Target, MgcpMessage.Command("CRCX", MgcpClient.NewTransactionId(), "aaln/1@gw1.lab.local", "1.0", [new("C", "1"), new("M", "recvonly")])).DefaultTimeout();
        Assert.Equal(MgcpCodes.UnknownCommand, crcx.Response!.Code);
        var version = await MgcpClient.CommandAsync(Target, MgcpMessage.Command("NTFY", MgcpClient.NewTransactionId(), "aaln/1@gw1.lab.local", "2.0")).DefaultTimeout();
        Assert.Equal(MgcpCodes.IncompatibleVersion, version.Response!.Code);

        var audit = await _server.WaitForRecordAsync(r => r.Kind == "mgcp-audit");
        Assert.Equal("mgcp-audit-ok", audit.Verdict);
        Assert.Equal(MgcpClient.Capabilities, audit.Detail!["capabilities"]);

        // RSIP, 200, AUEP, 200, NTFY, 200, CRCX, 504, NTFY, 528.
        await tshark.WaitForLinesAsync(_ => true, 10);
        await tshark.StopAsync().DefaultTimeout();
        var decoded = await ExternalTool.RunAsync("tshark", ["-r", file, "-d", $"udp.port=={port},mgcp", "-T", "fields", "-E", "separator=|",
            "-e", "mgcp.req.verb", "-e", "mgcp.rsp.rspcode", "-e", "mgcp.transid", "-e", "_ws.malformed", "-e", "_ws.expert.severity"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        var lines = decoded.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 10, decoded.All);
        Assert.All(lines, l =>
        {
            var f = l.Split('|');
            Assert.True(f[0].Length > 0 || f[1].Length > 0, l);
            Assert.True(f[2].Length > 0, l);
            Assert.Equal(string.Empty, f[3]);
        });
        Assert.Equal(["RSIP", "", "AUEP", "", "NTFY", "", "CRCX", "", "NTFY", ""], lines.Select(l => l.Split('|')[0]));
        Assert.Equal(["", "200", "", "200", "", "200", "", "504", "", "528"], lines.Select(l => l.Split('|')[1]));
    }

    [Fact]
    public async Task Retransmission_gets_the_same_response_and_garbage_gets_510_and_a_counter()
    {
        using var socket = new Socket(SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(Target);
        var buffer = new byte[2048];

        async Task<string> Exchange(string text)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(text)).DefaultTimeout();
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout();
            return Encoding.ASCII.GetString(buffer, 0, n);
        }

        Assert.Equal("200 4711 OK\r\n", await Exchange("NTFY 4711 aaln/1@gw MGCP 1.0\r\nO: L/hd\r\n"));
        Assert.Equal("200 4711 OK\r\n", await Exchange("NTFY 4711 aaln/1@gw MGCP 1.0\r\nO: L/hd\r\n"));
        Assert.Equal("536 4712 Unknown or unsupported RestartMethod\r\n", await Exchange("RSIP 4712 *@gw MGCP 1.0\r\nRM: sideways\r\n"));
        Assert.Equal("510 4713 Protocol error\r\n", await Exchange("NTFY 4713 aaln/1@gw\r\n"));
        Assert.Equal(1, _server.Listeners.Single(l => l.Id == "udp/2427").Malformed);
        Assert.StartsWith("CUCMSIM-ECHO 8 udp/2427", await Exchange("CUCMSIM-PROBE 8"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backhaul_holds_the_connection_and_records_what_arrived()
    {
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(_server.EndPoint("tcp/2428")).DefaultTimeout();
            await socket.SendAsync(new byte[] { 0x00, 0x0C, 0x80, 0x00, 0x01, 0x02 }).DefaultTimeout();
        }

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == "tcp/2428");
        Assert.Equal("mgcp-backhaul", record.Verdict);
        Assert.Equal("\\x00\\x0c\\x80\\x00\\x01\\x02", record.Detail!["first"]);
        Assert.Equal(6, record.BytesIn);
    }
}

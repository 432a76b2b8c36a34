using System.Globalization;
using System.Net.Sockets;
using CucmSim.Clients.Syslog;
using CucmSim.Protocols.Syslog;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Syslog;

/// <summary>util-linux logger and the client against the collector on 514/udp; each message is a ledger record.</summary>
public sealed class SyslogReceiverTests : IAsyncLifetime
{
    private SimServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t1.syslog"], EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Port => _server.EndPoint("udp/514").Port.ToString(CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("--rfc3164", "rfc3164")]
    [InlineData("--rfc5424", "rfc5424")]
    public async Task Logger_messages_become_ledger_records(string option, string format)
    {
        var text = $"firewall check {Guid.NewGuid():N}";
        var result = await ExternalTool.RunAsync("logger", ["--udp", "--server", "127.0.0.1", "--port", Port, option, "-p", "local3.warning", "-t", "cucmcheck", text]).DefaultTimeout();
        Assert.True(result.ExitCode == 0, result.All);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "syslog" && r.Detail!.TryGetValue("message", out var m) && m == text);
        Assert.Equal("syslog", record.Verdict);
        Assert.Equal(format, record.Detail!["format"]);
        Assert.Equal("local3", record.Detail["facility"]);
        Assert.Equal("warning", record.Detail["severity"]);
        // logger names this machine: the short name in RFC 3164, the full one in RFC 5424.
        Assert.StartsWith(record.Detail["host"].Split('.')[0], System.Net.Dns.GetHostName(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("cucmcheck", record.Detail["app"]);
        Assert.Equal("udp/514", record.Listener);
    }

    [Fact]
    public async Task Client_message_is_recorded_and_malformed_input_is_kept_as_raw_text()
    {
        var target = _server.EndPoint("udp/514");
        await SyslogClient.SendAsync(target, "from the client", SyslogFormat.Rfc3164, facility: 4, severity: 2).DefaultTimeout();
        var record = await _server.WaitForRecordAsync(r => r.Kind == "syslog" && r.Detail!.GetValueOrDefault("message") == "from the client");
        Assert.Equal(("auth", "crit", "cucmsim"), (record.Detail!["facility"], record.Detail["severity"], record.Detail["app"]));

        using var socket = new Socket(SocketType.Dgram, ProtocolType.Udp);
        await socket.SendToAsync("no priority\x01here"u8.ToArray(), target).DefaultTimeout();
        var raw = await _server.WaitForRecordAsync(r => r.Kind == "syslog" && r.Verdict == "syslog-malformed");
        Assert.Equal("no priority\\x01here", raw.Detail!["raw"]);
        Assert.Equal(1, _server.Listeners.Single(l => l.Id == "udp/514").Malformed);

        // The universal echo still answers before the collector.
        await socket.SendToAsync("CUCMSIM-PROBE 7"u8.ToArray(), target).DefaultTimeout();
        var buffer = new byte[512];
        var n = await socket.ReceiveAsync(buffer).DefaultTimeout();
        Assert.StartsWith("CUCMSIM-ECHO 7 udp/514", System.Text.Encoding.ASCII.GetString(buffer, 0, n), StringComparison.Ordinal);
    }
}

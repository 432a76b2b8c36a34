using System.Diagnostics;
using System.Globalization;
using CucmSim.Clients.Sccp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sccp;

/// <summary>
/// Wire truth from a decoder no one here wrote: a full exchange captured on loopback and decoded by
/// tshark's skinny dissector, which must find no malformed packet and raise no warning or error.
/// </summary>
public sealed class SccpCaptureTests
{
    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)17)]
    public async Task Tshark_decodes_a_full_exchange_without_warnings(byte protocol)
    {
        await using var server = await SccpTestHost.StartAsync();
        var port = server.Sccp().Port;
        var file = Path.Combine(SimHost.TempDirectory(), $"sccp-{protocol}.pcapng");
        string phoneName;
        string local;
        using (var capture = await TsharkCapture.StartAsync($"tcp port {port}", file))
        {
            await using var phone = new SccpPhone(new SccpPhoneOptions { ProtocolVersion = protocol });
            phoneName = phone.Options.DeviceName;
            await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
            Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
            await phone.BootAsync().DefaultTimeout();
            await phone.KeepAliveAsync().DefaultTimeout();
            var call = await phone.CallAsync("1000", rtpPackets: 5).DefaultTimeout();
            Assert.True(call.Connected, call.Error);
            await phone.UnregisterAsync().DefaultTimeout();
            local = phone.LocalEndPoint!.ToString();
            await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Peer == local);

            // tshark prints a packet once it is in the file; stop when both FINs are there (dumpcap drops
            // what it has not read yet when it is interrupted).
            var localPort = phone.LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture);
            await capture.WaitForLinesAsync(l => l.Contains("FIN", StringComparison.Ordinal) && l.Contains(localPort, StringComparison.Ordinal), 2);
            await capture.StopAsync();
        }

        string[] decode = ["-r", file, "-d", $"tcp.port=={port},skinny", "-o", "skinny.desegment:TRUE"];
        // Segments decoded one by one (no reassembly): every segment must hold whole messages.
        string[] perSegment = ["-r", file, "-d", $"tcp.port=={port},skinny", "-o", "skinny.desegment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE"];
        var fields = await ExternalTool.RunAsync("tshark", [.. perSegment, "-Y", "skinny", "-T", "fields", "-e", "tcp.srcport", "-e", "skinny.messageId", "-e", "skinny.hdr_version", "-e", "tcp.len", "-e", "skinny.data_length"], TimeSpan.FromSeconds(60));
        Assert.Equal(0, fields.ExitCode);
        var rows = fields.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        var ids = rows.SelectMany(r => r[1].Split(',')).Select(id => uint.Parse(id, CultureInfo.InvariantCulture)).ToHashSet();
        uint[] expected = [0x0001, 0x0081, 0x009B, 0x0010, 0x000E, 0x0097, 0x0028, 0x0108, 0x0025, 0x0109, 0x000C, 0x0093, 0x000B, 0x0092, 0x000D, 0x0094,
                           0x002D, 0x002B, 0x0000, 0x0100, 0x0006, 0x0003, 0x0111, 0x0105, 0x0022, 0x008A, 0x0114, 0x0007, 0x008B, 0x0106, 0x0027, 0x0118];
        Assert.Empty(expected.Except(ids).Select(i => i.ToString("X4", CultureInfo.InvariantCulture)));
        if (protocol >= 17)
        {
            Assert.Contains(0x0154u, ids);
            Assert.Contains(rows, r => r[2].Split(',').Contains("0x00000011"));
        }

        // No message of the server straddles two TCP segments (ASA inspection drops fragmented SCCP):
        // each segment's payload is a whole number of messages.
        var fromServer = rows.Where(r => r[0] == port.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.True(fromServer.Count >= 10);
        Assert.All(fromServer, r => Assert.Equal(int.Parse(r[3], CultureInfo.InvariantCulture), r[4].Split(',').Sum(l => int.Parse(l, CultureInfo.InvariantCulture) + 8)));

        // Malformed anywhere; warnings on the frames that carry SCCP (the loopback TCP stack's own artefacts,
        // such as a tail-loss-probe retransmission of the FIN and its D-SACK, are not the protocol's).
        var malformed = await ExternalTool.RunAsync("tshark", [.. decode, "-Y", "_ws.malformed || (skinny && _ws.expert.severity >= \"warning\")"], TimeSpan.FromSeconds(60));
        Assert.True(string.IsNullOrWhiteSpace(malformed.Stdout), malformed.Stdout);
        var expert = await ExternalTool.RunAsync("tshark", [.. decode, "-q", "-z", "expert,warn,skinny"], TimeSpan.FromSeconds(60));
        Assert.DoesNotContain("Warnings (", expert.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Errors (", expert.Stdout, StringComparison.Ordinal);
        var verbose = await ExternalTool.RunAsync("tshark", [.. decode, "-Y", "skinny.messageId == 0x0001", "-V"], TimeSpan.FromSeconds(60));
        Assert.Contains(phoneName, verbose.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_fragment_option_splits_every_message_over_two_segments()
    {
        await using var server = await SccpTestHost.StartAsync(new CucmSim.Serve.Sccp.SccpOptions { Fragment = true }, media: false);
        var port = server.Sccp().Port;
        var file = Path.Combine(SimHost.TempDirectory(), "sccp-fragment.pcapng");
        using (var capture = await TsharkCapture.StartAsync($"tcp port {port}", file))
        {
            await using var phone = new SccpPhone();
            await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
            Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
            await phone.KeepAliveAsync().DefaultTimeout();
            await phone.UnregisterAsync().DefaultTimeout();
            var localPort = phone.LocalEndPoint!.Port.ToString(CultureInfo.InvariantCulture);
            await phone.DisposeAsync();
            await capture.WaitForLinesAsync(l => l.Contains("FIN", StringComparison.Ordinal) && l.Contains(localPort, StringComparison.Ordinal), 2);
            await capture.StopAsync();
        }

        // The first 8 bytes (data length and header version) of each message travel alone.
        var lengths = await ExternalTool.RunAsync("tshark", ["-r", file, "-Y", $"tcp.srcport == {port} && tcp.len > 0", "-T", "fields", "-e", "tcp.len"], TimeSpan.FromSeconds(60));
        var sizes = lengths.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
        Assert.True(sizes.Count(n => n == 8) >= 5, string.Join(",", sizes));
        Assert.Contains(24, sizes); // the rest of RegisterAck
    }
}

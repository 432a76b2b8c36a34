using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.H323;
using CucmSim.Protocols.H323;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.H323;

/// <summary>RAS on 1719/udp and H.225 call signalling on 1720/tcp against the H.323 client, checked by tshark and nmap.</summary>
public sealed class H323Tests : IAsyncLifetime
{
    private static int s_block;

    private SimServer _server = null!;

    /// <summary>A media block of 16 ports no other test uses (between SIP's and the kernel's ephemeral range).</summary>
    public static string Profile()
    {
        var low = 14000 + (((Environment.ProcessId * 3) + Interlocked.Increment(ref s_block)) % 100 * 16);
        return SimHost.WriteProfile($$"""{ "name": "h323-test", "extends": "cucm", "rtp": { "cucm": "{{low}}-{{low + 15}}" } }""");
    }

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Profile = Profile(), Only = ["t7.ras", "t7.h225", "rtp"], EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private IPEndPoint Ras => _server.EndPoint("udp/1719");

    private IPEndPoint Signalling => _server.EndPoint("tcp/1720");

    [Fact]
    public async Task Ras_answers_each_request_and_tshark_decodes_every_message_cleanly()
    {
        var port = Ras.Port.ToString(CultureInfo.InvariantCulture);
        var file = Path.Combine(SimHost.TempDirectory(), "ras.pcapng");
        using var tshark = await TsharkCapture.StartAsync($"udp port {port}", file);

        var gcf = await H323Client.DiscoverAsync(Ras).DefaultTimeout();
        Assert.True(gcf.Ok, gcf.Error);
        Assert.Equal((RasKind.GatekeeperConfirm, "GATEKEEPER", H225Types.ProtocolV5), (gcf.Answer!.Type, gcf.Answer.GatekeeperIdentifier, gcf.Answer.ProtocolIdentifier));
        Assert.Equal(Ras, gcf.Answer.RasAddress!.EndPoint);

        var grj = await H323Client.DiscoverAsync(Ras, gatekeeperId: "OTHER-GK").DefaultTimeout();
        Assert.Equal(RasKind.GatekeeperReject, grj.Answer!.Type);

        var rcf = await H323Client.RegisterAsync(Ras, [H225Alias.H323Id("gw-h323-test"), H225Alias.Digits("4711")]).DefaultTimeout();
        Assert.Equal(RasKind.RegistrationConfirm, rcf.Answer!.Type);
        Assert.Equal(Signalling, rcf.Answer.CallSignalAddresses.Single().EndPoint);
        Assert.Contains(_server.Context.Devices.Snapshot(), d => d.Name == "H323:gw-h323-test" && d.Protocol == "h323");

        var rrj = await H323Client.RegisterAsync(Ras, [H225Alias.H323Id("reject-me")]).DefaultTimeout();
        Assert.Equal((RasKind.RegistrationReject, RasReason.RrjInvalidAlias), (rrj.Answer!.Type, rrj.Answer.Reason));

        // The test extension, and a number an endpoint registered, are located here; any other is not.
        foreach (var number in new[] { "1000", "4711" })
        {
            var lcf = await H323Client.LocateAsync(Ras, number).DefaultTimeout();
            Assert.Equal(RasKind.LocationConfirm, lcf.Answer!.Type);
            Assert.Equal(Signalling, lcf.Answer.CallSignalAddress!.EndPoint);
        }

        var lrj = await H323Client.LocateAsync(Ras, "99999").DefaultTimeout();
        Assert.Equal((RasKind.LocationReject, RasReason.LrjRequestDenied), (lrj.Answer!.Type, lrj.Answer.Reason));

        var ucf = await H323Client.UnregisterAsync(Ras, rcf.Answer.EndpointIdentifier).DefaultTimeout();
        Assert.Equal(RasKind.UnregistrationConfirm, ucf.Answer!.Type);
        Assert.DoesNotContain(_server.Context.Devices.Snapshot(), d => d.Name == "H323:gw-h323-test");
        var gone = await H323Client.LocateAsync(Ras, "4711").DefaultTimeout();
        Assert.Equal(RasKind.LocationReject, gone.Answer!.Type);

        // An InfoRequest (seq 100, call reference 7) is not served by a gatekeeper that grants no admissions: XRS.
        var irq = new byte[] { 0x54, 0x00, 0x00, 0x63, 0x00, 0x07 };
        using (var socket = new Socket(SocketType.Dgram, ProtocolType.Udp))
        {
            socket.Connect(Ras);
            await socket.SendAsync(irq).DefaultTimeout();
            var buffer = new byte[2048];
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout();
            Assert.Equal(System.Buffers.OperationStatus.Done, RasCodec.TryDecode(buffer.AsSpan(0, n), out var answer, out _));
            Assert.Equal((RasKind.UnknownMessageResponse, 100), (answer.Type, answer.SequenceNumber));
            Assert.Equal(irq, answer.NotUnderstood);
        }

        var record = await _server.WaitForRecordAsync(r => r.Kind == "ras" && r.Verdict == "ras-rrj");
        Assert.Contains("reject rule", record.Detail!["reason"], StringComparison.Ordinal);

        // 10 requests, 10 answers: every one decoded as RAS, none malformed, no expert warning.
        await tshark.WaitForLinesAsync(_ => true, 20);
        await tshark.StopAsync().DefaultTimeout();
        var decoded = await ExternalTool.RunAsync("tshark", ["-r", file, "-d", $"udp.port=={port},h225", "-T", "fields", "-E", "separator=|",
            "-e", "h225.RasMessage", "-e", "_ws.malformed", "-e", "_ws.expert.severity"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        var lines = decoded.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 20, decoded.All);
        Assert.All(lines, l =>
        {
            var f = l.Split('|');
            Assert.True(f[0].Length > 0 && f[1].Length == 0 && f[2].Length == 0, l);
        });
        // gatekeeperConfirm 1, gatekeeperReject 2, registrationConfirm 4, registrationReject 5, unregistrationConfirm 7, locationConfirm 19, locationReject 20, XRS 24.
        Assert.Equal(["0", "1", "0", "2", "3", "4", "3", "5", "18", "19", "18", "19", "18", "20", "6", "7", "18", "20", "21", "24"], lines.Select(l => l.Split('|')[0]));
    }

    [Fact]
    public async Task A_call_to_the_test_extension_connects_and_its_h245_address_answers_and_tshark_decodes_every_message()
    {
        var port = Signalling.Port.ToString(CultureInfo.InvariantCulture);
        var file = Path.Combine(SimHost.TempDirectory(), "h225.pcapng");
        using var tshark = await TsharkCapture.StartAsync($"tcp port {port}", file);

        var call = await H323Client.CallAsync(Signalling, "1000", new H225CallOptions { StatusEnquiry = true }).DefaultTimeout();
        Assert.True(call.Ok, call.Error);
        Assert.Equal([Q931Type.CallProceeding, Q931Type.Alerting, Q931Type.Connect], call.Answers.Select(a => a.Type));
        Assert.All(call.Answers, a => Assert.True(a.FromDestination && a.Uuie is not null, a.Name + a.UuieError));
        Assert.Equal((Q931Type.Status, 30, 10), (call.Status!.Type, call.Status.Cause, call.Status.CallState));
        Assert.Equal(IPAddress.Loopback, call.H245Address!.Address);
        Assert.True(call.H245Reached, call.H245Error);

        var opened = await _server.WaitForRecordAsync(r => r.Kind == "h245-open");
        Assert.Equal(("h245-connect", Exchanges(call.H245Address)), (opened.Verdict, opened.Local));
        var closed = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == "tcp/1720" && r.Verdict == "h225-connect");
        Assert.Equal(("1000", "by the caller", "yes"), (closed.Detail!["called"], closed.Detail["released"], closed.Detail["h245Connected"]));

        // The port went back to the pool with the call (before the connection's record): no TCP listener is left on it.
        Assert.Equal(0, _server.Rtp!.Stats().Allocated);
        using (var probe = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => probe.ConnectAsync(call.H245Address)).DefaultTimeout();
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        var unknown = await H323Client.CallAsync(Signalling, "5555").DefaultTimeout();
        Assert.True(unknown.Ok, unknown.Error);
        Assert.Equal((Q931Type.ReleaseComplete, Q931Cause.UnallocatedNumber), (unknown.Answers.Single().Type, unknown.Release!.Cause));
        Assert.Equal(ReleaseReason.UnreachableDestination, unknown.Release.Uuie!.ReleaseReason);

        // Setup, CallProceeding, Alerting, Connect, StatusEnquiry, Status, ReleaseComplete; Setup, ReleaseComplete.
        // Every message precedes its connection's FINs: two connections, both sides, four FINs.
        await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == "tcp/1720" && r.Detail?.GetValueOrDefault("called") == "5555");
        await tshark.WaitForLinesAsync(l => l.Contains("FIN", StringComparison.Ordinal), 4);
        await tshark.StopAsync().DefaultTimeout();
        // Q.931's TCP heuristic finds TPKT on any port; a segment may carry several messages (comma-separated fields).
        var decoded = await ExternalTool.RunAsync("tshark", ["-r", file, "-Y", "q931", "-T", "fields", "-E", "separator=|",
            "-e", "q931.message_type", "-e", "h225.h323_message_body", "-e", "_ws.malformed", "-e", "_ws.expert.severity"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        var lines = decoded.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.True(l.Split('|') is [_, _, "", ""], l));
        IEnumerable<string> Field(int i) => lines.SelectMany(l => l.Split('|')[i].Split(',', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(Field(0).SequenceEqual(["0x05", "0x02", "0x01", "0x07", "0x75", "0x7d", "0x5a", "0x05", "0x5a"]), decoded.All);

        // setup 0, callProceeding 1, alerting 3, connect 2, status 9 (Status Enquiry carries no UUIE), releaseComplete 5.
        Assert.True(Field(1).SequenceEqual(["0", "1", "3", "2", "9", "5", "0", "5"]), decoded.All);
    }

    [Fact]
    public async Task Bad_input_gets_the_protocols_answer_a_counter_and_the_echo_still_works()
    {
        using (var udp = new Socket(SocketType.Dgram, ProtocolType.Udp))
        {
            udp.Connect(Ras);
            var buffer = new byte[2048];

            // nmap's AFSVersionRequest reads as a GRQ head (seq 1000) with a broken body: CUCM answers it with GCF all the same.
            await udp.SendAsync(Convert.FromHexString("000003E7000000000000006500000000000000000D0500000000000000000000")).DefaultTimeout();
            var n = await udp.ReceiveAsync(buffer).DefaultTimeout();
            Assert.StartsWith("068003E7060008914A0005120047", Convert.ToHexString(buffer, 0, n), StringComparison.Ordinal);

            // Random datagrams in batches, each followed by an echo probe that must come back (a batch stays far below the socket's buffer).
            var random = new Random(1719);
            for (var batch = 0; batch < 15; batch++)
            {
                for (var i = 0; i < 20; i++)
                {
                    var junk = new byte[random.Next(1, 300)];
                    random.NextBytes(junk);
                    junk[0] = (byte)(junk[0] | 0x80);
                    await udp.SendAsync(junk).DefaultTimeout();
                }

                var nonce = "h323junk" + batch.ToString(CultureInfo.InvariantCulture);
                await udp.SendAsync(System.Text.Encoding.ASCII.GetBytes("CUCMSIM-PROBE " + nonce)).DefaultTimeout();
                string text;
                do
                {
                    n = await udp.ReceiveAsync(buffer).DefaultTimeout();
                    text = System.Text.Encoding.ASCII.GetString(buffer, 0, n);
                }
                while (!text.StartsWith("CUCMSIM-ECHO", StringComparison.Ordinal));
                Assert.StartsWith($"CUCMSIM-ECHO {nonce} udp/1719", text, StringComparison.Ordinal);
            }
        }

        Assert.True(_server.Listeners.Single(l => l.Id == "udp/1719").Malformed >= 1);

        // A TPKT that is not Q.931 (nmap's X.224 connection request) gets Status, cause 98, call state Null; the stream stays open.
        using (var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await tcp.ConnectAsync(Signalling).DefaultTimeout();
            await tcp.SendAsync(Convert.FromHexString("0300000B06E00000000000")).DefaultTimeout();
            var buffer = new byte[64];
            var n = await tcp.ReceiveAsync(buffer).DefaultTimeout();
            Assert.Equal("03000010080280007D080280E2140100", Convert.ToHexString(buffer, 0, n));

            // A Setup whose user-user IE does not decode is released with cause 100.
            await tcp.SendAsync(Q931Codec.Encode(new Q931Message { Type = Q931Type.Setup, CallReference = 5, CalledNumber = "1000" }, [0xFF, 0xFF])).DefaultTimeout();
            n = await tcp.ReceiveAsync(buffer).DefaultTimeout();
            Assert.Equal(System.Buffers.OperationStatus.Done, Q931Codec.TryDecode(buffer.AsSpan(4, n - 4), out var release, out _));
            Assert.Equal((Q931Type.ReleaseComplete, Q931Cause.InvalidInformationElementContents), (release!.Type, release.Cause));

            // Not TPKT at all: the stream is out of step and closed.
            await tcp.SendAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray()).DefaultTimeout();
            Assert.Equal(0, await tcp.ReceiveAsync(buffer).DefaultTimeout());
        }

        Assert.True(_server.Listeners.Single(l => l.Id == "tcp/1720").Malformed >= 3);
        var echo = await CucmSim.Clients.Echo.EchoClient.TcpAsync(Signalling, new CucmSim.Clients.Echo.EchoOptions(), CucmSim.Clients.Echo.EchoClient.NewNonce()).DefaultTimeout();
        Assert.True(echo.Ok, echo.Error);
    }

    [Fact]
    public async Task Nmap_names_the_gatekeeper_as_cucms_and_call_signalling_as_q931()
    {
        var udp = await ExternalTool.RunAsync("nmap", ["-n", "-Pn", "-sU", "-sV", "-p", Ras.Port.ToString(CultureInfo.InvariantCulture), "127.0.0.1"], TimeSpan.FromSeconds(120))
            .DefaultTimeout(TimeSpan.FromSeconds(130));
        Assert.Contains("H.323-gatekeeper-discovery Cisco Unified Communications Manager Gatekeeper RAS service", udp.Stdout, StringComparison.Ordinal);

        var tcp = await ExternalTool.RunAsync("nmap", ["-n", "-Pn", "-sT", "-sV", "-p", Signalling.Port.ToString(CultureInfo.InvariantCulture), "127.0.0.1"], TimeSpan.FromSeconds(150))
            .DefaultTimeout(TimeSpan.FromSeconds(160));
        Assert.Contains("H.323/Q.931", tcp.Stdout, StringComparison.Ordinal);
    }

    private static string Exchanges(IPEndPoint endPoint) => CucmSim.Probe.Exchanges.Format(endPoint);
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Dhcp;
using CucmSim.Clients.H323;
using CucmSim.Clients.Ike;
using CucmSim.Clients.Mgcp;
using CucmSim.Protocols.H323;
using CucmSim.Protocols.Mgcp;
using CucmSim.Protocols.Snmp;
using CucmSim.Protocols.Tftp;
using CucmSim.Serve;
using CucmSim.Serve.Dhcp;
using CucmSim.Serve.Sip;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CucmSim.Tests.Serve;

/// <summary>
/// For every UDP protocol the cucm role answers: the bytes an unauthenticated peer draws, retransmissions included,
/// for the bytes it sent, over real sockets from a source that never answers (what a forged source looks like to
/// the server). Each answer is at most 3 times the request, or within the floor docs/security.md gives.
/// </summary>
public sealed class AmplificationTests(ITestOutputHelper output)
{
    private const int Factor = 3;

    /// <summary>One block of RFC 1350 (DATA header and 512 bytes): the answer a plain RRQ needs.</summary>
    private const int TftpFloor = 516;

    /// <summary>RFC 2131's smallest DHCP message (the BOOTP 300 bytes); a DISCOVER is about as large.</summary>
    private const int DhcpFloor = 300;

    [Fact]
    public async Task Echo_answers_within_the_bound()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t8.ac-register"], EphemeralPorts = true });
        using var peer = new Peer(server.EndPoint("udp/3224"));
        peer.Send("CUCMSIM-PROBE 0123456789abcdef\n"u8.ToArray());
        await peer.CollectAsync();
        Check("echo", peer, floor: 0);
        Assert.Equal(1, peer.Datagrams);
    }

    [Fact]
    public async Task Sip_options_gets_a_minimal_answer_within_the_floor()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t6.sip"], EphemeralPorts = true });
        using var peer = new Peer(server.EndPoint("udp/5060"));
        var target = server.EndPoint("udp/5060");
        peer.Send(Encoding.ASCII.GetBytes(
            $"OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {peer.Local};branch=z9hG4bKa1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n"));
        await peer.CollectAsync();
        Check("sip OPTIONS", peer, new SipOptions().AmplificationFloor);
        Assert.Equal(1, peer.Datagrams);
        Assert.StartsWith("SIP/2.0 200 OK", peer.First, StringComparison.Ordinal);
        Assert.Equal(1, SipService.Running(server.Context)!.Trimmed);

        // The same request, larger (a real client's): the mirror fits and comes back.
        using var full = new Peer(target);
        full.Send(Encoding.ASCII.GetBytes(
            $"OPTIONS sip:ping@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {full.Local};branch=z9hG4bKa2;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{full.Local}>;tag=abcdef\r\n" +
            $"To: <sip:ping@{target}>\r\nCall-ID: 0123456789abcdef@probe\r\nCSeq: 1 OPTIONS\r\nContact: <sip:probe@{full.Local}>\r\nAccept: application/sdp\r\nUser-Agent: CucmSim-probe\r\nContent-Length: 0\r\n\r\n"));
        await full.CollectAsync();
        Check("sip OPTIONS (client-sized)", full, new SipOptions().AmplificationFloor);
        Assert.Contains(SipService.MirrorHeader, full.First, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sip_invite_from_an_unknown_peer_that_never_acks_draws_at_most_its_budget(bool offer)
    {
        // Timers of 20 ms: timer H (64·T1) ends the transaction within 1.3 s, every retransmission of it seen.
        var sip = new SipOptions { T1 = TimeSpan.FromMilliseconds(20), T2 = TimeSpan.FromMilliseconds(160) };
        await using var server = await Sip.SipTestSupport.StartAsync(sip);
        var target = server.EndPoint("udp/5060");
        using var peer = new Peer(target);
        var callId = $"amp-{offer}";
        var invite = Sip.SipTestSupport.Request("INVITE", target, peer.Local, "z9hG4bKamp1", callId, 1, body: offer ? Sip.SipTestSupport.Offer : null);
        peer.Send(Encoding.ASCII.GetBytes(invite));
        var call = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == callId);
        Assert.Equal("no-ack", call.Verdict);
        await peer.CollectAsync();
        Check($"sip INVITE {(offer ? "with" : "without")} an offer, never acknowledged", peer, sip.AmplificationFloor);
        Assert.DoesNotContain("SIP/2.0 100 Trying", peer.All, StringComparison.Ordinal);
        Assert.Contains("SIP/2.0 200 OK", peer.All, StringComparison.Ordinal);

        // The same INVITE from a trunk: 100, 180, 200 and the 200 again until timer H, as RFC 3261 says.
        await using var trunkServer = await Sip.SipTestSupport.StartAsync(sip with { TrunkPeers = [IPAddress.Loopback] });
        using var trunk = new Peer(trunkServer.EndPoint("udp/5060"));
        trunk.Send(Encoding.ASCII.GetBytes(Sip.SipTestSupport.Request("INVITE", trunkServer.EndPoint("udp/5060"), trunk.Local, "z9hG4bKamp2", callId, 1, body: offer ? Sip.SipTestSupport.Offer : null)));
        await trunkServer.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == callId);
        await trunk.CollectAsync();
        output.WriteLine($"the same from a trunk: {trunk.Received} bytes in {trunk.Datagrams} datagrams for {trunk.Sent}");
        Assert.Contains("SIP/2.0 100 Trying", trunk.All, StringComparison.Ordinal);
        Assert.True(trunk.Received > peer.Received, "a trunk's answers are not bounded");
    }

    [Fact]
    public async Task Sip_invite_retransmitted_by_the_peer_gets_the_answer_again_within_the_grown_budget()
    {
        var sip = new SipOptions { T1 = TimeSpan.FromMilliseconds(20), T2 = TimeSpan.FromMilliseconds(160) };
        await using var server = await Sip.SipTestSupport.StartAsync(sip);
        var target = server.EndPoint("udp/5060");
        using var peer = new Peer(target);
        var invite = Encoding.ASCII.GetBytes(Sip.SipTestSupport.Request("INVITE", target, peer.Local, "z9hG4bKamp3", "amp-retrans", 1, body: Sip.SipTestSupport.Offer));
        peer.Send(invite);
        await peer.ReceiveOneAsync();
        peer.Send(invite);
        await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == "amp-retrans");
        await peer.CollectAsync();
        Check("sip INVITE sent twice, never acknowledged", peer, 2 * sip.AmplificationFloor);
        Assert.True(peer.Datagrams >= 2, $"{peer.Datagrams} datagrams");
    }

    [Fact]
    public async Task Snmp_getbulk_is_capped()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.snmp"], EphemeralPorts = true });
        using var peer = new Peer(server.EndPoint("udp/161"));
        var request = new byte[128];
        var n = SnmpCodec.WriteMessage(request, SnmpVersion.V2c, "public"u8, PduType.GetBulk, 7, 0, 1000, [new SnmpVarBind("1.3.6.1", SnmpValue.Null)]);
        peer.Send(request[..n]);
        await peer.CollectAsync();
        Check("snmp GetBulk max-repetitions 1000", peer, new CucmSim.Serve.Snmp.SnmpOptions().AmplificationFloor);
    }

    [Fact]
    public async Task Tftp_error_oack_and_first_block_are_sent_once_per_request()
    {
        var root = SimHost.TempDirectory();
        await File.WriteAllBytesAsync(Path.Combine(root, "big.bin"), new byte[200_000]);
        var tftp = new TftpOptions { Root = root, Timeout = TimeSpan.FromMilliseconds(100), Retries = 5 };
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.tftp"], EphemeralPorts = true, Tftp = tftp });
        var target = server.EndPoint("udp/69");

        // Unknown file: one ERROR.
        using (var missing = new Peer(target))
        {
            missing.Send(Rrq("x", default));
            await missing.CollectAsync();
            Check("tftp RRQ of a missing file (ERROR 1)", missing, floor: 0);
        }

        // Every option at its largest: the OACK, never the 64 KiB blocks (they wait for ACK 0), and never again
        // by timer: the transfer times out silently.
        using (var options = new Peer(target))
        {
            options.Send(Rrq("big.bin", new TftpOptionSet(65464, 0, null, 64)));
            await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "timed out" && r.Peer == options.Local.ToString());
            await options.CollectAsync();
            Check("tftp RRQ with blksize 65464, tsize, windowsize 64 (OACK), never acknowledged", options, floor: 0);
            Assert.Equal(1, options.Datagrams);
        }

        // A plain RRQ: DATA 1 (512 bytes, the floor), once, then silence until the transfer gives up.
        using (var plain = new Peer(target))
        {
            plain.Send(Rrq("big.bin", default));
            await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "timed out" && r.Peer == plain.Local.ToString());
            await plain.CollectAsync();
            Check("tftp RRQ without options (DATA 1), never acknowledged", plain, TftpFloor);
            Assert.Equal(1, plain.Datagrams);
        }
    }

    [Fact]
    public async Task Tftp_errors_to_garbage_fit_within_three_times_the_garbage()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.tftp"], EphemeralPorts = true, Tftp = new TftpOptions { Root = SimHost.TempDirectory() } });
        var listener = server.Listeners.Single(l => l.Id == "udp/69");
        foreach (var (size, answered) in new[] { (1, false), (2, true), (4, true), (8, true) })
        {
            // 0xFF opcodes are no TFTP opcode: each datagram is malformed.
            using var peer = new Peer(server.EndPoint("udp/69"));
            var malformed = listener.Malformed;
            peer.Send(Enumerable.Repeat((byte)0xFF, size).ToArray());
            await server.WaitForRecordAsync(r => r.Verdict == "tftp-malformed" && r.Peer == peer.Local.ToString());
            await peer.CollectAsync(expected: answered);
            output.WriteLine($"tftp garbage of {size} bytes: {peer.Received} bytes in {peer.Datagrams} datagrams");
            Assert.True(peer.Received <= Factor * peer.Sent, $"{size} bytes of garbage drew {peer.Received}\n{peer.All}");
            Assert.Equal(answered ? 1 : 0, peer.Datagrams);
            Assert.Equal(malformed + 1, listener.Malformed);
        }
    }

    [Fact]
    public async Task H323_ras_answers_within_the_bound()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t7.ras"], EphemeralPorts = true });
        var target = server.EndPoint("udp/1719");
        foreach (var (what, exchange) in new (string, Func<IPEndPoint, Task>)[]
        {
            ("GRQ", t => H323Client.DiscoverAsync(t, TimeSpan.FromMilliseconds(200), attempts: 1)),
            ("RRQ", t => H323Client.RegisterAsync(t, [H225Alias.H323Id("g")], TimeSpan.FromMilliseconds(200), attempts: 1)),
            ("LRQ", t => H323Client.LocateAsync(t, "1", TimeSpan.FromMilliseconds(200), attempts: 1)),
        })
        {
            using var peer = new Peer(target);
            peer.Send(await CaptureAsync(exchange));
            await peer.CollectAsync();
            Check($"h225 ras {what}", peer, floor: 0);
            Assert.Equal(1, peer.Datagrams);
        }
    }

    [Fact]
    public async Task Mgcp_answers_within_the_bound()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t7.mgcp"], EphemeralPorts = true });
        var target = server.EndPoint("udp/2427");

        // RSIP draws the 200 and the call agent's AUEP; an unknown command its error.
        foreach (var (what, request) in new[]
        {
            ("RSIP (200 and AUEP)", "RSIP 9 a@g MGCP 1.0\r\nRM: restart\r\n"),
            ("unknown command (511)", "XXXX 10 a@g MGCP 1.0\r\n"),
        })
        {
            using var peer = new Peer(target);
            peer.Send(Encoding.ASCII.GetBytes(request));
            await peer.CollectAsync();
            Check($"mgcp {what}", peer, floor: 0);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Ike_answers_within_the_bound(int version)
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t7.ike"], EphemeralPorts = true });
        using var peer = new Peer(server.EndPoint("udp/500"));
        peer.Send(await CaptureAsync(t => IkeClient.ProbeAsync(t, version, TimeSpan.FromMilliseconds(200), attempts: 1)));
        await peer.CollectAsync();
        Check($"ike v{version}", peer, floor: 0);
        Assert.Equal(1, peer.Datagrams);
    }

    [Fact]
    public async Task Syslog_answers_nothing()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t1.syslog"], EphemeralPorts = true });
        using var peer = new Peer(server.EndPoint("udp/514"));
        peer.Send("<13>Dec  6 03:00:00 gw test: amplification"u8.ToArray());
        await server.WaitForRecordAsync(r => r.Listener == "udp/514" && r.Peer == peer.Local.ToString());
        await peer.CollectAsync(expected: false);
        Assert.Equal(0, peer.Received);
    }

    [Fact]
    public async Task Dhcp_offer_stays_within_the_rfc_2131_floor()
    {
        DhcpPool.TryParse("198.18.19.10-198.18.19.20", out var pool, out _);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.dhcp-server"], EphemeralPorts = true, Dhcp = new DhcpOptions { Pool = pool } });
        using var peer = new Peer(server.EndPoint("udp/67"));
        var discover = await CaptureAsync(async t =>
        {
            using var client = new DhcpRelayClient(t, [0x00, 0x1e, 0x7a, 0x00, 0x00, 0x42], IPAddress.Loopback);
            await client.DiscoverAsync(TimeSpan.FromMilliseconds(200));
        });
        peer.Send(discover);
        await peer.CollectAsync();
        Check("dhcp DISCOVER (OFFER)", peer, DhcpFloor);
        Assert.Equal(1, peer.Datagrams);
    }

    [Fact]
    public async Task Rtp_pool_and_opaque_ports_answer_no_more_than_they_get()
    {
        var profile = SimHost.WriteProfile("""{ "name": "amp-rtp", "extends": "cucm", "rtp": { "cucm": "11990-11991" } }""");
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = profile, Only = ["t6.rtp-to-cucm", "t8.ac-line-state"], EphemeralPorts = true });
        var rtpPort = server.Rtp!.ActualPort(11990);
        using var rtp = new Peer(new IPEndPoint(IPAddress.Loopback, rtpPort));
        var packet = new byte[172];
        packet[0] = 0x80;
        rtp.Send(packet);
        await rtp.CollectAsync();
        Check("rtp pool", rtp, floor: 0);

        using var opaque = new Peer(server.EndPoint("udp/3223"));
        opaque.Send(Encoding.ASCII.GetBytes("garbage that is not a probe"));
        await opaque.CollectAsync(expected: false);
        Assert.Equal(0, opaque.Received);
    }

    private void Check(string what, Peer peer, int floor)
    {
        var bound = Math.Max(Factor * peer.Sent, floor);
        output.WriteLine($"{what}: {peer.Received} bytes in {peer.Datagrams} datagrams for {peer.Sent} sent ({(double)peer.Received / peer.Sent:0.00}x; bound {bound})");
        Assert.True(peer.Received > 0, $"{what}: no answer at all");
        Assert.True(peer.Received <= bound, $"{what}: {peer.Received} bytes for {peer.Sent} (bound {bound})\n{peer.All}");
    }

    private static byte[] Rrq(string file, TftpOptionSet options)
    {
        var buffer = new byte[512];
        var n = TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, file, TftpMode.Octet, options);
        return buffer[..n];
    }

    /// <summary>The first datagram a protocol client sends: what a peer sends to the server, byte for byte.</summary>
    private static async Task<byte[]> CaptureAsync(Func<IPEndPoint, Task> client)
    {
        using var trap = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        trap.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var sending = client((IPEndPoint)trap.LocalEndPoint!);
        var buffer = new byte[65536];
        var n = await trap.ReceiveAsync(buffer).DefaultTimeout();
        await sending.DefaultTimeout();
        return buffer[..n];
    }

    /// <summary>A source that sends and never answers; counts what comes back, from any port (TFTP's come from new ones).</summary>
    private sealed class Peer : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly IPEndPoint _target;
        private readonly StringBuilder _all = new();

        public Peer(IPEndPoint target)
        {
            _target = target;
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        public IPEndPoint Local => (IPEndPoint)_socket.LocalEndPoint!;

        public long Sent { get; private set; }

        public long Received { get; private set; }

        public int Datagrams { get; private set; }

        public string First { get; private set; } = string.Empty;

        public string All => _all.ToString();

        public void Send(byte[] datagram)
        {
            _socket.SendTo(datagram, _target);
            Sent += datagram.Length;
        }

        public async Task ReceiveOneAsync()
        {
            var buffer = new byte[65536];
            Count(buffer, await _socket.ReceiveAsync(buffer).DefaultTimeout());
        }

        /// <summary>
        /// Everything that arrives until 300 ms pass without a datagram (at most 5 s): the answers still under way
        /// when the caller's end condition (a ledger record, or the send itself) was met. When an answer is
        /// <paramref name="expected"/>, the first one is awaited (with the test timeout) before the quiet window
        /// starts: on a busy machine the first answer can take longer than the window, and silence then is not the
        /// end of the answers.
        /// </summary>
        public async Task CollectAsync(bool expected = true)
        {
            if (expected)
            {
                await ReceiveOneAsync();
            }

            var buffer = new byte[65536];
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 10_000 && clock.Elapsed < TimeSpan.FromSeconds(5); i++)
            {
                using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    Count(buffer, await _socket.ReceiveAsync(buffer, SocketFlags.None, quiet.Token));
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        private void Count(byte[] buffer, int n)
        {
            Received += n;
            Datagrams++;
            var text = Encoding.ASCII.GetString(buffer, 0, Math.Min(n, 2000));
            if (Datagrams == 1)
            {
                First = text;
            }

            _all.Append(text).Append("\n----\n");
        }

        public void Dispose() => _socket.Dispose();
    }
}

using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using CucmSim.Clients.Load;
using CucmSim.Clients.Sccp;
using CucmSim.Clients.Sip;
using CucmSim.Load;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Sip;
using CucmSim.Tests.Infrastructure;
using CucmSim.Tests.Sip;

namespace CucmSim.Tests.Load;

/// <summary>The engine against the real serving host in-process (ephemeral ports), and the load phones against scripted peers.</summary>
public sealed partial class LoadEngineTests
{
    private static LoadPlan Plan(LoadProtocol protocol, int phones, double cps, double holdSeconds, long? calls = null, double? durationSeconds = null, bool media = true) => new()
    {
        Target = IPAddress.Loopback,
        Phones = phones,
        Protocol = protocol,
        RegisterRate = 200,
        CallsPerSecond = cps,
        Hold = TimeSpan.FromSeconds(holdSeconds),
        Calls = calls,
        Duration = durationSeconds is { } d ? TimeSpan.FromSeconds(d) : null,
        Media = media,
    };

    private static async Task<LoadReport> RunAsync(LoadPlan plan, LoadTargets targets, TimeSpan? refresh = null)
    {
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(3), Refresh = refresh });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.Equal(0, engine.Faults);
        return report;
    }

    [Fact]
    public async Task Calls_that_find_their_phone_still_in_a_call_are_the_generators_failures_and_the_summary_says_so()
    {
        // Five phones, five calls a second held 1 s: each phone's turn comes again after 1 s, while its call (1 s from
        // its answer, then the BYE) is still up. The plan passes the engine's check (phones >= cps x hold).
        await using var server = await SipTestSupport.StartAsync();
        var report = await RunAsync(Plan(LoadProtocol.Sip, phones: 5, cps: 5, holdSeconds: 1, calls: 10, media: false), new LoadTargets(null, server.EndPoint("udp/5060"), null, null));
        var busy = report.Failures.GetValueOrDefault("phone-busy");
        Assert.True(busy is >= 1 and <= 5, report.ToJson());
        Assert.Equal(10 - busy, report.Counters.CallsCompleted);
        Assert.Equal(10, report.Counters.CallsAttempted);

        using var summary = new StringWriter();
        LoadOutputs.Summary(report, 0.001, 1, summary);
        var note = Assert.Single(summary.ToString().Split('\n'), l => l.StartsWith("  note           phone-busy: ", StringComparison.Ordinal));
        Assert.Contains($"{busy} call attempts found their phone still in its previous call (each calling phone's turn comes about every 1 s)", note, StringComparison.Ordinal);
        Assert.Contains("the target is not at fault", note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LoadProtocol.SipTcp)]
    [InlineData(LoadProtocol.SipTls)]
    public async Task Sip_phones_over_tcp_and_tls_register_call_and_hang_up(LoadProtocol protocol)
    {
        await using var server = await SipTestSupport.StartAsync();
        var targets = new LoadTargets(null, null, server.EndPoint("tcp/5060"), server.EndPoint("tcp/5061"));
        var report = await RunAsync(Plan(protocol, phones: 8, cps: 4, holdSeconds: 1, calls: 6), targets, refresh: TimeSpan.FromSeconds(1));
        var c = report.Counters;
        Assert.True(c.RegistrationsSucceeded == 8, report.ToJson());
        Assert.Equal(6, c.CallsAttempted);
        Assert.Equal(6, c.CallsEstablished);
        Assert.Equal(6, c.CallsCompleted);
        Assert.Equal(6, c.MediaLegs);
        Assert.Equal(0, c.MediaLegsLost);
        Assert.True(c.Refreshes > 0, "no re-REGISTER in the run");
        Assert.True(c.RtpReceived > 6 * 40, $"{c.RtpReceived} RTP packets echoed");
        Assert.True(c.RtcpSent >= 6, $"{c.RtcpSent} RTCP reports");
        Assert.Empty(report.Failures);
        Assert.Equal(6, LoadHistograms.Decode(report.Histograms["setup-us"]).TotalCount);
        Assert.Equal(6, LoadHistograms.Decode(report.Histograms["mos-x100"]).TotalCount);
    }

    [Theory]
    [InlineData("s3cret", 0)]
    [InlineData("wrong", 4)]
    public async Task Sip_phones_answer_the_registration_and_invite_challenges_with_digest_credentials(string password, int failed)
    {
        await using var server = await SipTestSupport.StartAsync(new CucmSim.Serve.Sip.SipOptions { Password = "s3cret" });
        var targets = new LoadTargets(null, server.EndPoint("udp/5060"), null, null);
        var plan = Plan(LoadProtocol.Sip, phones: 4, cps: 4, holdSeconds: 0.5, calls: failed == 0 ? 2 : 0, media: false);
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(3), Refresh = TimeSpan.FromSeconds(1), SipPassword = password });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.Equal(0, engine.Faults);
        var c = report.Counters;
        Assert.True(c.RegistrationsSucceeded == 4 - failed, report.ToJson());
        Assert.Equal(failed, c.RegistrationsFailed);
        if (failed == 0)
        {
            // Re-REGISTERs reuse the nonce with a higher nonce count, and calls follow: serve challenges each INVITE
            // and each BYE too (as CUCM does a digest phone's), and the phones answer with credentials (a BYE left at
            // its 401 would end the call as "dropped-bye-401", a failure).
            Assert.True(c.Refreshes > 0, "no re-REGISTER in the run");
            Assert.Equal(0, c.RefreshesFailed);
            Assert.Equal(2, c.CallsCompleted);
            Assert.Empty(report.Failures);
        }
        else
        {
            // Wrong credentials: serve answers 403 (a server that challenges again ends in its 401 after two tries).
            Assert.Equal(failed, report.Failures.GetValueOrDefault("sip-403"));
        }
    }

    [Fact]
    public async Task Media_legs_spread_over_several_threads_are_each_measured()
    {
        // An echo of its own: every datagram back to its sender.
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var echoing = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (!stop.IsCancellationRequested)
            {
                var r = await echo.ReceiveFromAsync(buffer, from, stop.Token);
                await echo.SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint, stop.Token);
            }
        });

        var results = new List<MediaLegResult>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (var media = new LoadMedia(r => { lock (results) { results.Add(r); if (results.Count == 6) { done.TrySetResult(); } } }, TimeSpan.FromMilliseconds(200), lanes: 3))
        {
            Assert.Equal(3, media.Lanes);
            var legs = Enumerable.Range(0, 6).Select(_ => media.Open(IPAddress.Loopback) ?? throw new InvalidOperationException("no media ports")).ToList();
            foreach (var leg in legs)
            {
                leg.Start((IPEndPoint)echo.LocalEndPoint!, "echo");
            }

            // 25 packets a leg at 50 a second: wait for them by count, never by time.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (media.RtpReceived < 6 * 25 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            foreach (var leg in legs)
            {
                leg.Stop();
            }

            await done.Task.DefaultTimeout(TimeSpan.FromSeconds(10));
            Assert.Equal(0, media.Faults);
            Assert.Equal(media.RtpSent, results.Sum(r => r.Sent));
            Assert.Equal(media.RtpReceived, results.Sum(r => r.Received));
        }

        Assert.All(results, r => Assert.True(r.Sent >= 25 && r.Lost == 0 && r.RoundTripMs is not null, $"{r}"));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => echoing).DefaultTimeout();
    }

    /// <summary>The target of a protocol over TCP: SCCP, or SIP over TCP.</summary>
    private static LoadTargets OverTcp(LoadProtocol protocol, IPEndPoint target) =>
        protocol == LoadProtocol.Sccp ? new LoadTargets(target, null, null, null) : new LoadTargets(null, null, target, null);

    [Theory]
    [InlineData(LoadProtocol.Sccp)]
    [InlineData(LoadProtocol.SipTcp)]
    public async Task Phones_over_tcp_that_cannot_connect_fail_with_the_reason(LoadProtocol protocol)
    {
        // A closed port answers the SYN with a reset: bound, never listening, and held for the test (a port let go could
        // be taken by another test's listener).
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)closed.LocalEndPoint!).Port;
        var targets = OverTcp(protocol, new IPEndPoint(IPAddress.Loopback, port));
        var plan = Plan(protocol, phones: 5, cps: 10, holdSeconds: 0.1, calls: 0, media: false) with { RegisterRate = 1000 };
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(2) });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(30));
        Assert.Equal(0, engine.Faults);
        Assert.Equal(5, report.Counters.RegistrationsFailed);
        Assert.Equal(5, report.Failures.GetValueOrDefault("connect-connectionrefused"));
    }

    [Fact]
    public async Task An_sccp_phone_without_a_source_announces_the_address_of_its_connection()
    {
        // Over IPv6 loopback the address the kernel chose (::1) is not the IPv4 fallback of a phone that could not
        // read it: a phone the loop connected must ask the kernel, the runtime does not know the socket is bound.
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        var observer = new RecordingObserver();
        using var loop = new LoadLoop("test-signalling");
        var context = new LoadPhoneContext { Loop = loop, Observer = observer, Mode = LoadCallMode.PhoneToServer, SccpServer = (IPEndPoint)listener.LocalEndpoint, Timeout = TimeSpan.FromSeconds(3) };
        var plan = new LoadPlan { Target = IPAddress.IPv6Loopback, Protocol = LoadProtocol.Sccp, Duration = TimeSpan.FromSeconds(1) };
        var phone = new LoadSccpPhone(context, 4, plan.Phone(4).DeviceName, source: null);
        loop.Post(phone.Register);
        using var connection = await listener.AcceptSocketAsync().DefaultTimeout();
        var register = (SccpRegister)await new SccpPeer(connection).ExpectAsync(SccpMessageId.RegisterReq);
        Assert.Equal(IPAddress.IPv6Loopback, register.StationIPv6Address);
        Assert.Equal(IPAddress.Any, register.StationAddress);
        await loop.InvokeAsync(phone.Stop).DefaultTimeout();
    }

    [Fact]
    public async Task Media_is_marked_ef_and_signalling_cs3_as_cisco_phones_mark_them_and_tshark_reads_it()
    {
        // Everything from an address of its own, so that the capture holds this test's packets alone.
        var source = IPAddress.Parse("127.0.83.4");
        var file = Path.Combine(SimHost.TempDirectory(), "dscp.pcapng");
        using var tshark = await TsharkCapture.StartAsync("src host 127.0.83.4", file);
        using var sipSink = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sipSink.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var rtpSink = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rtpSink.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        // SCCP and SIP over TCP: the phone's TCP socket; SIP over UDP: a phone's REGISTER.
        using (var tcp = LoadPhones.TcpSocket((IPEndPoint)listener.LocalEndpoint, source))
        {
            await tcp.ConnectAsync(listener.LocalEndpoint).DefaultTimeout();
            using var accepted = await listener.AcceptSocketAsync().DefaultTimeout();
            tcp.Send(new byte[12]);
            Assert.Equal(12, await accepted.ReceiveAsync(new byte[64]).DefaultTimeout());
        }

        using var loop = new LoadLoop("test-signalling");
        var context = new LoadPhoneContext { Loop = loop, Observer = new RecordingObserver(), Mode = LoadCallMode.PhoneToServer, SipUdpServer = (IPEndPoint)sipSink.LocalEndPoint!, Timeout = TimeSpan.FromSeconds(3) };
        var phone = new LoadSipPhone(context, 9, "100009", source, LoadSipTransport.Udp);
        loop.Post(phone.Register);
        Assert.True(sipSink.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "no REGISTER");
        await loop.InvokeAsync(phone.Stop).DefaultTimeout();

        // Media: a leg's RTP and RTCP.
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (var media = new LoadMedia(_ => ended.TrySetResult(), TimeSpan.FromMilliseconds(50), lanes: 1))
        {
            var leg = media.Open(source) ?? throw new InvalidOperationException("no media ports");
            leg.Start((IPEndPoint)rtpSink.LocalEndPoint!, "echo");
            var buffer = new byte[2048];
            for (var i = 0; i < 3; i++)
            {
                Assert.True(rtpSink.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "no RTP");
                rtpSink.Receive(buffer);
            }

            leg.Stop();
            await ended.Task.DefaultTimeout();
        }

        // At least: the TCP handshake's two and the data, one REGISTER, three RTP packets and an RTCP report.
        await tshark.WaitForLinesAsync(_ => true, 8);
        await tshark.StopAsync().DefaultTimeout();
        var read = await ExternalTool.RunAsync("tshark", ["-r", file, "-T", "fields", "-E", "separator=|", "-e", "ip.proto", "-e", "udp.dstport", "-e", "ip.dsfield.dscp", "-e", "ip.flags.df", "-e", "ip.id"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(read.ExitCode == 0, read.All);
        var packets = read.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|')).ToList();
        var sipPort = ((IPEndPoint)sipSink.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tcpPackets = packets.Where(p => p[0] == "6").ToList();
        var sip = packets.Where(p => p[0] == "17" && p[1] == sipPort).ToList();
        var rtp = packets.Where(p => p[0] == "17" && p[1] != sipPort).ToList();
        Assert.True(tcpPackets.Count >= 3 && sip.Count >= 1 && rtp.Count >= 2, read.Stdout);
        Assert.All(tcpPackets.Concat(sip), p => Assert.Equal("24", p[2]));             // CS3
        Assert.All(rtp, p => Assert.Equal(("46", "1", "0x0000"), (p[2], p[3], p[4]))); // EF, DF and no IP ID
    }

    [Fact]
    public async Task A_phone_socket_bound_to_a_source_leaves_its_port_to_the_connect()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = (IPEndPoint)listener.LocalEndpoint;
        var source = IPAddress.Parse("127.0.0.3");
        using var socket = LoadPhones.TcpSocket(server, source);
        var option = new byte[4];
        Assert.Equal(4, socket.GetRawSocketOption(0, 24, option));
        Assert.Equal(1, BitConverter.ToInt32(option)); // IP_BIND_ADDRESS_NO_PORT
        Assert.True(socket.NoDelay);

        // The local end point is read only after the connect, as the SIP phones over TCP do: it then has the port.
        await socket.ConnectAsync(server).DefaultTimeout();
        using var accepted = await listener.AcceptSocketAsync().DefaultTimeout();
        var local = (IPEndPoint)socket.LocalEndPoint!;
        Assert.Equal(source, local.Address);
        Assert.NotEqual(0, local.Port);
        Assert.Equal(local, accepted.RemoteEndPoint);
    }

    [Theory]
    [InlineData(LoadProtocol.Sccp)]
    [InlineData(LoadProtocol.SipTcp)]
    public async Task Phones_over_tcp_whose_connect_hangs_time_out_connecting(LoadProtocol protocol)
    {
        // A listener that never accepts, with an accept queue of 1: the kernel completes a connection or two into
        // the queue and drops the other SYNs, so those connects stay in progress until the phones give up.
        using var full = new TcpListener(IPAddress.Loopback, 0);
        full.Start(1);
        var targets = OverTcp(protocol, (IPEndPoint)full.LocalEndpoint);
        var plan = Plan(protocol, phones: 10, cps: 10, holdSeconds: 0.1, calls: 0, media: false) with { RegisterRate = 1000 };
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(1) });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(30));
        Assert.Equal(0, engine.Faults);
        Assert.Equal(10, report.Counters.RegistrationsFailed);
        var connecting = report.Failures.GetValueOrDefault("timeout-connect");
        var registering = report.Failures.GetValueOrDefault("timeout-register");
        Assert.True(connecting >= 7 && connecting + registering == 10, string.Join(", ", report.Failures));
    }

    [Theory]
    [InlineData(3, 3)]
    [InlineData(0, 10)]
    public async Task Registrations_in_flight_stay_within_the_cap(int cap, int peak)
    {
        // A target that takes connections and never answers: every registration stays in flight until its timeout.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(100);
        var targets = new LoadTargets((IPEndPoint)silent.LocalEndpoint, null, null, null);
        var plan = Plan(LoadProtocol.Sccp, phones: 10, cps: 10, holdSeconds: 0.1, calls: 0, media: false) with { RegisterRate = 1000, MaxPending = cap };
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(1) });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(30));
        Assert.Equal(peak, engine.PeakPendingRegistrations);
        Assert.Equal(0, report.Counters.RegistrationsSucceeded);
        Assert.InRange(report.Counters.RegistrationsAttempted, peak, 10);
        Assert.InRange(report.Counters.RegistrationsAttempted - report.Counters.RegistrationsFailed, 0, peak);
    }

    [Fact]
    public async Task The_call_rate_rises_over_the_ramp_up_and_falls_over_the_ramp_down()
    {
        await using var server = await SipTestSupport.StartAsync();
        var targets = new LoadTargets(null, server.EndPoint("udp/5060"), null, null);
        var plan = Plan(LoadProtocol.Sip, phones: 100, cps: 20, holdSeconds: 0.1, durationSeconds: 6, media: false) with
        {
            RampUp = TimeSpan.FromSeconds(3),
            RampDown = TimeSpan.FromSeconds(3),
        };
        var report = await RunAsync(plan, targets);
        var schedule = new LoadSchedule(plan);
        Assert.Equal(schedule.TotalCalls, report.Counters.CallsAttempted);
        Assert.Equal(report.Counters.CallsAttempted, report.Counters.CallsEstablished);

        // Calls per interval: 0.5 s registering, 1 s settling, then 6 s of calls peaking in the middle.
        var perSecond = report.Timeline.Select(i => i.Counters.CallsAttempted).ToList();
        var peak = perSecond.IndexOf(perSecond.Max());
        Assert.InRange(peak, 3, 6);
        Assert.True(perSecond[2] < perSecond[peak] && perSecond[peak] > perSecond[^1], string.Join(",", perSecond));
        Assert.True(perSecond.Take(peak + 1).Zip(perSecond.Skip(1).Take(peak)).Count(p => p.Second < p.First) <= 1, "the ramp up does not rise: " + string.Join(",", perSecond));
    }

    [Fact]
    public async Task Sip_phones_call_each_other_through_a_server_that_challenges_their_invites()
    {
        // Phone to phone: each caller's INVITE is challenged and sent again with credentials, then put through to the
        // callee as a new INVITE of serve's own (no credentials relayed); media flows between the phones.
        await using var server = await SipTestSupport.StartAsync(new CucmSim.Serve.Sip.SipOptions { Password = "s3cret" });
        var targets = new LoadTargets(null, server.EndPoint("udp/5060"), null, null);
        var plan = Plan(LoadProtocol.Sip, phones: 4, cps: 4, holdSeconds: 0.5, calls: 2) with { Mode = CallMode.PhoneToPhone, Callers = 2 };
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(3), SipPassword = "s3cret" });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.Equal(0, engine.Faults);
        var c = report.Counters;
        Assert.True(c.CallsCompleted == 2 && c.CallsAnswered == 2 && c.MediaLegs == 4 && c.MediaLegsLost == 0, report.ToJson());
        Assert.Empty(report.Failures);
    }

    /// <summary>
    /// SIPp as the server (a UAS scenario of its own): REGISTER answered, the INVITE and the BYE each challenged with a
    /// 401, and SIPp's own digest check (verifyauth) of the credentials that come back; a failed check answers 403.
    /// </summary>
    private const string SippChallengingUas = """
        <?xml version="1.0" encoding="ISO-8859-1" ?>
        <scenario name="uas with digest">
          <recv request="REGISTER" optional="true" next="register"/>
          <recv request="INVITE"/>
          <send><![CDATA[

              SIP/2.0 401 Unauthorized
              [last_Via:]
              [last_From:]
              [last_To:];tag=[pid]uas[call_number]
              [last_Call-ID:]
              [last_CSeq:]
              WWW-Authenticate: Digest realm="sipp", nonce="n0nce1", qop="auth", algorithm=MD5
              Content-Length: 0

            ]]></send>
          <recv request="ACK"/>
          <recv request="INVITE">
            <action><verifyauth assign_to="invite_ok" username="100000" password="s3cret"/></action>
          </recv>
          <nop hide="true" test="invite_ok" next="answer"/>
          <send><![CDATA[

              SIP/2.0 403 Forbidden
              [last_Via:]
              [last_From:]
              [last_To:];tag=[pid]uas[call_number]
              [last_Call-ID:]
              [last_CSeq:]
              Content-Length: 0

            ]]></send>
          <recv request="ACK" next="end"/>
          <label id="answer"/>
          <send><![CDATA[

              SIP/2.0 200 OK
              [last_Via:]
              [last_From:]
              [last_To:];tag=[pid]uas[call_number]
              [last_Call-ID:]
              [last_CSeq:]
              Contact: <sip:sipp@[local_ip]:[local_port]>
              Content-Type: application/sdp
              Content-Length: [len]

              v=0
              o=sipp 1 1 IN IP4 [local_ip]
              s=-
              c=IN IP4 [local_ip]
              t=0 0
              m=audio 9 RTP/AVP 0

            ]]></send>
          <recv request="ACK"/>
          <recv request="BYE"/>
          <send><![CDATA[

              SIP/2.0 401 Unauthorized
              [last_Via:]
              [last_From:]
              [last_To:]
              [last_Call-ID:]
              [last_CSeq:]
              WWW-Authenticate: Digest realm="sipp", nonce="n0nce2", qop="auth", algorithm=MD5
              Content-Length: 0

            ]]></send>
          <recv request="BYE">
            <action><verifyauth assign_to="bye_ok" username="100000" password="s3cret"/></action>
          </recv>
          <nop hide="true" test="bye_ok" next="bye_answer"/>
          <send next="end"><![CDATA[

              SIP/2.0 403 Forbidden
              [last_Via:]
              [last_From:]
              [last_To:]
              [last_Call-ID:]
              [last_CSeq:]
              Content-Length: 0

            ]]></send>
          <label id="bye_answer"/>
          <send next="end"><![CDATA[

              SIP/2.0 200 OK
              [last_Via:]
              [last_From:]
              [last_To:]
              [last_Call-ID:]
              [last_CSeq:]
              Content-Length: 0

            ]]></send>
          <label id="register"/>
          <send><![CDATA[

              SIP/2.0 200 OK
              [last_Via:]
              [last_From:]
              [last_To:];tag=[pid]reg[call_number]
              [last_Call-ID:]
              [last_CSeq:]
              [last_Contact:]
              Expires: 600
              Content-Length: 0

            ]]></send>
          <label id="end"/>
        </scenario>
        """;

    [Fact]
    public async Task A_sip_phone_answers_sipps_challenges_to_its_invite_and_its_bye()
    {
        // SIPp on a loopback address of its own; it ends after two transactions' calls: the REGISTER and the call.
        var sipp = UniqueLoopback.FreeUdp(205);
        var scenario = SipTestSupport.Scenario(SippChallengingUas);
        var uas = ExternalTool.RunAsync("sipp", ["-sf", scenario, "-i", sipp.Address.ToString(), "-p", sipp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-m", "2", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-error_file", Path.ChangeExtension(scenario, ".errors")], TimeSpan.FromSeconds(40));
        var targets = new LoadTargets(null, sipp, null, null);
        var plan = Plan(LoadProtocol.Sip, phones: 1, cps: 1, holdSeconds: 0.3, calls: 1, media: false);
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(3), Refresh = TimeSpan.FromSeconds(300), SipPassword = "s3cret" });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        var result = await uas.DefaultTimeout(TimeSpan.FromSeconds(45));

        // SIPp's verifyauth accepted both answers (a failed check answers 403: the call would fail, or its BYE drop).
        Assert.True(report.Counters.CallsCompleted == 1 && report.Failures.Count == 0, report.ToJson() + "\n" + result.All);
        Assert.True(result.ExitCode == 0, result.All);
    }

    [Fact]
    public async Task A_sip_phone_acks_a_407_to_its_invite_and_sends_it_and_its_bye_again_with_proxy_credentials()
    {
        await using var peer = new ScriptedSipServer(proxyChallenge: true);
        var targets = new LoadTargets(null, peer.EndPoint, null, null);
        var plan = Plan(LoadProtocol.Sip, phones: 2, cps: 2, holdSeconds: 0.3, calls: 1, media: false);
        using var engine = new LoadEngine(plan, ShardSpec.Whole, targets, new LoadRunOptions { Timeout = TimeSpan.FromSeconds(3), SipPassword = "pw" });
        var report = await engine.RunAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.Equal(0, engine.Faults);
        Assert.True(report.Counters.CallsCompleted == 1 && report.Failures.Count == 0, report.ToJson());

        string Header(string message, string name) => Regex.Match(message, $@"^{name}: ([^\r]*)\r", RegexOptions.Multiline).Groups[1].Value;
        // Retransmissions (UDP, 500 ms on) are the same bytes again: each request once.
        var call = peer.Requests.Where(r => !r.StartsWith("REGISTER", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        Assert.True(call.Count == 6, string.Join("\n----\n", call));
        var (first, ack, second, answered, bye, byeAgain) = (call[0], call[1], call[2], call[3], call[4], call[5]);
        Assert.StartsWith("INVITE ", first, StringComparison.Ordinal);
        Assert.Equal("1 INVITE", Header(first, "CSeq"));
        Assert.DoesNotContain("Authorization", first, StringComparison.Ordinal);

        // The 407 ends the first INVITE's transaction: its ACK has the INVITE's branch and CSeq, and the 407's To tag.
        Assert.StartsWith("ACK ", ack, StringComparison.Ordinal);
        Assert.Equal(Header(first, "Via"), Header(ack, "Via"));
        Assert.Equal("1 ACK", Header(ack, "CSeq"));
        Assert.EndsWith(";tag=scripted", Header(ack, "To"), StringComparison.Ordinal);

        // The INVITE again: a new branch, the next CSeq, the same Call-ID and SDP, and credentials for the challenge.
        Assert.StartsWith("INVITE ", second, StringComparison.Ordinal);
        Assert.Equal("2 INVITE", Header(second, "CSeq"));
        Assert.NotEqual(Header(first, "Via"), Header(second, "Via"));
        Assert.Equal(Header(first, "Call-ID"), Header(second, "Call-ID"));
        Assert.Equal(first[first.IndexOf("\r\n\r\n", StringComparison.Ordinal)..], second[second.IndexOf("\r\n\r\n", StringComparison.Ordinal)..]);
        var uri = second[7..second.IndexOf(" SIP/2.0", StringComparison.Ordinal)];
        void AssertCredentials(string request, string method)
        {
            var credentials = SipDigest.ParseChallengeOrCredentials(Encoding.ASCII.GetBytes(Header(request, "Proxy-Authorization")));
            Assert.NotNull(credentials);
            Assert.Equal(("scripted", "n0nce", uri, "auth"), (credentials["realm"], credentials["nonce"], credentials["uri"], credentials["qop"]));
            var expected = SipDigest.Response(credentials["username"], "scripted", "pw", method, uri, "n0nce", "auth", credentials["nc"], credentials["cnonce"]);
            Assert.Equal(expected, credentials["response"]);
        }

        AssertCredentials(second, "INVITE");

        // The dialog goes on from the answered INVITE: its 200's ACK carries its CSeq, the BYE's is above it.
        Assert.StartsWith("ACK ", answered, StringComparison.Ordinal);
        Assert.Equal("2 ACK", Header(answered, "CSeq"));
        Assert.StartsWith("BYE ", bye, StringComparison.Ordinal);
        Assert.Equal("3 BYE", Header(bye, "CSeq"));
        Assert.DoesNotContain("Authorization", bye, StringComparison.Ordinal);

        // The BYE is challenged too: again with credentials for BYE, the next CSeq, a new branch.
        Assert.StartsWith("BYE ", byeAgain, StringComparison.Ordinal);
        Assert.Equal("4 BYE", Header(byeAgain, "CSeq"));
        Assert.NotEqual(Header(bye, "Via"), Header(byeAgain, "Via"));
        AssertCredentials(byeAgain, "BYE");
    }

    [Fact]
    public async Task Media_the_server_does_not_echo_is_reported_lost_by_leg()
    {
        await using var peer = new ScriptedSipServer();
        var targets = new LoadTargets(null, peer.EndPoint, null, null);
        var report = await RunAsync(Plan(LoadProtocol.Sip, phones: 6, cps: 3, holdSeconds: 1, calls: 4), targets);
        var c = report.Counters;
        Assert.Equal(4, c.CallsEstablished);
        Assert.Equal(4, c.MediaLegs);
        Assert.Equal(4, c.MediaLegsLost);
        Assert.Equal(4, report.LostLegs["echo"]);
        Assert.Equal(4, report.Failures["media-lost"]);
        Assert.Equal(0, c.RtpReceived);
        Assert.True(c.RtpSent >= 4 * 40);
        Assert.True(peer.RtpArrived >= 4 * 40, $"{peer.RtpArrived} RTP packets reached the silent port");
        var loss = LoadHistograms.Decode(report.Histograms["loss-ppm"]);
        Assert.Equal(4, loss.TotalCount);
        Assert.InRange(loss.GetValueAtPercentile(0), 995_000, 1_005_000); // 100 %, within the histogram's 3 digits
    }

    [Fact]
    public async Task A_sip_phone_answers_a_call_put_through_to_it_and_sends_media_to_the_caller()
    {
        await using var peer = new ScriptedSipServer(answerRegisterOnly: true);
        var observer = new RecordingObserver();
        var legs = new List<MediaLegResult>();
        using var media = new LoadMedia(r => { lock (legs) { legs.Add(r); } }, TimeSpan.FromMilliseconds(100));
        using var loop = new LoadLoop("test-signalling");
        var context = new LoadPhoneContext { Loop = loop, Media = media, Observer = observer, Mode = LoadCallMode.PhoneToPhone, SipUdpServer = peer.EndPoint, Timeout = TimeSpan.FromSeconds(3) };
        var phone = new LoadSipPhone(context, 7, "100007", IPAddress.Loopback, LoadSipTransport.Udp);
        loop.Post(phone.Register);
        var contact = await peer.RegisteredAsync.DefaultTimeout();
        await observer.WaitAsync(o => o.Registered == 1);

        using var rtp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rtp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rtpPort = ((IPEndPoint)rtp.LocalEndPoint!).Port;
        var sdp = $"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtpPort} RTP/AVP 0\r\n";
        var invite = $"INVITE sip:100007@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.EndPoint.Port};branch=z9hG4bKcallee1\r\nFrom: <sip:100001@127.0.0.1>;tag=caller\r\nTo: <sip:100007@127.0.0.1>\r\nCall-ID: relay-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {sdp.Length}\r\n\r\n{sdp}";
        await peer.SendAsync(invite, contact);
        var ok = await peer.ResponseAsync("INVITE").DefaultTimeout();
        Assert.StartsWith("SIP/2.0 200", ok, StringComparison.Ordinal);
        var toTag = Regex.Match(ok, @"To: [^\r]*;tag=(\w+)").Groups[1].Value;
        Assert.NotEmpty(toTag);
        var phoneRtpPort = int.Parse(Regex.Match(ok, @"m=audio (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, phoneRtpPort % 2);
        await peer.SendAsync($"ACK sip:100007@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.EndPoint.Port};branch=z9hG4bKcallee2\r\nFrom: <sip:100001@127.0.0.1>;tag=caller\r\nTo: <sip:100007@127.0.0.1>;tag={toTag}\r\nCall-ID: relay-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", contact);

        // The callee's RTP reaches the caller's address from the INVITE; the caller's reaches the callee.
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var got = await rtp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        Assert.Equal(172, got.ReceivedBytes);
        var packet = new byte[172];
        packet[0] = 0x80;
        for (var i = 0; i < 25; i++)
        {
            packet[3] = (byte)i;
            packet[7] = (byte)(i * 160);
            packet[6] = (byte)((i * 160) >> 8);
            await rtp.SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, phoneRtpPort));
        }

        await peer.SendAsync($"BYE sip:100007@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.EndPoint.Port};branch=z9hG4bKcallee3\r\nFrom: <sip:100001@127.0.0.1>;tag=caller\r\nTo: <sip:100007@127.0.0.1>;tag={toTag}\r\nCall-ID: relay-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", contact);
        Assert.StartsWith("SIP/2.0 200", await peer.ResponseAsync("BYE").DefaultTimeout(), StringComparison.Ordinal);
        await observer.WaitAsync(_ => { lock (legs) { return legs.Count == 1; } });
        Assert.Equal(1, observer.Answered);
        var leg = legs.Single();
        Assert.Equal("caller-to-callee", leg.Name);
        Assert.Equal(25, leg.Received);
        Assert.Equal(0, leg.Lost);
    }

    [Fact]
    public async Task An_sccp_phone_answers_a_ringing_line_and_opens_media_where_the_server_says()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var observer = new RecordingObserver();
        var legs = new List<MediaLegResult>();
        using var media = new LoadMedia(r => { lock (legs) { legs.Add(r); } }, TimeSpan.FromMilliseconds(100));
        using var loop = new LoadLoop("test-signalling");
        var context = new LoadPhoneContext { Loop = loop, Media = media, Observer = observer, Mode = LoadCallMode.PhoneToPhone, SccpServer = (IPEndPoint)listener.LocalEndpoint, Timeout = TimeSpan.FromSeconds(3) };
        var plan = new LoadPlan { Target = IPAddress.Loopback, Protocol = LoadProtocol.Sccp, Duration = TimeSpan.FromSeconds(1) };
        var phone = new LoadSccpPhone(context, 3, plan.Phone(3).DeviceName, IPAddress.Loopback);
        loop.Post(phone.Register);
        using var connection = await listener.AcceptSocketAsync().DefaultTimeout();
        var server = new SccpPeer(connection);
        var register = (SccpRegister)await server.ExpectAsync(SccpMessageId.RegisterReq);
        Assert.Equal(plan.Phone(3).DeviceName, register.DeviceName);
        await server.SendAsync(new SccpRegisterAck { MaxProtocolVersion = 17, KeepAliveInterval = 30 }, 0);
        server.Version = SccpFraming.HeaderVersionFor(17);
        await server.SendAsync(SccpEmpty.CapabilitiesReq);
        await server.ExpectAsync(SccpMessageId.CapabilitiesRes);
        await observer.WaitAsync(o => o.Registered == 1);

        await server.SendAsync(new SccpCallState(LoadSccpPhone.RingIn, 1, 77));
        var off = (SccpHook)await server.ExpectAsync(SccpMessageId.OffHook);
        Assert.Equal(77u, off.CallReference);
        await server.SendAsync(new SccpOpenReceiveChannel { ConferenceId = 77, PassThroughPartyId = 500, CallReference = 77, SourceAddress = IPAddress.Loopback, SourcePort = 9 });
        var ack = (SccpOpenReceiveChannelAck)await server.ExpectAsync(SccpMessageId.OpenReceiveChannelAck);
        Assert.Equal(0u, ack.Status);
        Assert.Equal(IPAddress.Loopback, ack.Address);
        using var rtp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rtp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await server.SendAsync(new SccpStartMediaTransmission { ConferenceId = 77, PassThroughPartyId = 500, CallReference = 77, RemoteAddress = IPAddress.Loopback, RemotePort = (uint)((IPEndPoint)rtp.LocalEndPoint!).Port });
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        Assert.Equal(172, (await rtp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token)).ReceivedBytes);
        var packet = new byte[172];
        packet[0] = 0x80;
        for (var i = 0; i < 10; i++)
        {
            packet[3] = (byte)i;
            await rtp.SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, (int)ack.Port));
        }

        await server.SendAsync(new SccpMediaStop(SccpMessageId.CloseReceiveChannel, 77, 500, 77));
        await server.SendAsync(new SccpCallState(SccpCallState.OnHook, 1, 77));
        await observer.WaitAsync(_ => { lock (legs) { return legs.Count == 1; } });
        Assert.Equal(1, observer.Answered);
        Assert.Equal("caller-to-callee", legs[0].Name);
        Assert.Equal(10, legs[0].Received);
        Assert.False(phone.InCall);
    }

    /// <summary>Counts what phones tell, from the loop's thread; tests wait on it.</summary>
    private sealed class RecordingObserver : ILoadObserver
    {
        private readonly Lock _lock = new();

        public int Registered { get; private set; }

        public int Answered { get; private set; }

        public List<string> Failures { get; } = [];

        public async Task WaitAsync(Func<RecordingObserver, bool> done)
        {
            for (var i = 0; i < 500; i++)
            {
                lock (_lock)
                {
                    if (done(this))
                    {
                        return;
                    }
                }

                await Task.Delay(10);
            }

            throw new TimeoutException("the phone did not get there: " + string.Join(", ", Failures));
        }

        private void Do(Action action)
        {
            lock (_lock)
            {
                action();
            }
        }

        public void RegisterAttempted(int phone) { }

        void ILoadObserver.Registered(int phone, long delayTicks) => Do(() => Registered++);

        public void RegisterFailed(int phone, string reason) => Do(() => Failures.Add(reason));

        public void Unregistered(int phone, string reason) => Do(() => Failures.Add("lost-" + reason));

        public void Refreshed(int phone, bool ok, string? reason) { }

        public void CallAttempted(int phone) { }

        public void CallEstablished(int phone, long setupTicks) { }

        public void CallFailed(int phone, string reason) => Do(() => Failures.Add(reason));

        public void CallCompleted(int phone) { }

        public void CallDropped(int phone, string reason) => Do(() => Failures.Add("dropped-" + reason));

        public void CallAnswered(int phone) => Do(() => Answered++);
    }

    /// <summary>An SCCP server played by the test: frames in and out on one connection.</summary>
    private sealed class SccpPeer(Socket socket)
    {
        private byte[] _pending = [];

        public uint Version { get; set; }

        public async Task SendAsync(SccpMessage message, uint? version = null) =>
            await socket.SendAsync(SccpCodec.Encode(message, version ?? Version)).DefaultTimeout();

        public async Task<SccpMessage> ExpectAsync(uint id)
        {
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            for (var i = 0; i < 100; i++)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_pending));
                while (SccpCodec.TryRead(ref reader, SccpFraming.DefaultMaxDataLength, out _, out var message) == OperationStatus.Done)
                {
                    _pending = reader.UnreadSequence.ToArray();
                    if (message?.Id == id)
                    {
                        return message;
                    }

                    reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_pending));
                }

                var n = await socket.ReceiveAsync(buffer, cts.Token);
                Assert.True(n > 0, "the phone closed the connection");
                _pending = [.. _pending, .. buffer.AsSpan(0, n)];
            }

            throw new TimeoutException($"no SCCP message 0x{id:X4}");
        }
    }
}

/// <summary>
/// A SIP server played by the test over UDP: it answers REGISTER, and (unless told not to) answers INVITE with a 200
/// whose SDP points at a port that receives but never echoes, and BYE with a 200.
/// </summary>
internal sealed class ScriptedSipServer : IAsyncDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _silent = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<IPEndPoint> _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Threading.Channels.Channel<string> _responses = System.Threading.Channels.Channel.CreateUnbounded<string>();
    private readonly bool _answerRegisterOnly;
    private readonly bool _proxyChallenge;
    private readonly Task _receive;
    private readonly Task _drain;
    private int _rtp;

    /// <param name="answerRegisterOnly">INVITE and BYE go unanswered.</param>
    /// <param name="proxyChallenge">an INVITE or BYE without Proxy-Authorization gets a 407 (realm "scripted", nonce "n0nce", qop auth), as a proxy asks.</param>
    public ScriptedSipServer(bool answerRegisterOnly = false, bool proxyChallenge = false)
    {
        _answerRegisterOnly = answerRegisterOnly;
        _proxyChallenge = proxyChallenge;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _receive = Task.Run(ReceiveAsync);
        _drain = Task.Run(DrainAsync);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public int RtpArrived => Volatile.Read(ref _rtp);

    /// <summary>The address the first REGISTER came from (the phone's contact).</summary>
    public Task<IPEndPoint> RegisteredAsync => _registered.Task;

    /// <summary>Every request that arrived, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Requests { get; } = new();

    public Task SendAsync(string text, IPEndPoint to) => _socket.SendToAsync(Encoding.ASCII.GetBytes(text), to);

    /// <summary>The next response to a request of <paramref name="method"/> the test sent.</summary>
    public async Task<string> ResponseAsync(string method)
    {
        await foreach (var response in _responses.Reader.ReadAllAsync())
        {
            if (Regex.IsMatch(response, $@"CSeq: \d+ {method}\r"))
            {
                return response;
            }
        }

        throw new InvalidOperationException("no more responses");
    }

    private async Task DrainAsync()
    {
        var buffer = new byte[2048];
        try
        {
            while (true)
            {
                await _silent.ReceiveAsync(buffer, _stop.Token);
                Interlocked.Increment(ref _rtp);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var got = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var text = Encoding.ASCII.GetString(buffer, 0, got.ReceivedBytes);
                var from = (IPEndPoint)got.RemoteEndPoint;
                if (text.StartsWith("SIP/2.0", StringComparison.Ordinal))
                {
                    await _responses.Writer.WriteAsync(text);
                    continue;
                }

                var method = text[..text.IndexOf(' ', StringComparison.Ordinal)];
                Requests.Enqueue(text);
                if (_proxyChallenge && method is "INVITE" or "BYE" && !text.Contains("\r\nProxy-Authorization: ", StringComparison.Ordinal))
                {
                    await SendAsync(Response(text, "407 Proxy Authentication Required", null, "Proxy-Authenticate: Digest realm=\"scripted\", nonce=\"n0nce\", qop=\"auth\", algorithm=MD5\r\n"), from);
                }
                else if (method == "REGISTER")
                {
                    _registered.TrySetResult(from);
                    await SendAsync(Response(text, "200 OK", null), from);
                }
                else if (!_answerRegisterOnly && method == "INVITE")
                {
                    var sdp = $"v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {((IPEndPoint)_silent.LocalEndPoint!).Port} RTP/AVP 0\r\n";
                    await SendAsync(Response(text, "200 OK", sdp), from);
                }
                else if (!_answerRegisterOnly && method == "BYE")
                {
                    await SendAsync(Response(text, "200 OK", null), from);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Response(string request, string status, string? sdp, string? extra = null)
    {
        string Header(string name) => Regex.Match(request, $@"^{name}: ([^\r]*)\r", RegexOptions.Multiline).Groups[1].Value;
        var to = Header("To");
        var text = new StringBuilder($"SIP/2.0 {status}\r\nVia: {Header("Via")}\r\nFrom: {Header("From")}\r\nTo: {to}{(to.Contains("tag=", StringComparison.Ordinal) ? string.Empty : ";tag=scripted")}\r\nCall-ID: {Header("Call-ID")}\r\nCSeq: {Header("CSeq")}\r\n{extra}");
        text.Append(sdp is null ? "Content-Length: 0\r\n\r\n" : $"Content-Type: application/sdp\r\nContent-Length: {sdp.Length}\r\n\r\n{sdp}");
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_receive, _drain).DefaultTimeout();
        _socket.Dispose();
        _silent.Dispose();
        _stop.Dispose();
    }
}

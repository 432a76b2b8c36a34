using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Serve;
using CucmSim.Serve.Sip;
using CucmSim.Tests.Infrastructure;
using static CucmSim.Tests.Sip.SipTestSupport;

namespace CucmSim.Tests.Sip;

/// <summary>Phone to phone: one SIPp registers and answers as the callee, another registers and calls its number through serve.</summary>
public sealed class SipRoutingTests
{
    private const string Caller = "300001";
    private const string Callee = "300002";

    [Fact]
    public async Task A_call_between_two_registered_sipp_phones_is_relayed_with_the_sdp_unchanged_and_media_flows_between_them()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        await using var callee = await SippPhone.RegisterAsync(target, Callee);
        var calleeRun = callee.RunAsync(CalleeScenario("answer"), rtpEcho: true);

        // The caller's SDP names a socket of the test: RTP to the callee's SDP address comes back from SIPp's echo.
        using var media = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        media.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var mediaPort = ((IPEndPoint)media.LocalEndPoint!).Port;
        await using var caller = await SippPhone.RegisterAsync(target, Caller);
        var callerRun = caller.RunAsync(CallerScenario(Callee, "answer", mediaPort));

        // RTP from the caller's media socket to the callee's media port, while the callee's SIPp runs (until the BYE).
        var echoes = await EchoesAsync(media, new IPEndPoint(callee.Address, callee.MediaPort));
        var callerResult = await callerRun.DefaultTimeout(TimeSpan.FromSeconds(40));
        var calleeResult = await calleeRun.DefaultTimeout(TimeSpan.FromSeconds(40));
        Assert.True(callerResult.ExitCode == 0, callerResult.All);
        Assert.True(calleeResult.ExitCode == 0, calleeResult.All);
        var answered = await server.WaitForRecordAsync(r => r.Kind == "sip-route");
        Assert.Equal("completed-by-caller", answered.Verdict);
        Assert.Equal((Caller, Callee, "200"), (answered.Detail!["caller"], answered.Detail["callee"], answered.Detail["status"]));
        Assert.Equal($"{callee.Address}:{callee.Port.ToString(CultureInfo.InvariantCulture)}", answered.Detail["calleePeer"]);

        // The callee got the caller's SDP byte for byte, and the caller got the callee's.
        var calleeSaw = callee.Messages();
        var invite = Message(calleeSaw, "INVITE sip:" + Callee);
        Assert.Contains(CallerSdp(mediaPort).Replace("[media_ip]", caller.Address.ToString(), StringComparison.Ordinal), Normalize(invite), StringComparison.Ordinal);
        Assert.Contains("ACK sip:", calleeSaw, StringComparison.Ordinal);
        Assert.Contains("BYE sip:", calleeSaw, StringComparison.Ordinal);
        var ok = Message(caller.Messages(), "SIP/2.0 200 OK", "INVITE");
        Assert.Contains($"m=audio {callee.MediaPort} RTP/AVP 0", ok, StringComparison.Ordinal);
        Assert.Contains($"o=callee 53655765 2353687637 IN IP4 {callee.Address}", ok, StringComparison.Ordinal);

        // Media: the callee's echo answers at the address the caller was given; the server's pool is not involved.
        Assert.True(echoes > 0, "no RTP came back from the callee's media port");
        Assert.Equal(0, server.Rtp!.Stats().Allocated);
        Assert.Equal((1, 1, 0, 0), (server.Context.Routed.Sip.Attempts, server.Context.Routed.Sip.Answered, server.Context.Routed.Sip.Failed, server.Context.Routed.Sip.Active));
    }

    [Theory]
    [InlineData("busy", "486", "callee-486")]
    [InlineData("no-answer", "480", "no-answer")]
    [InlineData("cancel", "487", "cancelled")]
    public async Task Failures_of_the_callee_reach_the_caller_as_a_pbx_gives_them(string mode, string status, string verdict)
    {
        await using var server = await StartAsync(new SipOptions { RouteRing = TimeSpan.FromSeconds(2) });
        var target = server.EndPoint("udp/5060");
        await using var callee = await SippPhone.RegisterAsync(target, Callee);
        var calleeRun = callee.RunAsync(CalleeScenario(mode), rtpEcho: false);
        await using var caller = await SippPhone.RegisterAsync(target, Caller);
        var callerResult = await caller.RunAsync(CallerScenario(Callee, mode, 0)).DefaultTimeout(TimeSpan.FromSeconds(40));
        var calleeResult = await calleeRun.DefaultTimeout(TimeSpan.FromSeconds(40));
        Assert.True(callerResult.ExitCode == 0, callerResult.All);
        Assert.True(calleeResult.ExitCode == 0, calleeResult.All);
        Assert.Contains("SIP/2.0 " + status, caller.Messages(), StringComparison.Ordinal);
        var route = await server.WaitForRecordAsync(r => r.Kind == "sip-route");
        Assert.Equal(verdict, route.Verdict);
        if (mode != "busy")
        {
            // The callee was cancelled: by the server when the ring time ran out, or on behalf of the caller.
            Assert.Contains("CANCEL sip:", callee.Messages(), StringComparison.Ordinal);
        }

        Assert.Equal((1, 0, 1), (server.Context.Routed.Sip.Attempts, server.Context.Routed.Sip.Answered, server.Context.Routed.Sip.Failed));
    }

    [Fact]
    public async Task An_unassigned_directory_number_gets_404_and_the_server_number_still_answers()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        await using var caller = await SippPhone.RegisterAsync(target, Caller);
        var result = await caller.RunAsync(CallerScenario("399999", "refused", 0)).DefaultTimeout(TimeSpan.FromSeconds(40));
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("SIP/2.0 404 Not Found", caller.Messages(), StringComparison.Ordinal);
        var record = await server.WaitForRecordAsync(r => r.Kind == "sip-route" && r.Verdict == "404");
        Assert.Equal("399999", record.Detail!["callee"]);

        // A number outside the directory range is the server's own: answered from the echo pool as before.
        await SippAsync(target, "u1", ["-sn", "uac", "-s", "1001"], 1);
        await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Verdict == "completed");
    }

    [Fact]
    public async Task A_callee_whose_tcp_connection_is_gone_gets_the_caller_503()
    {
        await using var server = await StartAsync();
        // Registered over TCP by a SIPp that then exits: the binding stays, its connection does not.
        await using var callee = await SippPhone.RegisterAsync(server.EndPoint("tcp/5060"), Callee, "t1");
        await using var caller = await SippPhone.RegisterAsync(server.EndPoint("udp/5060"), Caller);
        var result = await caller.RunAsync(CallerScenario(Callee, "unavailable", 0)).DefaultTimeout(TimeSpan.FromSeconds(40));
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("SIP/2.0 503 Service Unavailable", caller.Messages(), StringComparison.Ordinal);
        var record = await server.WaitForRecordAsync(r => r.Kind == "sip-route" && r.Verdict == "503");
        Assert.Contains("connection", record.Detail!["reason"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Max_forwards_zero_gets_483_and_a_request_that_comes_back_gets_482()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        using var phone = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        phone.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var local = (IPEndPoint)phone.LocalEndPoint!;
        var register = Request("REGISTER", target, local, "z9hG4bKreg1", "reg-1", 1, extra: "Expires: 60\r\n")
            .Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal).Replace("<sip:test@", "<sip:" + Callee + "@", StringComparison.Ordinal);
        Assert.StartsWith("SIP/2.0 200", await ExchangeAsync(phone, target, register), StringComparison.Ordinal);

        var hops = Request("INVITE", target, local, "z9hG4bKmf0", "mf-0", 1).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal)
            .Replace("Max-Forwards: 70", "Max-Forwards: 0", StringComparison.Ordinal);
        Assert.StartsWith("SIP/2.0 483 Too Many Hops", await ExchangeAsync(phone, target, hops), StringComparison.Ordinal);
        // The ACK of the 483 (same branch) stops its retransmissions.
        var ack = Request("ACK", target, local, "z9hG4bKmf0", "mf-0", 1).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal);
        await phone.SendToAsync(System.Text.Encoding.ASCII.GetBytes(ack), target).DefaultTimeout();

        // Relayed to the callee (this socket), then sent back to the server as it came: the server's own branch is in it.
        var first = Request("INVITE", target, local, "z9hG4bKloop1", "loop-1", 1).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal);
        var relayed = await ExchangeAsync(phone, target, first, skip: ["SIP/2.0 100", "SIP/2.0 483"]);
        Assert.StartsWith("INVITE sip:" + Callee + "@", relayed, StringComparison.Ordinal);
        var back = relayed.Replace("Call-ID: ", "Call-ID: again-", StringComparison.Ordinal);
        var via = $"Via: SIP/2.0/UDP {local};branch=z9hG4bKloop2;rport\r\n";
        back = back.Insert(back.IndexOf("\r\n", StringComparison.Ordinal) + 2, via);
        // Retransmissions of the relayed INVITE (unanswered here), or of the 483 if its ACK was slow, may come in between.
        Assert.StartsWith("SIP/2.0 482 Loop Detected", await ExchangeAsync(phone, target, back, skip: ["INVITE ", "SIP/2.0 483"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bye_relayed_over_udp_is_repeated_until_the_other_phone_answers_it()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        using var caller = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var callee = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        caller.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        callee.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var callerLocal = (IPEndPoint)caller.LocalEndPoint!;
        var calleeLocal = (IPEndPoint)callee.LocalEndPoint!;
        string As(string request, string user) => request.Replace("sip:1001@", "sip:" + user + "@", StringComparison.Ordinal).Replace("<sip:test@", "<sip:" + user + "@", StringComparison.Ordinal);
        Assert.StartsWith("SIP/2.0 200", await ExchangeAsync(callee, target, As(Request("REGISTER", target, calleeLocal, "z9hG4bKbyereg2", "bye-reg-2", 1, extra: "Expires: 60\r\n"), Callee)), StringComparison.Ordinal);
        Assert.StartsWith("SIP/2.0 200", await ExchangeAsync(caller, target, As(Request("REGISTER", target, callerLocal, "z9hG4bKbyereg1", "bye-reg-1", 1, extra: "Expires: 60\r\n"), Caller)), StringComparison.Ordinal);

        // The caller calls the callee's number; the callee (this socket) answers the relayed INVITE with 200.
        var invite = Request("INVITE", target, callerLocal, "z9hG4bKbyeinv", "bye-call", 1, body: Offer).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal);
        await caller.SendToAsync(System.Text.Encoding.ASCII.GetBytes(invite), target).DefaultTimeout();
        var relayed = await ReceiveAsync(callee, skip: []);
        Assert.StartsWith("INVITE ", relayed, StringComparison.Ordinal);
        var sdp = Offer.Replace("40000", "40002", StringComparison.Ordinal);
        await callee.SendToAsync(System.Text.Encoding.ASCII.GetBytes(Answer(relayed, "200 OK", calleeLocal, sdp)), target).DefaultTimeout();
        var ok = await ReceiveAsync(caller, skip: ["SIP/2.0 100", "SIP/2.0 180"]);
        Assert.StartsWith("SIP/2.0 200", ok, StringComparison.Ordinal);
        var toTag = System.Text.RegularExpressions.Regex.Match(ok, "(?m)^To:.*;tag=([^;\r\n]+)").Groups[1].Value;
        await caller.SendToAsync(System.Text.Encoding.ASCII.GetBytes(Request("ACK", target, callerLocal, "z9hG4bKbyeack", "bye-call", 1, toTag: toTag).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal)), target).DefaultTimeout();

        // The caller hangs up: the server answers it and sends BYE to the callee, which does not answer the first.
        var bye = Request("BYE", target, callerLocal, "z9hG4bKbyebye", "bye-call", 2, toTag: toTag).Replace("sip:1001@", "sip:" + Callee + "@", StringComparison.Ordinal);
        await caller.SendToAsync(System.Text.Encoding.ASCII.GetBytes(bye), target).DefaultTimeout();
        Assert.StartsWith("SIP/2.0 200", await ReceiveAsync(caller, skip: ["SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + callerLocal + ";branch=z9hG4bKbyeinv"]), StringComparison.Ordinal);
        var first = await ReceiveAsync(callee, skip: ["ACK ", "INVITE "]);
        Assert.StartsWith("BYE ", first, StringComparison.Ordinal);
        var again = await ReceiveAsync(callee, skip: ["ACK ", "INVITE "]);
        Assert.Equal(first, again);

        // Answered, the BYE ends; the routed call was recorded as ended by the caller.
        await callee.SendToAsync(System.Text.Encoding.ASCII.GetBytes(Answer(first, "200 OK", calleeLocal, null)), target).DefaultTimeout();
        await server.WaitForRecordAsync(r => r.Kind == "sip-route" && r.Verdict == "completed-by-caller");
    }

    /// <summary>A response to <paramref name="request"/> as a phone gives it: its Via, From, Call-ID and CSeq, a To tag, a Contact.</summary>
    private static string Answer(string request, string status, IPEndPoint local, string? sdp)
    {
        var text = new System.Text.StringBuilder("SIP/2.0 ").Append(status).Append("\r\n");
        foreach (var line in request[..request.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n").Skip(1))
        {
            if (line.StartsWith("Via:", StringComparison.OrdinalIgnoreCase) || line.StartsWith("From:", StringComparison.OrdinalIgnoreCase)
                || line.StartsWith("Call-ID:", StringComparison.OrdinalIgnoreCase) || line.StartsWith("CSeq:", StringComparison.OrdinalIgnoreCase))
            {
                text.Append(line).Append("\r\n");
            }
            else if (line.StartsWith("To:", StringComparison.OrdinalIgnoreCase))
            {
                text.Append(line).Append(line.Contains(";tag=", StringComparison.Ordinal) ? string.Empty : ";tag=callee1").Append("\r\n");
            }
        }

        text.Append("Contact: <sip:").Append(Callee).Append('@').Append(local).Append(">\r\n");
        if (sdp is not null)
        {
            text.Append("Content-Type: application/sdp\r\n");
        }

        return text.Append("Content-Length: ").Append(sdp?.Length ?? 0).Append("\r\n\r\n").Append(sdp).ToString();
    }

    private static async Task<string> ReceiveAsync(Socket socket, string[] skip)
    {
        var buffer = new byte[8192];
        for (var i = 0; i < 10; i++)
        {
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout(TimeSpan.FromSeconds(5));
            var text = System.Text.Encoding.ASCII.GetString(buffer, 0, n);
            if (!skip.Any(s => text.StartsWith(s, StringComparison.Ordinal)))
            {
                return text;
            }
        }

        throw new TimeoutException("only " + string.Join(", ", skip) + " came");
    }

    [Fact]
    public async Task With_routing_off_the_server_answers_a_registered_number_itself()
    {
        await using var server = await StartAsync(new SipOptions { Route = false });
        var target = server.EndPoint("udp/5060");
        await using var callee = await SippPhone.RegisterAsync(target, Callee);
        await SippAsync(target, "u1", ["-sn", "uac", "-s", Callee], 1);
        await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Verdict == "completed");
        Assert.Equal(0, server.Context.Routed.Sip.Attempts);
    }

    private static async Task<string> ExchangeAsync(Socket socket, IPEndPoint target, string request, string[]? skip = null)
    {
        await socket.SendToAsync(System.Text.Encoding.ASCII.GetBytes(request), target).DefaultTimeout();
        var buffer = new byte[8192];
        for (var i = 0; i < 5; i++)
        {
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout(TimeSpan.FromSeconds(5));
            var text = System.Text.Encoding.ASCII.GetString(buffer, 0, n);
            if (skip is null || !skip.Any(s => text.StartsWith(s, StringComparison.Ordinal)))
            {
                return text;
            }
        }

        throw new TimeoutException("only " + string.Join(", ", skip ?? []) + " came back");
    }

    private static async Task<int> EchoesAsync(Socket media, IPEndPoint callee)
    {
        var packet = new byte[12 + 160];
        packet[0] = 0x80;
        var buffer = new byte[2048];
        var echoes = 0;
        for (var i = 0; i < 10; i++)
        {
            packet[3] = (byte)i;
            await media.SendToAsync(packet, callee).DefaultTimeout();
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                var n = await media.ReceiveAsync(buffer, wait.Token);
                echoes += n == packet.Length ? 1 : 0;
            }
            catch (OperationCanceledException)
            {
            }
        }

        return echoes;
    }

    /// <summary>The message of a SIPp trace that starts with <paramref name="start"/> (and carries <paramref name="cseq"/>).</summary>
    private static string Message(string trace, string start, string? cseq = null)
    {
        foreach (var block in trace.Split("-----------------------------------------------", StringSplitOptions.None))
        {
            var at = block.IndexOf(start, StringComparison.Ordinal);
            if (at >= 0 && (cseq is null || block.Contains(" " + cseq, StringComparison.Ordinal)))
            {
                return block[at..];
            }
        }

        throw new InvalidOperationException($"no '{start}' in:\n{trace}");
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    private static string CallerSdp(int mediaPort) => $"""
        v=0
        o=caller 1234 5678 IN IP4 [media_ip]
        s=cucmsim-routing
        c=IN IP4 [media_ip]
        t=0 0
        m=audio {mediaPort} RTP/AVP 0
        a=rtpmap:0 PCMU/8000

        """.Replace("\r\n", "\n", StringComparison.Ordinal);

    private static string CallerScenario(string number, string mode, int mediaPort)
    {
        var invite = $"""
              <send retrans="500"><![CDATA[

                INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0
                Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={InviteBranch}
                From: <sip:{Caller}@[remote_ip]>;tag=[pid]caller[call_number]
                To: <sip:{number}@[remote_ip]>
                Call-ID: [call_id]
                CSeq: 2 INVITE
                Contact: <sip:{Caller}@[local_ip]:[local_port]>
                Max-Forwards: 70
                Content-Type: application/sdp
                Content-Length: [len]

            {Indent(CallerSdp(mediaPort == 0 ? 4000 : mediaPort))}
              ]]></send>
              <recv response="100" optional="true"/>
            """;
        var ackFailure = InDialog("ACK", 2, InviteBranch);
        var body = mode switch
        {
            "answer" => """
                  <recv response="180" optional="true"/>
                  <recv response="200"/>
                """ + InDialog("ACK", 2, "[branch]") + """<pause milliseconds="3000"/>""" + InDialog("BYE", 3, "[branch]") + """<recv response="200"/>""",
            "busy" => """<recv response="180" optional="true"/><recv response="486"/>""" + ackFailure,
            "no-answer" => """<recv response="180" optional="true"/><recv response="480"/>""" + ackFailure,
            "refused" => """<recv response="404"/>""" + ackFailure,
            "unavailable" => """<recv response="503"/>""" + ackFailure,
            "cancel" => """
                  <recv response="180"/>
                  <send><![CDATA[

                    CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
                    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={InviteBranch}
                    From: <sip:{Caller}@[remote_ip]>;tag=[pid]caller[call_number]
                    To: <sip:[service]@[remote_ip]>
                    Call-ID: [call_id]
                    CSeq: 2 CANCEL
                    Max-Forwards: 70
                    Content-Length: 0

                  ]]></send>
                  <recv response="200"/>
                  <recv response="487"/>
                """.Replace("{Caller}", Caller, StringComparison.Ordinal).Replace("{InviteBranch}", InviteBranch, StringComparison.Ordinal) + ackFailure,
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        return Wrap("caller", invite + body.Replace("[service]", number, StringComparison.Ordinal));
    }

    /// <summary>The INVITE's branch, written out: its CANCEL and the ACK of a failure share it (RFC 3261 §9.1, §17.1.1.3).</summary>
    private const string InviteBranch = "z9hG4bK-inv-[pid]-[call_number]";

    /// <summary>A request of the caller's dialog, To tag from the last response.</summary>
    private static string InDialog(string method, int cseq, string branch) => $"""
          <send{(method == "ACK" ? string.Empty : " retrans=\"500\"")}><![CDATA[

            {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
            Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch}
            [last_From:]
            [last_To:]
            Call-ID: [call_id]
            CSeq: {cseq} {method}
            Max-Forwards: 70
            Content-Length: 0

          ]]></send>
        """;

    private static string CalleeScenario(string mode)
    {
        var body = mode switch
        {
            "answer" => Reply("180 Ringing") + Reply("200 OK", """
                    v=0
                    o=callee 53655765 2353687637 IN IP[local_ip_type] [local_ip]
                    s=-
                    c=IN IP[media_ip_type] [media_ip]
                    t=0 0
                    m=audio [media_port] RTP/AVP 0
                    a=rtpmap:0 PCMU/8000
                    """) + """<recv request="ACK"/><recv request="BYE"/>""" + Reply("200 OK"),
            "busy" => Reply("486 Busy Here") + """<recv request="ACK"/>""",
            // The 487 answers the INVITE: its CSeq is the INVITE's, not the CANCEL's.
            "no-answer" or "cancel" => Reply("180 Ringing") + """<recv request="CANCEL"/>""" + Reply("200 OK")
                + Reply("487 Request Terminated").Replace("[last_CSeq:]", "CSeq: 1 INVITE", StringComparison.Ordinal) + """<recv request="ACK"/>""",
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        return Wrap("callee", """<recv request="INVITE"/>""" + body);
    }

    /// <summary>A response to the request last received, with an SDP body or none (a 2xx is repeated until the ACK).</summary>
    private static string Reply(string status, string? sdp = null) => $"""
          <send{(sdp is null ? string.Empty : " retrans=\"500\"")}><![CDATA[

            SIP/2.0 {status}
            [last_Via:]
            [last_From:]
            [last_To:];tag=[pid]callee[call_number]
            [last_Call-ID:]
            [last_CSeq:]
            Contact: <sip:[local_ip]:[local_port];transport=[transport]>
            {(sdp is null ? "Content-Length: 0" : "Content-Type: application/sdp\nContent-Length: [len]\n\n" + sdp)}

          ]]></send>
        """;

    private static string Indent(string text) => string.Join("\n", text.Split('\n').Select(l => "    " + l));

    private static string Wrap(string name, string steps) => $"""
        <?xml version="1.0" encoding="ISO-8859-1" ?>
        <scenario name="{name}">
        {steps}
        </scenario>
        """;

    /// <summary>
    /// One SIPp phone: a number registered from a fixed local port, then one scenario run from that same port, its
    /// messages traced to a file of its own. The port is free between the two runs, so the phone has a loopback
    /// address of its own (127.201.x.y, <see cref="UniqueLoopback"/>).
    /// </summary>
    private sealed class SippPhone : IAsyncDisposable
    {
        private readonly IPEndPoint _target;
        private readonly string _transport;
        private readonly string _dir = Directory.CreateTempSubdirectory("cucmsim-route").FullName;

        private SippPhone(IPEndPoint target, string number, IPAddress address, int port, int mediaPort, string transport)
        {
            Address = address;
            _target = target;
            _transport = transport;
            Number = number;
            Port = port;
            MediaPort = mediaPort;
        }

        public string Number { get; }

        public IPAddress Address { get; }

        public int Port { get; }

        public int MediaPort { get; }

        public static async Task<SippPhone> RegisterAsync(IPEndPoint target, string number, string transport = "u1")
        {
            var signalling = UniqueLoopback.FreeUdp(201);
            var phone = new SippPhone(target, number, signalling.Address, signalling.Port, UniqueLoopback.FreeUdpPort(signalling.Address, spare: 2), transport);
            var scenario = Wrap("register", $"""
                  <send retrans="500"><![CDATA[

                    REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
                    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
                    Max-Forwards: 70
                    From: <sip:{number}@[remote_ip]>;tag=[pid]reg[call_number]
                    To: <sip:{number}@[remote_ip]>
                    Call-ID: [call_id]
                    CSeq: 1 REGISTER
                    Contact: <sip:{number}@[local_ip]:[local_port]>
                    Expires: 300
                    Content-Length: 0

                  ]]></send>
                  <recv response="200"/>
                """);
            var result = await phone.RunAsync(scenario, rtpEcho: false, trace: false).DefaultTimeout(TimeSpan.FromSeconds(40));
            Assert.True(result.ExitCode == 0, result.All);
            return phone;
        }

        public Task<ToolResult> RunAsync(string scenario, bool rtpEcho = false, bool trace = true)
        {
            var file = Path.Combine(_dir, $"{Guid.NewGuid():N}.xml");
            File.WriteAllText(file, scenario);
            List<string> args = [$"{_target.Address}:{_target.Port}", "-i", Address.ToString(), "-p", Port.ToString(CultureInfo.InvariantCulture), "-t", _transport,
                "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-sf", file, "-mi", Address.ToString(), "-mp", MediaPort.ToString(CultureInfo.InvariantCulture)];
            if (rtpEcho)
            {
                args.Add("-rtp_echo");
            }

            if (trace)
            {
                args.AddRange(["-trace_msg", "-message_file", Path.Combine(_dir, "messages.log")]);
            }

            return ExternalTool.RunAsync("sh", ["-c", "cd \"$0\" && exec sipp \"$@\"", _dir, .. args], TimeSpan.FromSeconds(45));
        }

        /// <summary>Every message this phone sent and received in its traced scenarios.</summary>
        public string Messages()
        {
            var file = Path.Combine(_dir, "messages.log");
            return File.Exists(file) ? Normalize(File.ReadAllText(file)) : string.Empty;
        }

        public ValueTask DisposeAsync()
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }

            return ValueTask.CompletedTask;
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Sip;
using CucmSim.Protocols.Sip;
using CucmSim.Serve.Sip;
using CucmSim.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using static CucmSim.Tests.Sip.SipTestSupport;

namespace CucmSim.Tests.Sip;

/// <summary>Transaction behaviour, the mirror, malformed input and our own client, over real sockets.</summary>
public sealed class SipBehaviourTests
{
    [Fact]
    public async Task Responses_copy_the_request_add_received_rport_and_a_to_tag()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        // The Via names another host and port (as behind NAT): received and rport carry what the server saw.
        var request = Request("OPTIONS", target, udp.Local, "z9hG4bKnat1", "nat-1", 7).Replace($"Via: SIP/2.0/UDP {udp.Local}", "Via: SIP/2.0/UDP 192.0.2.10:5062", StringComparison.Ordinal);
        udp.Send(request.Replace("Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnat1;rport\r\n", "v: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnat1;rport, SIP/2.0/UDP proxy.example;branch=z9hG4bKp\r\n", StringComparison.Ordinal));
        var response = await udp.ReceiveAsync();
        Assert.Equal("SIP/2.0 200 OK", StatusLine(response));
        Assert.Contains($"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnat1;rport={udp.Local.Port};received=127.0.0.1\r\nVia: SIP/2.0/UDP proxy.example;branch=z9hG4bKp\r\n", response, StringComparison.Ordinal);
        Assert.Matches("To: <sip:1001@127.0.0.1>;tag=[0-9a-f]{8}\r\n", response);
        Assert.Contains("CSeq: 7 OPTIONS\r\n", response, StringComparison.Ordinal);
        Assert.Contains("Call-ID: nat-1\r\n", response, StringComparison.Ordinal);
        Assert.Contains("Allow: INVITE, OPTIONS", response, StringComparison.Ordinal);
        Assert.Contains("Accept: application/sdp", response, StringComparison.Ordinal);
        Assert.Contains("Supported: ", response, StringComparison.Ordinal);
        var mirror = SipMirror.Parse(Header(response, "X-CucmSim-Mirror"))!;
        Assert.Equal(udp.Local.ToString(), mirror.Source);
        Assert.Equal("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnat1;rport", mirror.Via);
        Assert.Equal($"OPTIONS sip:1001@{target} SIP/2.0", mirror.RequestLine);

        // A retransmission gets the same tag (stateless but stable).
        udp.Send(request);
        var again = await udp.ReceiveAsync();
        Assert.Equal(Header(response, "To"), Header(again, "To"));
        await server.WaitForRecordAsync(r => r.Kind == "sip-rewrite" && r.Detail!["via"] == "192.0.2.10");
    }

    [Fact]
    public async Task Allow_lists_exactly_the_methods_that_are_answered()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKallow0", "allow-0", 1));
        var allow = Header(await udp.ReceiveAsync(), "Allow")!.Split(',', StringSplitOptions.TrimEntries);
        Assert.DoesNotContain("REFER", allow);
        Assert.DoesNotContain("SUBSCRIBE", allow);

        // Responses of one request (the INVITE below keeps sending its own for a while).
        async Task<string> ResponseTo(string callId)
        {
            string response;
            do
            {
                response = await udp.ReceiveAsync();
            }
            while (Header(response, "Call-ID") != callId);
            return response;
        }

        // Every listed method is answered by something other than 501 (ACK gets no answer at all).
        var n = 0;
        foreach (var method in allow.Where(m => m != "ACK"))
        {
            n++;
            udp.Send(Request(method, target, udp.Local, $"z9hG4bKallow{n}", $"allow-{n}", 1));
            var status = StatusLine(await ResponseTo($"allow-{n}"));
            Assert.False(status.StartsWith("SIP/2.0 501", StringComparison.Ordinal), $"{method}: {status}");
            if (method == "INVITE")
            {
                // Past the 100 Trying; the call is left to time out.
                udp.Send(Request("CANCEL", target, udp.Local, $"z9hG4bKallow{n}", $"allow-{n}", 1));
            }
        }

        // And what is not listed is not implemented, with the same list.
        foreach (var method in new[] { "REFER", "SUBSCRIBE", "MESSAGE", "PUBLISH" })
        {
            n++;
            udp.Send(Request(method, target, udp.Local, $"z9hG4bKallow{n}", $"allow-{n}", 1));
            var response = await ResponseTo($"allow-{n}");
            Assert.Equal("SIP/2.0 501 Not Implemented", StatusLine(response));
            Assert.Equal(string.Join(", ", allow), Header(response, "Allow"));
        }
    }

    [Fact]
    public async Task A_client_that_sends_and_then_shuts_down_writing_gets_every_answer_over_tcp()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("tcp/5060");
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await tcp.ConnectAsync(target).DefaultTimeout();
        var local = (IPEndPoint)tcp.LocalEndPoint!;
        var requests = string.Concat(Enumerable.Range(1, 50).Select(i =>
            Request("OPTIONS", target, local, $"z9hG4bKhalf{i}", $"half-{i}", i).Replace("SIP/2.0/UDP", "SIP/2.0/TCP", StringComparison.Ordinal)));
        await tcp.SendAsync(Encoding.ASCII.GetBytes(requests)).DefaultTimeout();
        tcp.Shutdown(SocketShutdown.Send);

        // Everything the server sends until it closes its side.
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await tcp.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout()) > 0)
        {
            received.Write(buffer, 0, n);
        }

        var text = Encoding.ASCII.GetString(received.ToArray());
        Assert.Equal(50, text.Split("SIP/2.0 200 OK\r\n").Length - 1);
    }

    [Fact]
    public async Task Cucm_identity_answers_unknown_peers_503_until_they_register()
    {
        await using var server = await StartAsync(new SipOptions { UnknownPeer503 = true });
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKu1", "unknown-1", 1));
        var unknown = await udp.ReceiveAsync();
        Assert.Equal("SIP/2.0 503 Service Unavailable", StatusLine(unknown));
        Assert.Equal($"399 cucm-test \"Unable to find a device handler for the request received on port {target.Port} from 127.0.0.1\"", Header(unknown, "Warning"));
        Assert.Null(Header(unknown, "X-CucmSim-Mirror"));

        udp.Send(Request("REGISTER", target, udp.Local, "z9hG4bKu2", "unknown-2", 1));
        Assert.Equal("SIP/2.0 200 OK", StatusLine(await udp.ReceiveAsync()));
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKu3", "unknown-3", 1));
        Assert.Equal("SIP/2.0 200 OK", StatusLine(await udp.ReceiveAsync()));
    }

    [Fact]
    public async Task Unknown_dialogs_methods_and_malformed_input_get_481_501_400_and_the_listener_survives()
    {
        await using var server = await StartAsync();
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        udp.Send(Request("BYE", target, udp.Local, "z9hG4bKb1", "none", 2, toTag: "x"));
        Assert.Equal("SIP/2.0 481 Call/Transaction Does Not Exist", StatusLine(await udp.ReceiveAsync()));
        udp.Send(Request("MESSAGE", target, udp.Local, "z9hG4bKm1", "m", 1));
        Assert.Equal("SIP/2.0 501 Not Implemented", StatusLine(await udp.ReceiveAsync()));
        udp.Send(Request("CANCEL", target, udp.Local, "z9hG4bKnone", "c", 1));
        Assert.Equal("SIP/2.0 481 Call/Transaction Does Not Exist", StatusLine(await udp.ReceiveAsync()));
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKo1", "o", 1, cseqMethod: "INVITE"));
        Assert.StartsWith("SIP/2.0 400 Bad Request", StatusLine(await udp.ReceiveAsync()), StringComparison.Ordinal);
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKo2", "o", 1).Replace("SIP/2.0\r\n", "SIP/3.0\r\n", StringComparison.Ordinal));
        Assert.StartsWith("SIP/2.0 505", StatusLine(await udp.ReceiveAsync()), StringComparison.Ordinal);

        // Truncated, oversized and random datagrams: counted, recorded, no answer, service continues.
        var valid = Encoding.UTF8.GetBytes(Request("INVITE", target, udp.Local, "z9hG4bKt", "t", 1, body: Offer));
        var random = new Random(3261);
        for (var i = 0; i < 200; i++)
        {
            var junk = new byte[random.Next(1, 1400)];
            random.NextBytes(junk);
            udp.Send(i % 2 == 0 ? junk : valid[..random.Next(1, valid.Length - 1)]);
        }

        udp.Send(new byte[65000]);
        udp.Send(Request("OPTIONS", target, udp.Local, "z9hG4bKafter", "after", 1));
        string response;
        do
        {
            response = await udp.ReceiveAsync();
        }
        while (!response.Contains("Call-ID: after", StringComparison.Ordinal));

        Assert.Equal("SIP/2.0 200 OK", StatusLine(response));
        Assert.True(server.Listeners.Single(l => l.Id == "udp/5060").Malformed >= 100);
        var malformed = await server.WaitForRecordAsync(r => r.Kind == "sip-malformed");
        Assert.Equal("cucm", malformed.Role);
        Assert.Contains("t6.sip", malformed.Flows!);
        Assert.NotNull(malformed.Local);

        // A stream with an endless header section is closed; the listener goes on.
        var tcp = server.EndPoint("tcp/5060");
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await s.ConnectAsync(tcp).DefaultTimeout();
            var big = Encoding.ASCII.GetBytes("OPTIONS sip:a@b SIP/2.0\r\n" + new string('X', 70_000));
            try
            {
                await s.SendAsync(big).DefaultTimeout();
            }
            catch (SocketException)
            {
            }

            var buffer = new byte[4096];
            int n;
            try
            {
                while ((n = await s.ReceiveAsync(buffer).DefaultTimeout()) > 0)
                {
                }
            }
            catch (SocketException)
            {
            }
        }

        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = tcp, Transport = "tcp" }).DefaultTimeout();
        Assert.True((await client.OptionsAsync().DefaultTimeout()).Ok);
    }

    [Fact]
    public async Task Invite_final_response_is_retransmitted_until_ack_and_retransmitted_invites_are_absorbed()
    {
        // A trunk peer: its answers have no amplification budget (AmplificationTests covers an unknown peer's).
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(new SipOptions { TrunkPeers = [IPAddress.Loopback] }, time);
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        var invite = Request("INVITE", target, udp.Local, "z9hG4bKinv1", "retrans-1", 1, body: Offer);
        udp.Send(invite);
        Assert.Equal("SIP/2.0 100 Trying", StatusLine(await udp.ReceiveAsync()));
        var ringing = await udp.ReceiveAsync();
        Assert.Equal("SIP/2.0 180 Ringing", StatusLine(ringing));
        var ok = await udp.ReceiveAsync();
        Assert.Equal("SIP/2.0 200 OK", StatusLine(ok));
        Assert.Equal(Header(ringing, "To"), Header(ok, "To"));
        Assert.Contains("m=audio ", ok, StringComparison.Ordinal);
        Assert.Contains("o=CiscoSystemsCCM-SIP ", ok, StringComparison.Ordinal);

        // The INVITE again (a retransmission): the 200 again, no second call.
        udp.Send(invite);
        Assert.Equal(ok, await udp.ReceiveAsync());

        // Timer G / §13.3.1.4: 200 again after T1, then after 2·T1.
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(ok, await udp.ReceiveAsync());
        time.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.Equal(ok, await udp.ReceiveAsync());

        var toTag = Header(ok, "To")![(Header(ok, "To")!.IndexOf("tag=", StringComparison.Ordinal) + 4)..];
        udp.Send(Request("ACK", target, udp.Local, "z9hG4bKack1", "retrans-1", 1, toTag: toTag));
        time.Advance(TimeSpan.FromSeconds(8));

        // Nothing more of the INVITE: the next datagram is the answer to the BYE.
        udp.Send(Request("BYE", target, udp.Local, "z9hG4bKbye1", "retrans-1", 2, toTag: toTag));
        Assert.Equal("SIP/2.0 200 OK", StatusLine(await udp.ReceiveAsync()) is var s && s == "SIP/2.0 200 OK" ? s : s);
        var call = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == "retrans-1");
        Assert.Equal("completed", call.Verdict);
        Assert.Equal("true", call.Detail!["confirmed"]);

        // A retransmitted BYE still gets 200 (the dialog ended moments ago).
        udp.Send(Request("BYE", target, udp.Local, "z9hG4bKbye1", "retrans-1", 2, toTag: toTag));
        Assert.Equal("SIP/2.0 200 OK", StatusLine(await udp.ReceiveAsync()));

        // Without an ACK the 200 is repeated until timer H, then the call ends and its port is freed.
        var invite2 = Request("INVITE", target, udp.Local, "z9hG4bKinv2", "retrans-2", 1, body: Offer);
        udp.Send(invite2);

        // Until this INVITE's 200: its timers run from then on. Datagrams of the first call may still be queued (the 200
        // repeated while the fake clock jumped past the ACK's arrival): counting three datagrams could end before the
        // server had even read this INVITE, and the clock would then run ahead of timers not yet made.
        while (await udp.ReceiveAsync() is var datagram && !(StatusLine(datagram) == "SIP/2.0 200 OK" && Header(datagram, "Call-ID") == "retrans-2"))
        {
        }

        for (var i = 0; i < 40; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var noAck = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == "retrans-2");
        Assert.Equal("no-ack", noAck.Verdict);
        Assert.Equal(0, server.Rtp!.Stats().Allocated);
    }

    [Fact]
    public async Task Cancel_gets_200_and_the_invite_487()
    {
        await using var server = await StartAsync(new SipOptions { RingDelay = TimeSpan.FromHours(1), TrunkPeers = [IPAddress.Loopback] });
        var target = server.EndPoint("udp/5060");
        using var udp = new RawUdp(target);
        udp.Send(Request("INVITE", target, udp.Local, "z9hG4bKc1", "cancel-1", 5, body: Offer));
        Assert.Equal("SIP/2.0 100 Trying", StatusLine(await udp.ReceiveAsync()));
        Assert.Equal("SIP/2.0 180 Ringing", StatusLine(await udp.ReceiveAsync()));
        udp.Send(Request("CANCEL", target, udp.Local, "z9hG4bKc1", "cancel-1", 5));
        var responses = new[] { await udp.ReceiveAsync(), await udp.ReceiveAsync() };
        var cancelOk = responses.Single(r => r.Contains("CSeq: 5 CANCEL", StringComparison.Ordinal));
        var terminated = responses.Single(r => r.Contains("CSeq: 5 INVITE", StringComparison.Ordinal));
        Assert.Equal("SIP/2.0 200 OK", StatusLine(cancelOk));
        Assert.Equal("SIP/2.0 487 Request Terminated", StatusLine(terminated));
        udp.Send(Request("ACK", target, udp.Local, "z9hG4bKc1", "cancel-1", 5));
        var call = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Detail!["callId"] == "cancel-1");
        Assert.Equal("cancelled", call.Verdict);
        Assert.Equal(0, server.Rtp!.Stats().Allocated);
    }

    [Fact]
    public async Task Our_client_answers_a_proxys_407_to_its_invite_and_its_bye_with_the_credentials_it_registered_with()
    {
        await using var peer = new CucmSim.Tests.Load.ScriptedSipServer(proxyChallenge: true);
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = peer.EndPoint, Transport = "udp", Timeout = TimeSpan.FromSeconds(2) }).DefaultTimeout();
        var register = await client.RegisterAsync("3001", "pw").DefaultTimeout();
        Assert.True(register.Ok, register.Error);
        var call = await client.CallAsync("9999", packets: 1).DefaultTimeout(TimeSpan.FromSeconds(20));
        Assert.True(call.Invite.Ok && call.Bye!.Ok, $"{call.Invite.Status} {call.Bye?.Status}");

        // Each challenged request went once without and once with credentials for its own method.
        var sent = peer.Requests.Distinct(StringComparer.Ordinal).ToList();
        foreach (var method in new[] { "INVITE", "BYE" })
        {
            var requests = sent.Where(r => r.StartsWith(method + " ", StringComparison.Ordinal)).ToList();
            Assert.True(requests.Count == 2, string.Join("\n----\n", requests));
            Assert.DoesNotContain("Proxy-Authorization", requests[0], StringComparison.Ordinal);
            var credentials = SipDigest.ParseChallengeOrCredentials(Encoding.ASCII.GetBytes(System.Text.RegularExpressions.Regex.Match(requests[1], @"Proxy-Authorization: ([^\r]*)\r").Groups[1].Value));
            Assert.NotNull(credentials);
            Assert.Equal(SipDigest.Response("3001", "scripted", "pw", method, credentials["uri"], "n0nce", "auth", credentials["nc"], credentials["cnonce"]), credentials["response"]);
        }

        // The 407 to the INVITE was ACKed (RFC 3261 17.1.1.3): two ACKs in all, the challenge's and the 200's.
        Assert.Equal(2, sent.Count(r => r.StartsWith("ACK ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task With_digest_on_a_trunk_peers_invite_is_answered_without_a_challenge()
    {
        await using var server = await StartAsync(new SipOptions { Password = "pw", TrunkPeers = [IPAddress.Loopback] });
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint("udp/5060"), Transport = "udp" }).DefaultTimeout();
        var call = await client.CallAsync("1001", packets: 5).DefaultTimeout();
        Assert.True(call.Invite.Ok, $"{call.Invite.Status} {call.Invite.Error}");
        Assert.True(call.Bye!.Ok);
        Assert.Null(call.ByeChallenge);

        // A REGISTER from the same address is still challenged: the trunk exemption is for calls.
        var register = await client.RegisterAsync("3001", null).DefaultTimeout();
        Assert.Equal(401, register.Status);
    }

    [Theory]
    [InlineData("udp", "udp/5060")]
    [InlineData("tcp", "tcp/5060")]
    [InlineData("tls", "tcp/5061")]
    public async Task Our_client_pings_registers_and_calls_with_media_both_ways(string transport, string listener)
    {
        await using var server = await StartAsync(new SipOptions { Password = "pw" });
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint(listener), Transport = transport }).DefaultTimeout();
        var options = await client.OptionsAsync().DefaultTimeout();
        Assert.True(options.Ok, options.Error);
        Assert.Empty(options.Rewrites);
        Assert.Equal(transport.ToUpperInvariant(), options.Mirror!.Transport);

        // With digest on, an INVITE is challenged as CUCM challenges a digest phone's: without credentials the 401 stands.
        var challenged = await client.CallAsync("1001", packets: 1).DefaultTimeout();
        Assert.Equal(401, challenged.Invite.Status);
        Assert.Contains("Digest realm=\"ccmsipline\"", challenged.Invite.Header("WWW-Authenticate"), StringComparison.Ordinal);
        Assert.Null(challenged.Bye);

        var denied = await client.RegisterAsync("3001", "nope").DefaultTimeout();
        Assert.Equal(403, denied.Status);
        var register = await client.RegisterAsync("3001", "pw", 120).DefaultTimeout();
        Assert.True(register.Ok, $"{register.Status} {register.Error}");
        Assert.Contains("expires=120", register.Header("Contact"), StringComparison.Ordinal);
        Assert.True(server.Context.Devices.TryGet("3001", out _));

        // Registered with a password, the client answers the INVITE's challenge with it, and the BYE's: serve challenges
        // a digest phone's BYE too, as CUCM does; the call stays up until the BYE with credentials.
        var call = await client.CallAsync("1001", packets: 20).DefaultTimeout();
        Assert.True(call.Invite.Ok, call.Invite.Error);
        Assert.Equal(401, call.ByeChallenge);
        Assert.StartsWith("<sip:3001@", call.Invite.Header("From"), StringComparison.Ordinal);
        Assert.Equal([100, 180], call.Invite.Provisional);
        Assert.Empty(call.Invite.Rewrites);
        Assert.Equal(20, call.PacketsSent);
        Assert.Equal(20, call.PacketsReceived);
        Assert.True(call.Bye!.Ok);
        var record = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Verdict == "completed");
        Assert.Equal(call.MediaTarget!.Split(':')[^1], record.Detail!["mediaPort"]);
        Assert.True(long.Parse(record.Detail["rtpPackets"], System.Globalization.CultureInfo.InvariantCulture) >= 20);

        var unregister = await client.RegisterAsync("3001", "pw", 0).DefaultTimeout();
        Assert.True(unregister.Ok);
        Assert.False(server.Context.Devices.TryGet("3001", out _));
    }

    [Fact]
    public async Task The_mirror_diff_shows_a_rewritten_sdp_connection_line()
    {
        await using var server = await StartAsync();
        using var alg = new RewritingRelay(server.EndPoint("udp/5060"), "c=IN IP4 127.0.0.1", "c=IN IP4 10.99.8.7");
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = alg.EndPoint, Transport = "udp" }).DefaultTimeout();
        var call = await client.CallAsync("1001", packets: 5).DefaultTimeout();
        Assert.True(call.Invite.Ok, call.Invite.Error);
        var rewrite = Assert.Single(call.Invite.Rewrites, r => r.Field == "sdp c=");
        Assert.Equal("c=IN IP4 127.0.0.1", rewrite.Sent);
        Assert.Equal("c=IN IP4 10.99.8.7", rewrite.Received);
        Assert.Contains(call.Invite.Rewrites, r => r.Field == "source");
        var seen = await server.WaitForRecordAsync(r => r.Kind == "sip-rewrite" && r.Detail!.ContainsKey("sdp-c"));
        Assert.Equal("10.99.8.7", seen.Detail!["sdp-c"]);
    }

    [Fact]
    public async Task The_sent_copy_shows_a_response_rewritten_on_the_way_back()
    {
        await using var server = await StartAsync();
        using var alg = new RewritingRelay(server.EndPoint("udp/5060"), "127.0.0.1", "10.99.8.7", towardClient: true);
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = alg.EndPoint, Transport = "udp" }).DefaultTimeout();

        var options = await client.OptionsAsync().DefaultTimeout();
        Assert.True(options.Ok, options.Error);
        var contact = Assert.Single(options.ResponseRewrites);
        Assert.Equal("response contact", contact.Field);
        Assert.Contains("@127.0.0.1:", contact.Sent, StringComparison.Ordinal);
        Assert.Contains("@10.99.8.7:", contact.Received, StringComparison.Ordinal);

        var call = await client.CallAsync("1001", packets: 1).DefaultTimeout();
        Assert.Equal(200, call.Invite.Status);
        var c = Assert.Single(call.Invite.ResponseRewrites, r => r.Field == "response sdp c=");
        Assert.Equal("c=IN IP4 127.0.0.1", c.Sent);
        Assert.Equal("c=IN IP4 10.99.8.7", c.Received);
        Assert.Contains(call.Invite.ResponseRewrites, r => r.Field == "response sdp o=");
        Assert.Contains(call.Invite.ResponseRewrites, r => r.Field == "response contact");
    }

    [Fact]
    public async Task An_untouched_response_shows_no_response_rewrite()
    {
        await using var server = await StartAsync();
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint("udp/5060"), Transport = "udp" }).DefaultTimeout();
        var options = await client.OptionsAsync().DefaultTimeout();
        Assert.NotNull(options.Sent);
        Assert.Equal(options.Header("Contact"), options.Sent.Contact);
        Assert.Empty(options.ResponseRewrites);
        var call = await client.CallAsync("1001", packets: 2).DefaultTimeout();
        Assert.StartsWith("v=0", call.Invite.Sent!.Sdp, StringComparison.Ordinal);
        Assert.Empty(call.Invite.ResponseRewrites);
    }

    /// <summary>Plays an ALG: relays UDP both ways and replaces a string in what goes to the server (or to the client).</summary>
    [Fact]
    public async Task Oversized_messages_and_sdp_get_the_protocols_error_or_a_drop_and_a_counter()
    {
        await using var server = await StartAsync(new SipOptions { TrunkPeers = [IPAddress.Loopback] });
        var target = server.EndPoint("udp/5060");
        var listener = server.Listeners.Single(l => l.Id == "udp/5060");
        using var udp = new RawUdp(target);

        // Near 64 KB over UDP (the largest datagram is 65,507 bytes): 2,000 headers, more than the 128 allowed.
        var many = Request("OPTIONS", target, udp.Local, "z9hG4bKbig1", "big-1", 1, extra: string.Concat(Enumerable.Range(0, 2000).Select(i => $"X-Pad-{i}: {new string('p', 16)}\r\n")));
        Assert.InRange(Encoding.UTF8.GetByteCount(many), 55_000, 65_507);
        var before = listener.Malformed;
        udp.Send(many);
        var dropped = await server.WaitForRecordAsync(r => r.Kind == "sip-malformed" && r.Peer == udp.Local.ToString());
        Assert.Equal(("dropped", "too many headers"), (dropped.Verdict, dropped.Detail!["reason"]));
        Assert.Equal(before + 1, listener.Malformed);

        // A 20 KB SDP offer (the limit is 16 KiB): 488, and counted.
        var sdp = Offer + string.Concat(Enumerable.Range(0, 700).Select(i => $"a=x-pad:{i:D20}\r\n"));
        Assert.True(sdp.Length > 20_000);
        udp.Send(Request("INVITE", target, udp.Local, "z9hG4bKbig2", "big-2", 1, body: sdp));
        string response;
        do
        {
            response = await udp.ReceiveAsync();
        }
        while (!response.StartsWith("SIP/2.0 4", StringComparison.Ordinal));

        Assert.Equal("SIP/2.0 488 Not Acceptable Here", StatusLine(response));
        Assert.Equal(before + 2, listener.Malformed);

        // 70 KB over TCP (the limit is 64 KiB): Content-Length over the limit, the body sent; the connection is
        // closed, counted, and the listener answers the next client.
        var tcpListener = server.Listeners.Single(l => l.Id == "tcp/5060");
        var tcpBefore = tcpListener.Malformed;
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await s.ConnectAsync(server.EndPoint("tcp/5060")).DefaultTimeout();
            var head = Request("OPTIONS", server.EndPoint("tcp/5060"), (IPEndPoint)s.LocalEndPoint!, "z9hG4bKbig3", "big-3", 1).Replace("Content-Length: 0", "Content-Length: 70000", StringComparison.Ordinal);
            try
            {
                await s.SendAsync(Encoding.ASCII.GetBytes(head + new string('b', 70_000))).DefaultTimeout();
            }
            catch (SocketException)
            {
            }

            var buffer = new byte[4096];
            var received = new StringBuilder();
            try
            {
                for (var i = 0; i < 100; i++)
                {
                    var n = await s.ReceiveAsync(buffer).DefaultTimeout();
                    if (n == 0)
                    {
                        break;
                    }

                    received.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
            }
            catch (SocketException)
            {
            }

            Assert.DoesNotContain("SIP/2.0 200", received.ToString(), StringComparison.Ordinal);
        }

        Assert.True(tcpListener.Malformed > tcpBefore, "the oversized stream is counted");
        await using var client = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint("tcp/5060"), Transport = "tcp" }).DefaultTimeout();
        Assert.True((await client.OptionsAsync().DefaultTimeout()).Ok);
    }

    private sealed class RewritingRelay : IDisposable
    {
        private readonly Socket _front = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly Socket _back = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly CancellationTokenSource _stop = new();
        private EndPoint? _client;

        public RewritingRelay(IPEndPoint server, string from, string to, bool towardClient = false)
        {
            var (upFrom, downFrom) = towardClient ? (string.Empty, from) : (from, string.Empty);
            _front.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _back.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _back.Connect(server);
            _ = Task.Run(async () =>
            {
                var buffer = new byte[65536];
                while (!_stop.IsCancellationRequested)
                {
                    var r = await _front.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                    _client = r.RemoteEndPoint;
                    await _back.SendAsync(Rewrite(buffer.AsSpan(0, r.ReceivedBytes), upFrom, to), SocketFlags.None, _stop.Token);
                }
            });
            _ = Task.Run(async () =>
            {
                var buffer = new byte[65536];
                while (!_stop.IsCancellationRequested)
                {
                    var n = await _back.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (_client is not null)
                    {
                        await _front.SendToAsync(Rewrite(buffer.AsSpan(0, n), downFrom, to), SocketFlags.None, _client, _stop.Token);
                    }
                }
            });
        }

        public IPEndPoint EndPoint => (IPEndPoint)_front.LocalEndPoint!;

        /// <summary>The datagram with every <paramref name="from"/> replaced (none when empty); Content-Length is not fixed, as a careless ALG would not.</summary>
        private static byte[] Rewrite(ReadOnlySpan<byte> datagram, string from, string to) =>
            from.Length == 0 ? datagram.ToArray() : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(datagram).Replace(from, to, StringComparison.Ordinal));

        public void Dispose()
        {
            _stop.Cancel();
            _front.Dispose();
            _back.Dispose();
            _stop.Dispose();
        }
    }
}

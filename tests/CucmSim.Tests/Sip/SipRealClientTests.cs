using System.Net;
using CucmSim.Serve.Sip;
using CucmSim.Tests.Infrastructure;
using static CucmSim.Tests.Sip.SipTestSupport;

namespace CucmSim.Tests.Sip;

/// <summary>SIPp, sipsak, tshark and nmap against the real server.</summary>
public sealed class SipRealClientTests
{
    [Theory]
    [InlineData("u1", "udp/5060")]
    [InlineData("t1", "tcp/5060")]
    public async Task Sipp_options_register_and_calls_through_the_invite_challenge_complete(string transport, string listener)
    {
        await using var server = await StartAsync(new SipOptions { Password = "secret" });
        var target = server.EndPoint(listener);
        List<string> tls = [];
        await SippAsync(target, transport, ["-sf", Scenario(OptionsScenario)], 5, tls);
        await SippAsync(target, transport, ["-sf", Scenario(RegisterScenario)], 2, tls);
        await SippAsync(target, transport, ["-sf", Scenario(InviteAuthScenario), "-s", "1001"], 3, tls);

        var registered = await server.WaitForRecordAsync(r => r.Kind == "sip-register" && r.Verdict == "registered");
        Assert.Equal("2001@127.0.0.1", registered.Detail!["aor"]);
        Assert.True(server.Context.Devices.TryGet("2001", out var device));
        Assert.Equal("sip", device!.Protocol);
        for (var i = 0; i < 3; i++)
        {
            var call = await server.WaitForRecordAsync(r => r.Kind == "sip-call" && r.Verdict == "completed" && r.Detail!["callId"].StartsWith($"{i + 1}-", StringComparison.Ordinal));
            Assert.Equal(transport switch { "u1" => "udp", "t1" => "tcp", _ => "tls" }, call.Transport);
            Assert.Equal("true", call.Detail!["confirmed"]);
        }

        // Every media port went back to the pool.
        Assert.Equal(0, server.Rtp!.Stats().Allocated);
    }

    [Fact]
    public async Task Openssl_gets_the_callmanager_certificate_and_an_options_answer_on_5061()
    {
        // Debian's SIPp is built without TLS; openssl s_client carries the request instead.
        await using var server = await StartAsync();
        var target = server.EndPoint("tcp/5061");
        var request = Request("OPTIONS", target, new IPEndPoint(IPAddress.Loopback, 5061), "z9hG4bKtls1", "tls-1", 1).Replace("SIP/2.0/UDP", "SIP/2.0/TLS", StringComparison.Ordinal);
        var script = $"(printf '%s' \"$0\"; sleep 2) | openssl s_client -connect {target} -quiet -no_ign_eof 2>&1";
        var result = await ExternalTool.RunAsync("sh", ["-c", script, request], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains("CN = CallManager-", result.All, StringComparison.Ordinal);
        Assert.Contains("SIP/2.0 200 OK", result.All, StringComparison.Ordinal);
        Assert.Contains("CSeq: 1 OPTIONS", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sipsak_options_and_digest_register()
    {
        await using var server = await StartAsync(new SipOptions { Users = new Dictionary<string, string> { ["1001"] = "secret" } });
        var target = server.EndPoint("udp/5060");
        var options = await ExternalTool.RunAsync("sipsak", ["-vv", "-s", $"sip:test@{target}"], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.True(options.ExitCode == 0, options.All);
        Assert.Contains("SIP/2.0 200 OK", options.All, StringComparison.Ordinal);
        Assert.Contains("Server: Cisco-CUCM14.0", options.All, StringComparison.Ordinal);

        var register = await ExternalTool.RunAsync("sipsak", ["-U", "-i", "-C", "sip:1001@127.0.0.1:5099", "-s", $"sip:1001@{target}", "-a", "secret", "-u", "1001", "-vv"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(register.ExitCode == 0, register.All);
        Assert.Contains("authorizing", register.All, StringComparison.Ordinal);
        var ok = await server.WaitForRecordAsync(r => r.Kind == "sip-register" && r.Verdict == "registered");
        Assert.Equal("1001@127.0.0.1", ok.Detail!["aor"]);

        var wrong = await ExternalTool.RunAsync("sipsak", ["-U", "-i", "-C", "sip:1001@127.0.0.1:5099", "-s", $"sip:1001@{target}", "-a", "wrong", "-u", "1001", "-vv"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.NotEqual(0, wrong.ExitCode);
        await server.WaitForRecordAsync(r => r.Kind == "sip-register" && r.Verdict == "forbidden");
    }

    [Fact]
    public async Task Tshark_decodes_the_exchange_without_malformed_packets()
    {
        await using var server = await StartAsync(new SipOptions { Password = "secret" });
        var target = server.EndPoint("udp/5060");
        var port = target.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Live decoding, one line per packet (-l flushes each): status, request, CSeq, SDP c=, malformed, expert severity.
        using var capture = StartProcess("tshark", ["-i", "lo", "-f", $"udp port {port}", "-l", "-n", "-d", $"udp.port=={port},sip", "-Y", "sip",
            "-T", "fields", "-E", "separator=|", "-e", "sip.Status-Line", "-e", "sip.Request-Line", "-e", "sip.CSeq", "-e", "sdp.connection_info",
            "-e", "_ws.malformed", "-e", "_ws.expert.severity", "-a", "duration:60"]);
        var lines = new List<string>();
        var output = System.Threading.Channels.Channel.CreateUnbounded<string>();
        var reader = Task.Run(async () =>
        {
            while (await capture.StandardOutput.ReadLineAsync() is { } line)
            {
                output.Writer.TryWrite(line);
            }

            output.Writer.TryComplete();
        });
        try
        {
            // tshark prints "Capturing on" before dumpcap runs, and even after "Capture started." the first packets can
            // be missed: OPTIONS marks (CSeq 9000 and up, answered by the server) go until tshark shows one.
            using var marker = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            marker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var seen = false;
            for (var mark = 0; mark < 100 && !seen; mark++)
            {
                var cseq = 9000 + mark;
                var options = $"OPTIONS sip:mark@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {marker.LocalEndPoint};branch=z9hG4bKmark{cseq}\r\nFrom: <sip:mark@127.0.0.1>;tag=m{cseq}\r\n" +
                    $"To: <sip:mark@127.0.0.1>\r\nCall-ID: mark-{cseq}\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
                await marker.SendToAsync(System.Text.Encoding.ASCII.GetBytes(options), target).DefaultTimeout();
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    while (!seen)
                    {
                        seen = (await output.Reader.ReadAsync(wait.Token)).Contains($"|{cseq} OPTIONS|", StringComparison.Ordinal);
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }

            Assert.True(seen, "tshark never showed a mark");

            await SippAsync(target, "u1", ["-sf", Scenario(OptionsScenario)], 2);
            await SippAsync(target, "u1", ["-sf", Scenario(RegisterScenario)], 1);
            await SippAsync(target, "u1", ["-sf", Scenario(InviteAuthScenario), "-s", "1001"], 2);

            // Read until both BYEs were answered (the last packets of the exchange); marks still in flight are left out.
            while (lines.Count(l => l.StartsWith("SIP/2.0 200 OK|", StringComparison.Ordinal) && l.Contains(" BYE", StringComparison.Ordinal)) < 2)
            {
                var line = await output.Reader.ReadAsync().AsTask().DefaultTimeout();
                if (!System.Text.RegularExpressions.Regex.IsMatch(line, @"\|9\d{3} OPTIONS\|"))
                {
                    lines.Add(line);
                }
            }
        }
        finally
        {
            await ExternalTool.RunAsync("kill", ["-INT", capture.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).DefaultTimeout();
            await capture.WaitForExitAsync().DefaultTimeout();
            await reader.DefaultTimeout();
        }

        var all = string.Join("\n", lines);
        Assert.Contains("SIP/2.0 401 Unauthorized|", all, StringComparison.Ordinal);
        Assert.Contains("SIP/2.0 401 Unauthorized||1 INVITE|", all, StringComparison.Ordinal);
        Assert.Contains("SIP/2.0 401 Unauthorized||3 BYE|", all, StringComparison.Ordinal);
        Assert.Contains("SIP/2.0 180 Ringing|", all, StringComparison.Ordinal);
        Assert.Contains("IN IP4 127.0.0.1", all, StringComparison.Ordinal);
        Assert.Contains("|BYE sip:", all, StringComparison.Ordinal);
        Assert.True(lines.Count >= 22, all);
        foreach (var line in lines)
        {
            var fields = line.Split('|');
            Assert.True(fields[4].Length == 0, $"malformed: {line}");
        }
    }

    [Fact]
    public async Task Nmap_names_cucm_with_the_cucm_identity()
    {
        await using var server = await StartAsync(new SipOptions { UnknownPeer503 = true });
        var target = server.EndPoint("tcp/5060");
        var nmap = await ExternalTool.RunAsync("nmap", ["-sV", "-sT", "-Pn", "-n", "--version-intensity", "5", "-p", target.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "127.0.0.1"], TimeSpan.FromSeconds(120)).DefaultTimeout(TimeSpan.FromSeconds(130));
        Assert.True(nmap.ExitCode == 0, nmap.All);
        Assert.Contains("Cisco Unified Communications Manager", nmap.Stdout, StringComparison.Ordinal);
    }
}

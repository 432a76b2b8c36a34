using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Echo;
using CucmSim.Protocols.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>The echo's delayed answer (idle=S): from a listener and from the RTP pool, bounded, recorded.</summary>
[Collection("real ports")]
public sealed class EchoIdleTests
{
    private static string PoolAndSnmp(int low, int high) => SimHost.WriteProfile($$"""
        { "name": "idle-pool", "extends": "cucm", "select": { "protocols": ["rtp", "snmp"] }, "rtp": { "cucm": "{{low}}-{{high}}" } }
        """);

    [Fact]
    public async Task A_listener_and_a_pool_port_answer_at_once_and_again_after_the_idle_time()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = PoolAndSnmp(23120, 23121), EphemeralPorts = true });
        var options = new EchoOptions { Timeout = TimeSpan.FromSeconds(3), IdleSeconds = 1 };
        foreach (var target in new[] { server.EndPoint("udp/161"), new IPEndPoint(IPAddress.Loopback, 23120) })
        {
            var echo = await EchoClient.UdpAsync(target, options, null).DefaultTimeout();
            Assert.True(echo.Ok, echo.Error);
            Assert.Equal(1, echo.Reply!.Value.IdleScheduled);
            Assert.False(echo.Reply.Value.IsCallback);

            var callback = await echo.Callback!.DefaultTimeout();
            Assert.True(callback.Ok, $"no callback from {target}");
            var reply = callback.Reply!.Value;
            Assert.True(reply.IsCallback);
            Assert.Equal(echo.Reply.Value.ListenerId, reply.ListenerId);
            Assert.Equal(echo.Reply.Value.Local, reply.Local);
            Assert.Equal(echo.Reply.Value.PeerAsSeen, reply.PeerAsSeen);
            Assert.InRange(callback.Waited, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(4));

            var record = await server.WaitForRecordAsync(r => r.Kind == "echo-idle" && r.Nonce == echo.Nonce);
            Assert.Equal("callback", record.Verdict);
            Assert.Equal(echo.Reply.Value.PeerAsSeen.ToString(), record.Peer);
            Assert.Equal(1000, record.DurationMs);
        }

        Assert.Equal(2, server.Context.EchoCallbacks.Sent);
    }

    [Fact]
    public async Task The_callback_is_never_longer_than_the_echo_and_requests_past_the_limits_get_the_echo_alone()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.snmp"], EphemeralPorts = true, Limits = new ServeLimits { MaxEchoCallbacks = 1 } });
        var target = server.EndPoint("udp/161");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target);
        var buffer = new byte[EchoProbe.MaxEchoLength + 64];

        async Task<string> AskAsync(string line)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(line), SocketFlags.None);
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            return Encoding.ASCII.GetString(buffer, 0, n);
        }

        // Scheduled: the one callback the limit allows; its answer says so.
        var first = await AskAsync("CUCMSIM-PROBE n1 idle=2");
        Assert.EndsWith(" idle=2\n", first, StringComparison.Ordinal);

        // The limit is reached, or the idle is too long: the echo alone, without the acknowledgement.
        var full = await AskAsync("CUCMSIM-PROBE n2 idle=2");
        Assert.StartsWith("CUCMSIM-ECHO n2 ", full, StringComparison.Ordinal);
        Assert.DoesNotContain("idle=", full, StringComparison.Ordinal);
        var tooLong = await AskAsync($"CUCMSIM-PROBE n3 idle={EchoProbe.MaxIdleSeconds + 1}");
        Assert.DoesNotContain("idle=", tooLong, StringComparison.Ordinal);
        Assert.Equal(2, server.Context.EchoCallbacks.Refused);

        // The one callback comes, as long as the plain echo for its nonce, and nothing else follows.
        var n = await socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
        var callback = Encoding.ASCII.GetString(buffer, 0, n);
        Assert.StartsWith("CUCMSIM-IDLE n1 udp/161 ", callback, StringComparison.Ordinal);
        Assert.Equal(first.Length - " idle=2".Length, callback.Length);
        Assert.Equal(0, server.Context.EchoCallbacks.Pending);

        // The record is written after the count: once it is there, so is the counter.
        Assert.Equal("callback", (await server.WaitForRecordAsync(r => r.Kind == "echo-idle" && r.Nonce == "n1")).Verdict);
        var metrics = await server.Control().GetStringAsync("/metrics").DefaultTimeout();
        Assert.Contains("cucmsim_echo_idle_sent_total 1\n", metrics);
        Assert.Contains("cucmsim_echo_idle_refused_total 2\n", metrics);
    }
}

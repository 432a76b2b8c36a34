using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Rtp;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

[Collection("real ports")]
public sealed class RtpPoolTests
{
    private static string SmallPool(int low, int high) => SimHost.WriteProfile($$"""
        { "name": "small-pool", "extends": "cucm", "select": { "protocols": ["rtp"] }, "rtp": { "cucm": "{{low}}-{{high}}" } }
        """);

    [Fact]
    public async Task A_stream_with_gaps_reports_its_loss_and_every_packet_is_echoed()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = SmallPool(23100, 23103) });
        Assert.Equal(4, server.Rtp!.Bound);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(new IPEndPoint(IPAddress.Loopback, 23102));
        var packet = new byte[172];
        var skipped = new HashSet<int> { 10, 11, 50 };
        for (var i = 0; i < 100; i++)
        {
            if (skipped.Contains(i))
            {
                continue;
            }

            RtpHeader.Write(packet, i == 0, 0, (ushort)(40000 + i), (uint)(i * 160), 0xCAFE);
            client.Send(packet);
        }

        // Symmetric RTP: every packet comes back to the socket it came from, unchanged.
        var echoed = 0;
        var buffer = new byte[2048];
        while (echoed < 97)
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            Assert.Equal(172, n);
            Assert.True(RtpHeader.TryParse(buffer.AsSpan(0, n), out var h));
            Assert.Equal(0xCAFEu, h.Ssrc);
            echoed++;
        }

        var live = Assert.Single(server.Rtp.Streams());
        Assert.Equal(3, live.Lost);
        Assert.Equal(23102, live.Port);

        await server.StopAsync().DefaultTimeout();
        var end = await server.WaitForRecordAsync(r => r.Kind == "rtp-stream-end");
        Assert.Equal(97, end.Rtp!.Packets);
        Assert.Equal(100, end.Rtp.Expected);
        Assert.Equal(3, end.Rtp.Lost);
        Assert.Equal(0xCAFEu, end.Rtp.Ssrc);
        Assert.Equal(client.LocalEndPoint!.ToString(), end.Peer);
        Assert.Equal("shutdown", end.Closed);
    }

    [Fact]
    public async Task Ports_are_allocated_in_rtp_rtcp_pairs_and_given_back()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = SmallPool(23110, 23115) });
        var pool = server.Rtp!;
        var ports = new List<int>();
        while (pool.TryAllocate("call", out var port))
        {
            ports.Add(port);
        }

        Assert.Equal([23110, 23112, 23114], ports);
        Assert.Equal(3, pool.Stats().Allocated);
        Assert.True(pool.Release(23112));
        Assert.False(pool.Release(23112));
        Assert.True(pool.TryAllocate("again", out var reused));
        Assert.Equal(23112, reused);
    }

    [Fact]
    public async Task Rtcp_and_other_datagrams_are_echoed_and_counted_apart()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = SmallPool(23120, 23121) });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(new IPEndPoint(IPAddress.Loopback, 23121));
        byte[] rtcp = [0x80, 201, 0, 1, 0, 0, 0, 1];
        byte[] junk = [1, 2, 3];
        var buffer = new byte[64];
        client.Send(rtcp);
        Assert.Equal(rtcp, buffer.AsSpan(0, await client.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout()).ToArray());
        client.Send(junk);
        Assert.Equal(junk, buffer.AsSpan(0, await client.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout()).ToArray());
        var stats = server.Rtp!.Stats();
        Assert.Equal(1, stats.RtcpPackets);
        Assert.Equal(1, stats.OtherPackets);
        Assert.Equal(0, stats.ActiveStreams);
    }
}

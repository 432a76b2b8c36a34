using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Snmp;
using CucmSim.Protocols.Tftp;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>
/// A short garbage flood (the bounded form of loadtests/floods/run.sh garbage): random datagrams at SIP, SNMP and
/// TFTP, each burst followed by a legitimate request from a second socket. The listener handles its datagrams in
/// order on its one socket, so the answer to the request shows the burst was handled: every garbage datagram counts
/// as malformed, every request is answered, and the ledger does not grow by a record per datagram.
/// </summary>
public sealed class GarbageFloodTests
{
    private const int Bursts = 10;
    private const int PerBurst = 100;

    [Theory]
    [InlineData("udp/5060")]
    [InlineData("udp/161")]
    [InlineData("udp/69")]
    public async Task Every_garbage_datagram_is_counted_malformed_and_every_request_between_bursts_is_answered(string listenerId)
    {
        var profile = SimHost.WriteProfile("""
            { "name": "garbage", "extends": "cucm", "select": { "protocols": ["sip", "snmp", "tftp"] } }
            """);
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = profile, EphemeralPorts = true });
        var listener = server.Listeners.Single(l => l.Id == listenerId);
        var target = server.EndPoint(listenerId);
        // Garbage from one socket (TFTP answers each with an ERROR, left unread), requests from another.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var records = server.Ledger.LastSeq;
        var random = new Random(16);
        var reply = new byte[65536];

        for (var burst = 0; burst < Bursts; burst++)
        {
            for (var i = 0; i < PerBurst; i++)
            {
                await socket.SendToAsync(Garbage(random), target).DefaultTimeout();
            }

            await client.SendToAsync(Request(listenerId, burst, target), target).DefaultTimeout();
            var answer = await client.ReceiveFromAsync(reply, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();
            Assert.True(answer.ReceivedBytes > 0);
        }

        Assert.Equal(Bursts * PerBurst, listener.Malformed);
        Assert.Equal(Bursts * (PerBurst + 1), listener.Datagrams);
        // Not a record per datagram: a flow per source, at most 50 malformed-SIP records per 10 s, and the requests' own.
        Assert.True(server.Ledger.LastSeq - records <= 2 * Bursts + 60, $"{server.Ledger.LastSeq - records} ledger records for {Bursts * PerBurst} datagrams");
    }

    /// <summary>1..200 random bytes, the first odd and below 64: not SIP, not a TFTP opcode, not BER, not RTP, not a probe.</summary>
    private static byte[] Garbage(Random random)
    {
        var bytes = new byte[random.Next(1, 201)];
        random.NextBytes(bytes);
        bytes[0] = (byte)(random.Next(32) * 2 + 1);
        return bytes;
    }

    private static byte[] Request(string listenerId, int i, IPEndPoint target)
    {
        switch (listenerId)
        {
            case "udp/5060":
                return Encoding.ASCII.GetBytes(Sip.SipTestSupport.Request("OPTIONS", target, new IPEndPoint(IPAddress.Loopback, 5999), $"z9hG4bK-garbage-{i}", $"garbage-{i}", 1));
            case "udp/161":
                var buffer = new byte[512];
                var n = SnmpCodec.WriteMessage(buffer, SnmpVersion.V2c, "public"u8, PduType.Get, i + 1, 0, 0, [new([1, 3, 6, 1, 2, 1, 1, 1, 0], SnmpValue.Null)]);
                return buffer[..n];
            default:
                var rrq = new byte[512];
                var m = TftpPacket.WriteRequest(rrq, TftpOpcode.ReadRequest, $"SEP00000000{i:X4}.cnf.xml", TftpMode.Octet, default);
                return rrq[..m];
        }
    }
}

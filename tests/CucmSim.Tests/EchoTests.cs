using System.Net;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests;

public sealed class EchoTests
{
    [Fact]
    public async Task Tcp_and_udp_listeners_answer_the_probe_and_the_ledger_holds_the_peer()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t6.sccp", "t2.snmp"], EphemeralPorts = true });
        var tcp = await EchoClient.TcpAsync(server.EndPoint("tcp/2000")).DefaultTimeout();
        Assert.True(tcp.Ok, tcp.Error);
        Assert.Equal("tcp/2000", tcp.Reply!.Value.ListenerId);
        Assert.Equal(server.EndPoint("tcp/2000"), tcp.Reply.Value.Local);

        var udp = await EchoClient.UdpAsync(server.EndPoint("udp/161")).DefaultTimeout();
        Assert.True(udp.Ok, udp.Error);
        Assert.Equal("udp/161", udp.Reply!.Value.ListenerId);

        var closed = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == tcp.Nonce);
        Assert.Equal("echo", closed.Verdict);
        Assert.Equal(tcp.Reply.Value.PeerAsSeen.ToString(), closed.Peer);
        var flow = await server.WaitForRecordAsync(r => r.Kind == "udp-flow" && r.Nonce == udp.Nonce);
        Assert.Equal(udp.Reply.Value.PeerAsSeen.ToString(), flow.Peer);
    }
}

using System.Net;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class BindAddressTests
{
    [Fact]
    public async Task Each_bind_address_gets_its_own_listener_and_answers_with_its_own_address()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = ["t6.sccp", "t2.snmp"],
            Bind = [IPAddress.Loopback, IPAddress.IPv6Loopback],
            EphemeralPorts = true,
        });

        Assert.Equal(["tcp/2000@127.0.0.1", "tcp/2000@::1", "udp/161@127.0.0.1", "udp/161@::1"], server.Listeners.Select(l => l.Id).Order());
        foreach (var l in server.Listeners)
        {
            var result = l.Transport == "tcp"
                ? await EchoClient.TcpAsync(l.BoundEndPoint!).DefaultTimeout()
                : await EchoClient.UdpAsync(l.BoundEndPoint!).DefaultTimeout();
            Assert.True(result.Ok, $"{l.Id}: {result.Error}");
            Assert.Equal(l.Id, result.Reply!.Value.ListenerId);
            Assert.Equal(l.Address, result.Reply.Value.Local.Address);
            Assert.Equal(l.Address, result.Reply.Value.PeerAsSeen.Address);
        }
    }
}

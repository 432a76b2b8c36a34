using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Dhcp;
using CucmSim.Protocols.Dhcp;
using CucmSim.Serve;
using CucmSim.Serve.Dhcp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Dhcp;

/// <summary>serve --dhcp on loopback, reached the way a relay agent reaches it (giaddr, RFC 8357 source port).</summary>
public sealed class DhcpServerTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private SimServer _server = null!;

    public async Task InitializeAsync()
    {
        DhcpPool.TryParse("198.18.9.10-198.18.9.11", out var pool, out _);
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.dhcp-server"], EphemeralPorts = true, Dhcp = new DhcpOptions { Pool = pool } });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private DhcpRelayClient Client(byte last) => new(_server.EndPoint("udp/67"), [0x00, 0x1e, 0x7a, 0x00, 0x00, last]);

    [Fact]
    public async Task Discover_request_release_and_nak_follow_rfc_2131_with_option_150()
    {
        using var phone = Client(1);
        var offer = await phone.DiscoverAsync(Wait).DefaultTimeout();
        Assert.Equal(DhcpMessageType.Offer, offer.Type);
        var reply = offer.Reply!;
        Assert.Equal(IPAddress.Parse("198.18.9.10"), reply.YourAddress);
        Assert.Equal(IPAddress.Loopback, offer.TftpServer);
        Assert.Equal("127.0.0.1", System.Text.Encoding.ASCII.GetString(reply.Get(DhcpOption.TftpServerName)!));
        Assert.Equal(IPAddress.Loopback, reply.GetAddress(DhcpOption.ServerIdentifier));
        Assert.Equal(IPAddress.Parse("255.255.255.0"), reply.GetAddress(DhcpOption.SubnetMask));
        Assert.Equal([0, 0, 0x0e, 0x10], reply.Get(DhcpOption.LeaseTime));
        Assert.Equal(phone.TransactionId, reply.TransactionId);
        Assert.Equal([DhcpOption.RelaySourcePortSubOption, 0], reply.Get(DhcpOption.RelayAgentInformation));

        var ack = await phone.RequestAsync(reply.YourAddress, IPAddress.Loopback, Wait).DefaultTimeout();
        Assert.Equal(DhcpMessageType.Ack, ack.Type);
        Assert.Equal(reply.YourAddress, ack.Reply!.YourAddress);
        Assert.Equal(IPAddress.Loopback, ack.TftpServer);

        // Another phone asks for that address without an offer: NAK.
        using var other = Client(2);
        var nak = await other.RequestAsync(reply.YourAddress, IPAddress.Loopback, Wait).DefaultTimeout();
        Assert.Equal(DhcpMessageType.Nak, nak.Type);
        Assert.Equal(IPAddress.Any, nak.Reply!.YourAddress);

        // It is offered the other address of the pool; a third phone finds the pool full (no offer).
        var second = await other.DiscoverAsync(Wait).DefaultTimeout();
        Assert.Equal(IPAddress.Parse("198.18.9.11"), second.Reply!.YourAddress);
        using var third = Client(3);
        var none = third.DiscoverAsync(TimeSpan.FromSeconds(2));
        await _server.WaitForRecordAsync(r => r.Kind == "dhcp" && r.Verdict == "dhcp-pool-exhausted");
        Assert.Null((await none.DefaultTimeout()).Reply);

        // The first phone releases; the third one, asking for that address, gets it.
        await phone.ReleaseAsync(reply.YourAddress, IPAddress.Loopback).DefaultTimeout();
        await _server.WaitForRecordAsync(r => r.Kind == "dhcp" && r.Verdict == "dhcp-release");
        var request = third.NewRequest(DhcpMessageType.Discover);
        request.Set(DhcpOption.RequestedAddress, reply.YourAddress);
        Assert.Equal(reply.YourAddress, (await third.ExchangeAsync(request, Wait).DefaultTimeout()).Reply!.YourAddress);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "dhcp" && r.Verdict == "dhcp-ack");
        Assert.Equal("00:1e:7a:00:00:01", record.Detail!["chaddr"]);
        Assert.Equal("127.0.0.1", record.Detail["server"]);
        Assert.StartsWith("127.0.0.1:", record.Detail["replyTo"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_datagrams_are_counted_and_recorded_and_the_server_goes_on()
    {
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var random = new Random(67);
            for (var i = 0; i < 50; i++)
            {
                var bytes = new byte[random.Next(1, 600)];
                random.NextBytes(bytes);
                bytes[0] = (byte)(bytes[0] == (byte)'C' ? 0 : bytes[0]); // never a CUCMSIM-PROBE line
                await socket.SendToAsync(bytes, _server.EndPoint("udp/67")).DefaultTimeout();
            }
        }

        var record = await _server.WaitForRecordAsync(r => r.Kind == "dhcp" && r.Verdict == "dhcp-malformed");
        Assert.False(string.IsNullOrEmpty(record.Detail!["error"]));
        Assert.True(_server.Listeners.Single(l => l.Id == "udp/67").Malformed > 0);

        using var phone = Client(9);
        var answer = await phone.DiscoverAsync(Wait).DefaultTimeout();
        Assert.True(answer.Reply is not null || answer.Error is not null);
        await _server.WaitForRecordAsync(r => r.Kind == "dhcp" && r.Detail!.TryGetValue("chaddr", out var c) && c == "00:1e:7a:00:00:09");
    }

    [Fact]
    public async Task Without_the_flag_the_listener_only_echoes()
    {
        await using var plain = await SimHost.StartAsync(new ServeOptions { Only = ["t2.dhcp-server"], EphemeralPorts = true });
        using var phone = new DhcpRelayClient(plain.EndPoint("udp/67"), [0, 1, 2, 3, 4, 5]);
        var answer = phone.DiscoverAsync(TimeSpan.FromSeconds(1));
        var record = await plain.WaitForRecordAsync(r => r.Kind == "udp-flow" && r.Listener == "udp/67");
        Assert.Equal("data", record.Verdict);
        Assert.Null((await answer.DefaultTimeout()).Reply);
        Assert.Equal(0, plain.Listeners.Single(l => l.Id == "udp/67").BytesOut);
    }
}

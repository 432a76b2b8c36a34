using System.Net;
using CucmSim.Serve;

namespace CucmSim.Tests.Serve;

/// <summary>Which address a payload carries (SDP, Contact, SCCP media, generated configs) for a request.</summary>
public sealed class EmbeddedAddressTests
{
    private static readonly IPAddress Reached = IPAddress.Parse("198.19.0.20");
    private static readonly IPAddress Fallback = IPAddress.Parse("198.19.0.10");
    private static readonly IPAddress Peer = IPAddress.Parse("198.18.1.2");

    private static ServeContext Context(IPAddress? external = null) =>
        new(new Ledger(new LedgerOptions { Path = null }), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, new ServeLimits(), CancellationToken.None)
        {
            Certificates = new CertificateService(new CertificateOptions()),
            Identity = new ServerIdentity { ExternalAddress = external },
            ExternalAddress = external ?? Fallback,
        };

    [Fact]
    public void The_address_the_request_reached_is_embedded()
    {
        Assert.Equal(Reached, Context().Embedded(Reached, Peer));
        Assert.Equal(Reached, Context().Embedded(Reached.MapToIPv6(), Peer.MapToIPv6()));
    }

    [Fact]
    public void An_external_address_is_the_users_choice_and_wins()
    {
        var outside = IPAddress.Parse("203.0.113.7");
        Assert.Equal(outside, Context(outside).Embedded(Reached, Peer));
    }

    [Fact]
    public void Never_a_wildcard_nor_loopback_for_a_peer_that_is_not_on_loopback()
    {
        var context = Context();
        Assert.Equal(Fallback, context.Embedded(IPAddress.Any, Peer));
        Assert.Equal(Fallback, context.Embedded(IPAddress.IPv6Any, Peer));
        Assert.Equal(Fallback, context.Embedded(null, Peer));
        Assert.Equal(Fallback, context.Embedded(IPAddress.Loopback, Peer));

        // A peer on loopback reached loopback: that is the address it can use.
        Assert.Equal(IPAddress.Loopback, context.Embedded(IPAddress.Loopback, IPAddress.Loopback));
        Assert.Equal(IPAddress.Parse("127.0.0.2"), context.Embedded(IPAddress.Parse("127.0.0.2"), IPAddress.Loopback));
    }

    [Fact]
    public void The_fallback_prefers_a_bound_address_that_is_not_loopback()
    {
        var identity = new ServerIdentity();
        Assert.Equal(Fallback, identity.Resolve([IPAddress.Loopback, Fallback]));
        Assert.Equal(Fallback, identity.Resolve([Fallback, IPAddress.Loopback]));
        Assert.Equal(IPAddress.Loopback, identity.Resolve([IPAddress.Loopback]));
        Assert.False(IPAddress.IsLoopback(identity.Resolve([IPAddress.IPv6Any])) && HostHasRoutableAddress());
    }

    private static bool HostHasRoutableAddress() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .Any(n => n.GetIPProperties().UnicastAddresses.Any(u => u.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
}

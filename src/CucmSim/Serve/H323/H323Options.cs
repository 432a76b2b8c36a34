using System.Net;
using System.Net.Sockets;

namespace CucmSim.Serve.H323;

/// <summary>How the H.323 listeners answer: the gatekeeper's name, the registration rule, the numbers that answer.</summary>
public sealed record H323Options
{
    /// <summary>The gatekeeper identifier in GCF, GRJ, RCF and RRJ; "GATEKEEPER" is what CUCM sends (and nmap's fingerprint expects).</summary>
    public string GatekeeperId { get; init; } = "GATEKEEPER";

    /// <summary>An RRQ with an alias that starts with this (case-insensitive) is rejected: RRJ invalidAlias.</summary>
    public string RejectAliasPrefix { get; init; } = "reject";

    /// <summary>The registration's time to live in RCF, seconds.</summary>
    public int TimeToLive { get; init; } = 60;

    /// <summary>Registrations kept; beyond this the oldest is forgotten.</summary>
    public int MaxRegistrations { get; init; } = 1024;

    /// <summary>Calls one H.225 connection may hold at once; a further Setup gets ReleaseComplete.</summary>
    public int MaxCallsPerConnection { get; init; } = 8;

    /// <summary>The product and version in the vendor identifier of this side's answers.</summary>
    public string Product { get; init; } = "Cisco CallManager";

    public string Version { get; init; } = "14.0";
}

/// <summary>Where this node's H.225 call signalling answers, for RCF and LCF.</summary>
internal static class H323Ports
{
    /// <summary>The bound H.225 listener (on <paramref name="near"/>'s address when several), or null when it is not served.</summary>
    public static ListenerRuntime? CallSignalling(ServeContext context, ListenerRuntime near)
    {
        var bound = context.Listeners.Where(l => l.Spec.Protocol == "h225" && l.Spec.Transport == Catalog.Transport.Tcp && l.BoundEndPoint is not null).ToList();
        return bound.FirstOrDefault(l => l.Address.Equals(near.Address)) ?? bound.FirstOrDefault();
    }

    /// <summary>An address as it goes on the wire: IPv4-mapped addresses as IPv4.</summary>
    public static IPAddress Plain(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public static bool IsV6(IPAddress address) => Plain(address).AddressFamily == AddressFamily.InterNetworkV6;
}

using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace CucmSim.Serve;

/// <summary>
/// Who this node says it is: its host name (SIP Server and Contact, SNMP sysName, certificates) and the
/// address it puts inside protocol payloads (SCCP, SDP, generated phone configs). Middleboxes do not
/// rewrite addresses inside a config file, so the external address is what phones behind NAT must reach.
/// </summary>
public sealed record ServerIdentity
{
    public string HostName { get; init; } = Environment.MachineName.ToLowerInvariant();

    /// <summary>Address to embed in payloads; null picks <see cref="Resolve"/>'s choice.</summary>
    public IPAddress? ExternalAddress { get; init; }

    /// <summary>The CUCM version the node reports (SIP Server header, SNMP ccmVersion).</summary>
    public string Version { get; init; } = "14.0.1.13900-155";

    /// <summary>
    /// The address to embed where a request does not say which was reached: the configured one, else the first bound
    /// address that is not loopback, else the first non-loopback IPv4 address of the host, else the first bound
    /// address, else 127.0.0.1.
    /// </summary>
    public IPAddress Resolve(IReadOnlyList<IPAddress> bound)
    {
        if (ExternalAddress is not null)
        {
            return ExternalAddress;
        }

        var specific = bound.Where(a => !a.Equals(IPAddress.Any) && !a.Equals(IPAddress.IPv6Any)).ToList();
        if (specific.FirstOrDefault(a => !IPAddress.IsLoopback(a)) is { } routable)
        {
            return routable;
        }

        if (specific.Count > 0 && specific.All(IPAddress.IsLoopback))
        {
            // Bound to loopback only: no peer but a local one can reach this node.
            return specific[0];
        }

        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces().Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback))
            {
                if (nic.GetIPProperties().UnicastAddresses.FirstOrDefault(u => u.Address.AddressFamily == AddressFamily.InterNetwork) is { } unicast)
                {
                    return unicast.Address;
                }
            }
        }
        catch (NetworkInformationException)
        {
        }

        return IPAddress.Loopback;
    }
}

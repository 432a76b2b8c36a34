using System.Net;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

/// <summary>What every listener shares: the ledger, the clock, the limits and the shutdown signal.</summary>
public sealed class ServeContext(Ledger ledger, TimeProvider time, ILoggerFactory loggers, ServeLimits limits, CancellationToken stopping)
{
    public Ledger Ledger { get; } = ledger;
    public TimeProvider Time { get; } = time;
    public ILoggerFactory Loggers { get; } = loggers;
    public ServeLimits Limits { get; } = limits;
    public CancellationToken Stopping { get; } = stopping;

    /// <summary>The delayed answers that UDP echo probes ask for with idle=S.</summary>
    public EchoCallbacks EchoCallbacks { get; } = new(ledger, time, limits.MaxEchoCallbacks);

    /// <summary>The role's media ports, for protocols that open calls (null when the pool is excluded or failed).</summary>
    /// <summary>Calls routed phone to phone (SIP and SCCP), for the metrics.</summary>
    public RoutedCalls Routed { get; } = new();

    public RtpPool? Rtp { get; internal set; }

    /// <summary>Devices registered by SCCP and SIP; read by the control API and SNMP.</summary>
    public DeviceRegistry Devices { get; init; } = new();

    public ServerIdentity Identity { get; init; } = new();

    /// <summary>
    /// The address this node embeds in payloads when a request does not tell which of its addresses was reached
    /// (resolved once at start: --external-address, else a bound or host address that is not loopback).
    /// </summary>
    public IPAddress ExternalAddress { get; init; } = IPAddress.Loopback;

    /// <summary>
    /// The address to embed in an answer (SDP, Contact, SCCP media, a generated config) for a request that reached
    /// <paramref name="local"/> from <paramref name="peer"/>: --external-address when given (a NATed CUCM embeds its
    /// outside address by the user's choice), else the address the request arrived on. Never a wildcard, and never a
    /// loopback address for a peer that is not on loopback.
    /// </summary>
    public IPAddress Embedded(IPAddress? local, IPAddress? peer)
    {
        if (Identity.ExternalAddress is { } configured)
        {
            return configured;
        }

        local = Unmapped(local);
        peer = Unmapped(peer);
        var peerOnLoopback = peer is null || IPAddress.IsLoopback(peer);
        if (local is not null && !local.Equals(IPAddress.Any) && !local.Equals(IPAddress.IPv6Any) && (peerOnLoopback || !IPAddress.IsLoopback(local)))
        {
            return local;
        }

        return ExternalAddress;
    }

    private static IPAddress? Unmapped(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;

    /// <summary>Settings of the SNMP agent and its traps.</summary>
    public Snmp.SnmpOptions Snmp { get; init; } = new();

    /// <summary>How the SCCP listeners answer.</summary>
    public Sccp.SccpOptions Sccp { get; init; } = new();

    /// <summary>How the SIP listeners answer.</summary>
    public Sip.SipOptions Sip { get; init; } = new();

    /// <summary>How the H.323 listeners answer (RAS on 1719, H.225 call signalling on 1720).</summary>
    public H323.H323Options H323 { get; init; } = new();

    /// <summary>Every listener of this serve, bound or not (set before any listener runs): for protocols that name another's port.</summary>
    public IReadOnlyList<ListenerRuntime> Listeners { get; internal set; } = [];

    /// <summary>How the admin web listeners answer (AXL credentials, body limit).</summary>
    public AdminWeb.AdminWebOptions AdminWeb { get; init; } = new();

    /// <summary>Phone provisioning content and transfers (TFTP, HTTP 6970, HTTPS 6971/6972).</summary>
    public Tftp.ProvisioningService? Provisioning { get; internal set; }

    /// <summary>The DHCP server's settings (serve --dhcp); null: the DHCP listener only echoes.</summary>
    public Dhcp.DhcpOptions? Dhcp { get; init; }

    /// <summary>Certificates of the TLS listeners.</summary>
    public required CertificateService Certificates { get; init; }

    /// <summary>The SSH host key (null when the role has no SSH listener).</summary>
    public Ssh.SshHostKey? SshHostKey { get; init; }
}

public sealed record ServeLimits
{
    /// <summary>A TCP connection that sends nothing for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>A UDP flow (peer and listener) with no datagram for this long is closed in the ledger.</summary>
    public TimeSpan FlowIdle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>UDP flows tracked per listener; datagrams of further peers are counted but not recorded.</summary>
    public int MaxFlowsPerListener { get; init; } = 50_000;

    /// <summary>RTP streams tracked by the pool.</summary>
    public int MaxRtpStreams { get; init; } = 100_000;

    /// <summary>An RTP stream with no packet for this long is closed in the ledger.</summary>
    public TimeSpan RtpStreamIdle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Descriptors kept free below the open-files limit: a connection that would eat into them is reset.</summary>
    public int DescriptorHeadroom { get; init; } = 64;

    /// <summary>
    /// The accept queue of every TCP listener (the kernel caps it at net.core.somaxconn). A registration storm of
    /// thousands of phones at once, after a firewall fails over or a site comes back, is what CUCM faces; a short
    /// queue drops their SYNs, and each phone retries only after 1 s, then 3 s.
    /// </summary>
    public int ListenBacklog { get; init; } = 4096;

    /// <summary>Delayed echo answers (idle=S) pending at once; past this a probe gets its echo without a callback.</summary>
    public int MaxEchoCallbacks { get; init; } = 1024;
}

namespace CucmSim.Catalog;

[Flags]
public enum Transports
{
    None = 0,
    Tcp = 1,
    Udp = 2,
    Ip = 4,
}

/// <summary>A protocol a flow can name, the transports it can use, and whether it runs over TLS.</summary>
public sealed record ProtocolInfo(string Id, Transports Transports, bool Tls, string Description);

/// <summary>
/// The protocols that profiles may name. Code defines them because code answers them: every listener
/// answers the universal echo, and a protocol with a native handler answers its own exchange too.
/// </summary>
public static class ProtocolCatalog
{
    private static readonly ProtocolInfo[] All =
    [
        new("opaque", Transports.Tcp | Transports.Udp, false, "Proprietary or undocumented: echo, record what arrives"),
        new("syslog", Transports.Udp | Transports.Tcp, false, "Syslog (RFC 3164, RFC 5424)"),
        new("http", Transports.Tcp, false, "HTTP"),
        new("https", Transports.Tcp, true, "HTTP over TLS"),
        new("ssh", Transports.Tcp, false, "SSH and SFTP"),
        new("dns", Transports.Tcp | Transports.Udp, false, "Domain Name System"),
        new("dhcp", Transports.Udp, false, "DHCP (RFC 2131)"),
        new("dhcpv6", Transports.Udp, false, "DHCPv6 (RFC 8415)"),
        new("tftp", Transports.Udp, false, "TFTP (RFC 1350, 2347-2349, 7440)"),
        new("snmp", Transports.Udp, false, "SNMP agent (v1, v2c, v3)"),
        new("snmp-trap", Transports.Udp, false, "SNMP notifications"),
        new("smux", Transports.Tcp, false, "SNMP multiplexing (RFC 1227)"),
        new("ntp", Transports.Udp, false, "Network Time Protocol"),
        new("ldap", Transports.Tcp | Transports.Udp, false, "LDAP"),
        new("ldaps", Transports.Tcp, true, "LDAP over TLS"),
        new("sccp", Transports.Tcp, false, "Skinny Client Control Protocol"),
        new("sccp-tls", Transports.Tcp, true, "SCCP over TLS"),
        new("sip", Transports.Tcp | Transports.Udp, false, "Session Initiation Protocol (RFC 3261)"),
        new("sip-tls", Transports.Tcp, true, "SIP over TLS"),
        new("tvs", Transports.Tcp, true, "Trust Verification Service"),
        new("capf", Transports.Tcp, true, "Certificate Authority Proxy Function"),
        new("ctl", Transports.Tcp, true, "Certificate Trust List provider"),
        new("cti", Transports.Tcp, false, "CTI QBE (CTIManager)"),
        new("cti-tls", Transports.Tcp, true, "CTI QBE over TLS"),
        new("mgcp", Transports.Udp, false, "Media Gateway Control Protocol (RFC 3435)"),
        new("mgcp-backhaul", Transports.Tcp, false, "MGCP PRI/BRI backhaul"),
        new("h225", Transports.Tcp, false, "H.225 call signalling (TPKT, Q.931)"),
        new("h225-ras", Transports.Udp, false, "H.225 RAS"),
        new("h245", Transports.Tcp, false, "H.245 media control"),
        new("ike", Transports.Udp, false, "Internet Key Exchange"),
        new("ipsec", Transports.Ip, false, "GRE, ESP and AH (IP protocols 47, 50, 51)"),
        new("icmp", Transports.Ip, false, "ICMP (IP protocol 1)"),
        new("rtp", Transports.Udp, false, "RTP and RTCP media (RFC 3550)"),
        new("rmi", Transports.Tcp, false, "Java RMI"),
    ];

    private static readonly Dictionary<string, ProtocolInfo> ById = All.ToDictionary(p => p.Id, StringComparer.Ordinal);

    public static IReadOnlyList<ProtocolInfo> Protocols => All;

    public static bool TryGet(string id, out ProtocolInfo info) => ById.TryGetValue(id, out info!);

    public static ProtocolInfo Get(string id) => ById[id];

    public static bool Allows(ProtocolInfo protocol, Transport transport) => transport switch
    {
        Transport.Tcp => protocol.Transports.HasFlag(Transports.Tcp),
        Transport.Udp => protocol.Transports.HasFlag(Transports.Udp),
        Transport.Both => protocol.Transports.HasFlag(Transports.Tcp) && protocol.Transports.HasFlag(Transports.Udp),
        Transport.Ip => protocol.Transports.HasFlag(Transports.Ip),
        _ => false,
    };
}

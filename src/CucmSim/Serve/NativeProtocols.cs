using System.Net;
using System.Net.Sockets;
using CucmSim.Serve.Tftp;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace CucmSim.Serve;

/// <summary>
/// What a TCP listener with a native protocol runs after the echo sniff. The connection's first bytes were
/// not a probe (they are still unread in the pipe); <see cref="TcpSessionFeature"/> on the connection's
/// features is where the handler reports its verdict, counts and details for the ledger.
/// </summary>
public interface ITcpProtocol
{
    /// <summary>Runs the native exchange until the connection ends. Observe <see cref="ServeContext.Stopping"/>.</summary>
    Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context);
}

/// <summary>How a TCP listener answers beyond the echo.</summary>
public sealed record TcpNative
{
    /// <summary>A stream protocol (SCCP, SIP over TCP, CTI, ...); null with <see cref="Http"/> false: opaque.</summary>
    public ITcpProtocol? Handler { get; init; }

    /// <summary>Kestrel's HTTP server answers (minimal APIs; see <see cref="IHttpProtocol"/>).</summary>
    public bool Http { get; init; }

    /// <summary>What answers HTTP requests on this listener; null with <see cref="Http"/>: a plain 404.</summary>
    public IHttpProtocol? HttpHandler { get; init; }

    /// <summary>TLS is terminated before the handler or HTTP (after the clear-text echo sniff).</summary>
    public HttpsConnectionAdapterOptions? Tls { get; init; }

    /// <summary>
    /// For protocols whose server speaks first (SSH banner, CAPF): hand over after this long without client
    /// bytes. Null waits for the client's first bytes.
    /// </summary>
    public TimeSpan? ServerSpeaksFirstAfter { get; init; }
}

/// <summary>
/// What an HTTP listener of the profile answers. The control API answers only on the control port; every
/// other HTTP listener is dispatched by its local port to its handler (or a plain 404).
/// </summary>
public interface IHttpProtocol
{
    Task HandleAsync(HttpContext http, ListenerRuntime listener, ServeContext context);
}

/// <summary>Per-connection results a native handler fills for the ledger's tcp-close record.</summary>
public sealed class TcpSessionFeature
{
    public string Verdict { get; set; } = "data";

    /// <summary>The peer as the ledger writes it (ip:port, IPv4-mapped shown as IPv4), for handlers to reuse.</summary>
    public string? PeerText { get; init; }

    public long BytesIn { get; set; }
    public long BytesOut { get; set; }
    public Dictionary<string, string>? Detail { get; set; }
}

/// <summary>
/// What a UDP listener with a native protocol runs for each datagram that is not a probe. Called on the
/// listener's receive loop: it must not block. Reply with <see cref="UdpRequest.Reply"/> (from the
/// listener's port) or from sockets of its own (TFTP transfers).
/// </summary>
public interface IUdpProtocol
{
    void OnDatagram(ref UdpRequest request);
}

/// <summary>One received datagram. The data and the address are valid only during the call.</summary>
public ref struct UdpRequest
{
    private readonly Socket _socket;

    internal UdpRequest(ReadOnlySpan<byte> data, SocketAddress peerAddress, in ArrivalAddress local, Socket socket, ListenerRuntime listener, ServeContext context)
    {
        Data = data;
        PeerAddress = peerAddress;
        Local = local;
        _socket = socket;
        Listener = listener;
        Context = context;
    }

    public ReadOnlySpan<byte> Data { get; }

    /// <summary>The address the datagram was sent to (unknown on a listener bound to one address: that address).</summary>
    public ArrivalAddress Local { get; }

    /// <summary>The local address the peer reached, as payloads would embed it: the arrival address, else the listener's.</summary>
    public readonly IPAddress LocalAddress => Local.ToIPAddress() ?? Listener.Address;

    public SocketAddress PeerAddress { get; }

    public ListenerRuntime Listener { get; }

    public ServeContext Context { get; }

    /// <summary>The flow's verdict in the ledger ("data" unless the handler says otherwise: "snmp-get", "malformed", ...).</summary>
    public string? Verdict { get; set; }

    /// <summary>Details for the flow's first ledger record.</summary>
    public Dictionary<string, string>? Detail { get; set; }

    /// <summary>The peer as an endpoint (allocates; IPv4-mapped addresses come back as IPv4).</summary>
    public readonly IPEndPoint Peer
    {
        get
        {
            var template = new IPEndPoint(PeerAddress.Family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            var ep = (IPEndPoint)template.Create(PeerAddress);
            return ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;
        }
    }

    /// <summary>Sends a datagram to the peer from the listener's own port and the address the request was sent to.</summary>
    public readonly int Reply(ReadOnlySpan<byte> datagram)
    {
        var sent = UdpArrival.SendTo(_socket, datagram, PeerAddress, Local);
        Listener.Sent(sent);
        return sent;
    }
}

/// <summary>
/// The one place where protocol ids meet their implementations. A protocol issue adds its case here;
/// everything else (binding, echo, ledger, metrics) is shared.
/// </summary>
internal static class NativeProtocols
{
    public static TcpNative CreateTcp(ListenerRuntime listener, ServeContext context) => listener.Spec.Protocol switch
    {
        "sccp" => new TcpNative { Handler = new Sccp.SccpProtocol(context, tls: false) },
        "sccp-tls" => new TcpNative { Handler = new Sccp.SccpProtocol(context, tls: true), Tls = context.Certificates.TlsOptions("CallManager") },
        "sip" => new TcpNative { Handler = new Sip.SipStreamProtocol("TCP") },
        "sip-tls" => new TcpNative { Handler = new Sip.SipStreamProtocol("TLS"), Tls = context.Certificates.TlsOptions("CallManager") },
        "ctl" => Held("ctl", context.Certificates.TlsOptions("CallManager")),
        "tvs" => Held("tvs", context.Certificates.TlsOptions("TVS")),
        "capf" => Held("capf", context.Certificates.TlsOptions("CAPF")),
        "cti" => Held("cti", null),
        "cti-tls" => Held("cti", context.Certificates.TlsOptions("CallManager")),
        "opaque" when listener.Spec.Flows.Any(f => f.Id == "t8.jtapi") => Held("cti", null),
        "rmi" => new TcpNative { Handler = new Rmi.RmiProtocol() },
        "ssh" when context.SshHostKey is { } hostKey => new TcpNative { Handler = new Ssh.SshServer(hostKey), ServerSpeaksFirstAfter = Ssh.SshServer.BannerAfter },
        "mgcp-backhaul" => new TcpNative { Handler = new Mgcp.MgcpBackhaul() },
        "ldap" => new TcpNative { Handler = new Ldap.LdapProtocol(tls: false) },
        "ldaps" => new TcpNative { Handler = new Ldap.LdapProtocol(tls: true), Tls = context.Certificates.TlsOptions("directory") },
        "h225" => new TcpNative { Handler = new H323.H225Protocol() },
        "http" => Http(listener, context, tls: false),
        "https" => Http(listener, context, tls: true),
        _ => new TcpNative(),
    };

    public static IUdpProtocol? CreateUdp(ListenerRuntime listener, ServeContext context) => listener.Spec.Protocol switch
    {
        "snmp" => Snmp.SnmpAgent.For(context).CreateHandler(listener),
        "sip" => new Sip.SipUdpProtocol(listener, context),
        "syslog" => new Syslog.SyslogReceiver(listener, context),
        "ike" => new Ike.IkeResponder(listener),
        "mgcp" => new Mgcp.MgcpCallAgent(listener, context),
        "dhcp" => context.Dhcp is { } dhcp ? new Dhcp.DhcpServer(listener, context, dhcp) : null,
        "h225-ras" => new H323.RasGatekeeper(listener, context),
        "tftp" => context.Provisioning is { } provisioning ? new TftpServer(listener, context, provisioning) : null,
        _ => null,
    };

    /// <summary>Accepted (after TLS when given), held and recorded; nothing is sent (docs/cti.md).</summary>
    private static TcpNative Held(string verdict, HttpsConnectionAdapterOptions? tls) => new() { Handler = new Held.HeldConnection(verdict), Tls = tls };

    /// <summary>
    /// Provisioning (6970-6972) serves files; the browser's listeners (the admin web: 80, 8080, 443, 8443) serve
    /// the admin pages, AXL and UDS; the profile's other HTTP listeners answer a plain 404.
    /// </summary>
    private static TcpNative Http(ListenerRuntime listener, ServeContext context, bool tls) =>
        AdminWeb.AdminWebPorts.IsAdminWeb(listener.Spec.Flows)
            ? new() { Handler = new AdminWeb.AdminWebProtocol(context.AdminWeb), Tls = tls ? AdminWeb.AdminWebPorts.Tls(context.Certificates) : null }
            : new()
    {
        Http = true,
        HttpHandler = context.Provisioning is { } provisioning && listener.Spec.Flows.Any(ProvisioningPorts.IsProvisioningFlow)
            ? new ProvisioningHttp(provisioning)
            : null,
        Tls = tls ? context.Certificates.TlsOptions("tomcat") : null,
    };
}

using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;

namespace CucmSim.Serve;

public enum ListenerStatus
{
    Bound,
    Failed,
}

/// <summary>A listener as it runs: what it was asked to bind, what it got, and what it has seen.</summary>
public sealed class ListenerRuntime
{
    private long _connections;
    private long _activeConnections;
    private long _refused;
    private long _datagrams;
    private long _bytesIn;
    private long _bytesOut;
    private long _echoes;
    private long _malformed;
    private long _hits;
    private string? _lastPeer;
    private long _lastHitTicks;

    public ListenerRuntime(ListenerSpec spec, string id, IPAddress address, int port)
    {
        Spec = spec;
        Id = id;
        Address = address;
        Port = port;
    }

    public ListenerSpec Spec { get; }

    /// <summary>The profile flows this listener serves (several when rows of the guide share a port).</summary>
    public string[] FlowIds => _flowIds ??= Spec.Flows.Select(f => f.Id).ToArray();

    private string[]? _flowIds;
    private string? _localText;
    private string? _acceptError;

    /// <summary>Listener id as the echo and the ledger name it: "tcp/2000", or "tcp/2000@ADDR" when several addresses are bound.</summary>
    public string Id { get; }

    public IPAddress Address { get; }

    /// <summary>The port asked for (profile port plus offset, 0 in tests).</summary>
    public int Port { get; }

    public IPEndPoint? BoundEndPoint { get; private set; }

    /// <summary>The bound endpoint as the ledger writes it (empty while unbound).</summary>
    public string LocalText => _localText ??= BoundEndPoint is null ? string.Empty : Text.EndPoint(BoundEndPoint);

    public Socket? Socket { get; private set; }

    public ListenerStatus Status { get; private set; } = ListenerStatus.Failed;

    public string? Error { get; private set; }

    public string? Fix { get; private set; }

    public string Transport => Spec.Transport == Catalog.Transport.Tcp ? "tcp" : "udp";

    public long Connections => Interlocked.Read(ref _connections);
    public long ActiveConnections => Interlocked.Read(ref _activeConnections);

    /// <summary>Connections reset as soon as accepted because descriptors ran short.</summary>
    public long Refused => Interlocked.Read(ref _refused);
    public long Datagrams => Interlocked.Read(ref _datagrams);
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    public long BytesOut => Interlocked.Read(ref _bytesOut);
    public long Echoes => Interlocked.Read(ref _echoes);
    public long Malformed => Interlocked.Read(ref _malformed);
    public long Hits => Interlocked.Read(ref _hits);
    public string? LastPeer => Volatile.Read(ref _lastPeer);
    public DateTimeOffset? LastHit => Interlocked.Read(ref _lastHitTicks) is var t and > 0 ? new DateTimeOffset(t, TimeSpan.Zero) : null;

    /// <summary>A ledger record of this listener with the fields every hit shares.</summary>
    public LedgerRecord Record(string kind, string local, string peer) => new()
    {
        Kind = kind,
        Listener = Id,
        Role = Spec.Role,
        Flows = FlowIds,
        Protocol = Spec.Protocol,
        Transport = Transport,
        Local = local,
        Peer = peer,
    };

    /// <summary>The same, with the listener's bound endpoint as the local side.</summary>
    public LedgerRecord Record(string kind, string peer) =>
        Record(kind, LocalText, peer);

    public void MarkBound(Socket socket)
    {
        Socket = socket;
        BoundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _localText = null;
        Status = ListenerStatus.Bound;
    }

    public void MarkFailed(string error, string? fix)
    {
        Status = ListenerStatus.Failed;
        Error = error;
        Fix = fix;
    }

    /// <summary>Why accepting connections fails now (the descriptor limit reached), or null while it works.</summary>
    public string? AcceptError => Volatile.Read(ref _acceptError);

    /// <summary>Records a failing accept; true the first time since the last success (the caller logs then).</summary>
    public bool AcceptFailed(string error) => Interlocked.Exchange(ref _acceptError, error) is null;

    /// <summary>An accept worked again; true when it had been failing.</summary>
    public bool AcceptSucceeded() => Volatile.Read(ref _acceptError) is not null && Interlocked.Exchange(ref _acceptError, null) is not null;

    public void Hit(string peer, DateTimeOffset now)
    {
        Interlocked.Increment(ref _hits);
        Volatile.Write(ref _lastPeer, peer);
        Interlocked.Exchange(ref _lastHitTicks, now.UtcTicks);
    }

    public void ConnectionOpened() { Interlocked.Increment(ref _connections); Interlocked.Increment(ref _activeConnections); }
    public void ConnectionClosed() => Interlocked.Decrement(ref _activeConnections);
    public void ConnectionRefused() => Interlocked.Increment(ref _refused);
    public void Datagram(int bytes) { Interlocked.Increment(ref _datagrams); Interlocked.Add(ref _bytesIn, bytes); }
    public void Received(long bytes) => Interlocked.Add(ref _bytesIn, bytes);
    public void Sent(long bytes) => Interlocked.Add(ref _bytesOut, bytes);
    public void Echoed() => Interlocked.Increment(ref _echoes);
    public void MalformedInput() => Interlocked.Increment(ref _malformed);
}

/// <summary>Binds listener sockets and explains failures in terms an operator can act on.</summary>
public static class SocketBinder
{
    /// <summary>Binds (without listening) a TCP or UDP socket; on failure marks the runtime failed with reason and fix.</summary>
    public static void Bind(ListenerRuntime listener)
    {
        var spec = listener.Spec;
        if (listener.Port > 65535)
        {
            listener.MarkFailed($"port {spec.Port} plus the offset is {listener.Port}, above 65535", "use a smaller --port-offset");
            return;
        }

        Socket? socket = null;
        try
        {
            var tcp = spec.Transport == Transport.Tcp;
            socket = new Socket(listener.Address.AddressFamily, tcp ? SocketType.Stream : SocketType.Dgram, tcp ? ProtocolType.Tcp : ProtocolType.Udp);
            if (listener.Address.Equals(IPAddress.IPv6Any))
            {
                // One socket serves IPv4 and IPv6: half the file descriptors of two sockets.
                socket.DualMode = true;
            }

            if (tcp)
            {
                // Lets a restarted server bind while old connections sit in TIME_WAIT; on Linux it does not
                // let two listeners share a TCP port.
                SetReuseAddressOnly(socket);
                socket.NoDelay = true;
            }

            socket.Bind(new IPEndPoint(listener.Address, listener.Port));
            if (!tcp && (listener.Address.Equals(IPAddress.Any) || listener.Address.Equals(IPAddress.IPv6Any)))
            {
                // Replies leave from the address each datagram was sent to (see UdpArrival).
                UdpArrival.Enable(socket);
            }

            listener.MarkBound(socket);
        }
        catch (SocketException ex)
        {
            socket?.Dispose();
            var (error, fix) = Explain(ex.SocketErrorCode, listener.Transport, listener.Port, ex.Message);
            listener.MarkFailed(error, fix);
        }
    }

    /// <summary>
    /// SO_REUSEADDR alone. .NET's ReuseAddress on Linux also sets SO_REUSEPORT, which would let a second
    /// server (another cucmsim, say) bind the same TCP port silently and take half of its connections.
    /// </summary>
    public static void SetReuseAddressOnly(Socket socket)
    {
        const int SolSocket = 1;
        const int SoReuseAddr = 2;
        socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
    }

    public static (string Error, string? Fix) Explain(SocketError code, string transport, int port, string message) => code switch
    {
        SocketError.AccessDenied => (
            $"permission denied binding {transport}/{port}",
            port < 1024
                ? $"ports below 1024 need root or CAP_NET_BIND_SERVICE (sudo setcap cap_net_bind_service=+ep {Environment.ProcessPath}), or shift every port with --port-offset 10000"
                : "check the address and local security policy, or shift ports with --port-offset"),
        SocketError.AddressAlreadyInUse => (
            $"address already in use: another socket holds {transport}/{port}",
            $"find the holder with: ss -{(transport == "tcp" ? "t" : "u")}an 'sport = :{port}' -p; stop it, or shift every port with --port-offset N{(EphemeralPorts.BindAdvice(port) is { } advice ? "; " + advice : string.Empty)}"),
        SocketError.AddressNotAvailable => (
            $"cannot bind {transport}/{port}: the address is not configured on this host",
            "check --bind against the host's addresses (ip -brief address)"),
        SocketError.TooManyOpenSockets => (
            $"cannot bind {transport}/{port}: out of file descriptors",
            "raise the open-files limit (ulimit -n) or bind fewer ports (--except, a smaller RTP range)"),
        _ => ($"cannot bind {transport}/{port}: {message}", null),
    };
}

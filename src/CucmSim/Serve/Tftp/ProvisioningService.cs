using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;

namespace CucmSim.Serve.Tftp;

/// <summary>One request on a provisioning path, as the ledger records it.</summary>
public sealed record ProvisioningEvent
{
    public required ListenerRuntime Listener { get; init; }
    public required string Channel { get; init; }
    public required string Peer { get; init; }
    public string? Local { get; init; }
    public required string File { get; init; }
    public required string Outcome { get; init; }
    public long Bytes { get; init; }
    public long? Size { get; init; }
    public string? Options { get; init; }
    public string? Negotiated { get; init; }
    public int? DataPort { get; init; }
    public string? Error { get; init; }
    public long DurationMs { get; init; }
    public long? PacketsIn { get; init; }
    public long? PacketsOut { get; init; }
    public Dictionary<string, string>? Extra { get; init; }
}

/// <summary>
/// Phone provisioning shared by the TFTP listeners (69, 6969) and the HTTP/HTTPS ones (6970-6972): the
/// content, the bound on concurrent transfers, the pinned data-port pool and the ledger records.
/// </summary>
public sealed class ProvisioningService
{
    private readonly ServeContext _context;
    private readonly DataPortPool? _pool;
    private readonly Lazy<TftpIoLoop[]> _io;
    private int _active;
    private int _nextLoop;

    public ProvisioningService(TftpOptions options, ProvisioningPorts ports, ServeContext context)
    {
        Options = options;
        _context = context;
        Content = new ProvisioningContent(options, ports, context);
        _io = new Lazy<TftpIoLoop[]>(() =>
        {
            // One receive thread per core (at most four): transfers are spread over them round robin.
            var loops = Enumerable.Range(0, Math.Clamp(Environment.ProcessorCount, 1, 4)).Select(_ => new TftpIoLoop()).ToArray();
            foreach (var loop in loops)
            {
                context.Stopping.Register(loop.Dispose);
            }

            return loops;
        });
        if (options.PortMode == TftpPortMode.Range)
        {
            var range = options.DataPorts ?? throw new ArgumentException("TFTP data-port range mode needs a port range");
            // The range is taken as given (the ports a firewall rule or a container map names), not offset.
            _pool = new DataPortPool(range);
        }
    }

    public static ProvisioningService Create(TftpOptions options, Profile profile, string role, int portOffset, bool ephemeralPorts, ServeContext context) =>
        new(options, ProvisioningPorts.FromProfile(profile, role, ephemeralPorts ? 0 : portOffset), context);

    public TftpOptions Options { get; }

    public ProvisioningContent Content { get; }

    public int ActiveTransfers => Volatile.Read(ref _active);

    internal DataPortPool? Pool => _pool;

    /// <summary>
    /// The I/O loop with the fewest transfers (round robin among equals); the transfer gives it back with
    /// <see cref="TftpIoLoop.Leave"/> when it ends. Balanced by load, not by turn: transfers end in any
    /// order, and a loop left with two long transfers while another has none halves their pace.
    /// </summary>
    internal TftpIoLoop NextIoLoop()
    {
        var loops = _io.Value;
        var start = (int)((uint)Interlocked.Increment(ref _nextLoop) % (uint)loops.Length);
        var best = loops[start];
        for (var i = 1; i < loops.Length; i++)
        {
            var candidate = loops[(start + i) % loops.Length];
            if (candidate.Load < best.Load)
            {
                best = candidate;
            }
        }

        best.Enter();
        return best;
    }

    internal bool TryEnter()
    {
        if (Interlocked.Increment(ref _active) > Options.MaxTransfers)
        {
            Interlocked.Decrement(ref _active);
            return false;
        }

        return true;
    }

    internal void Exit() => Interlocked.Decrement(ref _active);

    public void Record(ProvisioningEvent e)
    {
        var bytes = e.Bytes.ToString(CultureInfo.InvariantCulture);
        var detail = new Dictionary<string, string>(8, StringComparer.Ordinal)
        {
            ["file"] = e.File,
            ["path"] = e.Channel,
            ["outcome"] = e.Outcome,
            ["bytes"] = bytes,
        };
        if (e.Size is { } size)
        {
            detail["size"] = size == e.Bytes ? bytes : size.ToString(CultureInfo.InvariantCulture);
        }

        if (!string.IsNullOrEmpty(e.Options))
        {
            detail["options"] = e.Options;
        }

        if (!string.IsNullOrEmpty(e.Negotiated))
        {
            detail["negotiated"] = e.Negotiated;
        }

        if (e.DataPort is { } port)
        {
            detail["dataPort"] = port.ToString(CultureInfo.InvariantCulture);
        }

        if (e.Extra is not null)
        {
            foreach (var (k, v) in e.Extra)
            {
                detail[k] = v;
            }
        }

        _context.Ledger.Append(new LedgerRecord
        {
            Kind = "provisioning",
            Listener = e.Listener.Id,
            Role = e.Listener.Spec.Role,
            Flows = e.Listener.FlowIds,
            Protocol = e.Channel,
            Transport = e.Channel == "tftp" ? "udp" : "tcp",
            Local = e.Local,
            Peer = e.Peer,
            Verdict = e.Outcome,
            BytesOut = e.Bytes,
            PacketsIn = e.PacketsIn,
            PacketsOut = e.PacketsOut,
            DurationMs = e.DurationMs,
            Error = e.Error,
            Detail = detail,
        });
    }
}

/// <summary>The pinned data ports of range mode: each transfer binds a free one, round robin.</summary>
internal sealed class DataPortPool(PortRange range)
{
    private readonly bool[] _used = new bool[range.Count];
    private readonly Lock _lock = new();
    private int _next;

    public PortRange Range { get; } = range;

    /// <summary>Binds a socket on a free port of the range at <paramref name="address"/>; null when none is free.</summary>
    public Socket? TryBind(IPAddress address)
    {
        lock (_lock)
        {
            for (var i = 0; i < _used.Length; i++)
            {
                var index = (_next + i) % _used.Length;
                if (_used[index])
                {
                    continue;
                }

                var socket = TftpSockets.TryBind(address, Range.Low + index);
                if (socket is null)
                {
                    continue;
                }

                _used[index] = true;
                _next = index + 1;
                return socket;
            }
        }

        return null;
    }

    public void Release(int port)
    {
        lock (_lock)
        {
            if (Range.Contains(port))
            {
                _used[port - Range.Low] = false;
            }
        }
    }
}

internal static class TftpSockets
{
    public static Socket? TryBind(IPAddress address, int port)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && (address.Equals(IPAddress.IPv6Any) || address.IsIPv4MappedToIPv6))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>
    /// A second socket on the transfer's port, connected to the peer: the kernel then keeps the route of
    /// every datagram to the peer (an unconnected send looks it up per datagram) and hands the peer's
    /// packets to this socket, while <paramref name="bound"/> still receives those of any other sender
    /// (which get ERROR 5). Both sockets carry SO_REUSEADDR only, set after <paramref name="bound"/> took
    /// its port alone, so no other transfer is ever given the same port. Null when the kernel refuses.
    /// </summary>
    public static unsafe Socket? TryConnectedTwin(Socket bound, SocketAddress peer)
    {
        var twin = new Socket(bound.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (bound.AddressFamily == AddressFamily.InterNetworkV6)
            {
                twin.DualMode = bound.DualMode;
            }

            SocketBinder.SetReuseAddressOnly(bound);
            SocketBinder.SetReuseAddressOnly(twin);
            twin.Bind(bound.LocalEndPoint!);
            var address = peer.Buffer.Span[..peer.Size];
            fixed (byte* a = address)
            {
                if (Tmds.Linux.LibC.connect((int)twin.Handle, (Tmds.Linux.sockaddr*)a, (uint)address.Length) != 0)
                {
                    twin.Dispose();
                    return null;
                }
            }

            return twin;
        }
        catch (SocketException)
        {
            twin.Dispose();
            return null;
        }
    }
}

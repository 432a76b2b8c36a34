using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Echo;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

/// <summary>One UDP peer of one listener: recorded at its first datagram, then counted until it goes idle.</summary>
internal sealed class UdpFlow(string peer, string local, long startedTimestamp)
{
    public string Peer { get; } = peer;
    public string Local { get; } = local;
    public long Started { get; } = startedTimestamp;
    public long LastSeen;
    public long PacketsIn;
    public long PacketsOut;
    public long BytesIn;
    public long BytesOut;
    public string Verdict = "data";
}

/// <summary>
/// A receive loop per UDP listener (ReceiveFromAsync with a reused SocketAddress and one pinned buffer: no
/// allocation per datagram). Probes get the echo; anything else is recorded. Flows are bounded per listener.
/// </summary>
internal sealed partial class UdpListenerLoop
{
    private readonly ListenerRuntime _listener;
    private readonly ServeContext _context;
    private readonly Socket _socket;
    private readonly Dictionary<SocketAddress, UdpFlow> _flows = [];
    private readonly Lock _flowsLock = new();
    private readonly ILogger _log;
    private readonly string _localText;
    private readonly IUdpProtocol? _native;
    private readonly IPEndPoint _addressTemplate;
    private long _untracked;

    public UdpListenerLoop(ListenerRuntime listener, ServeContext context, IUdpProtocol? native)
    {
        _native = native;
        _addressTemplate = new IPEndPoint(listener.Address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        _listener = listener;
        _context = context;
        _socket = listener.Socket!;
        _log = context.Loggers.CreateLogger("CucmSim.Udp");
        _localText = Text.EndPoint(listener.BoundEndPoint);
    }

    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>
    /// Receives on a dedicated thread with blocking receives: one recvfrom per datagram, no async completion
    /// hop through the thread pool (that hop cost more than the whole SIP exchange). Ends when the socket is
    /// disposed (StopAsync) or the token is cancelled.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Run(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken cancellationToken)
    {
        var buffer = GC.AllocateArray<byte>(65536, pinned: true);
        var reply = GC.AllocateArray<byte>(EchoProbe.MaxEchoLength, pinned: true);
        var address = new SocketAddress(_socket.AddressFamily);
        using var registration = cancellationToken.Register(() => _socket.Dispose());
        while (!cancellationToken.IsCancellationRequested)
        {
            int received;
            ArrivalAddress local;
            try
            {
                received = UdpArrival.Receive(_socket, buffer, address, out local, out var error);
                if (received < 0)
                {
                    if (error is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize && !cancellationToken.IsCancellationRequested)
                    {
                        // An ICMP error for an earlier reply, or an oversized datagram: the loop goes on.
                        continue;
                    }

                    break;
                }
            }
            catch (ObjectDisposedException)
            {
                break;
            }

            try
            {
                Handle(buffer.AsSpan(0, received), address, local, reply);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _listener.MalformedInput();
                LogHandlerError(_log, _listener.Id, ex);
            }
        }
    }

    private void Handle(ReadOnlySpan<byte> datagram, SocketAddress address, in ArrivalAddress local, byte[] reply)
    {
        var now = _context.Time.GetTimestamp();
        _listener.Datagram(datagram.Length);
        var isProbe = EchoProbe.TryParseDatagram(datagram, out var nonceRange, out var idle);
        string? verdict = isProbe ? "echo" : "data";
        Dictionary<string, string>? detail = null;
        if (!isProbe && _native is not null)
        {
            var request = new UdpRequest(datagram, address, local, _socket, _listener, _context);
            _native.OnDatagram(ref request);
            verdict = request.Verdict ?? verdict;
            detail = request.Detail;
        }

        UdpFlow? flow;
        bool isNew;
        lock (_flowsLock)
        {
            isNew = !_flows.TryGetValue(address, out flow);
            if (isNew && _flows.Count < _context.Limits.MaxFlowsPerListener)
            {
                var key = new SocketAddress(address.Family, address.Size);
                address.Buffer.Span[..address.Size].CopyTo(key.Buffer.Span);
                flow = new UdpFlow(Text.EndPoint(_addressTemplate.Create(address)), LocalText(local), now) { Verdict = verdict };
                _flows[key] = flow;
            }

            if (flow is not null)
            {
                flow.LastSeen = now;
                flow.PacketsIn++;
                flow.BytesIn += datagram.Length;
            }
        }

        if (flow is null)
        {
            Interlocked.Increment(ref _untracked);
        }
        else if (isNew)
        {
            _listener.Hit(flow.Peer, _context.Time.GetUtcNow());
            _context.Ledger.Append(_listener.Record("udp-flow", flow.Local, flow.Peer) with
            {
                Verdict = flow.Verdict,
                Nonce = isProbe ? System.Text.Encoding.ASCII.GetString(datagram[nonceRange]) : null,
                First = isProbe ? null : Text.Escape(datagram),
                BytesIn = datagram.Length,
                Detail = detail,
            });
        }

        if (isProbe)
        {
            var peer = (IPEndPoint)_addressTemplate.Create(address);
            // The echo names the address the probe reached, as TCP does, not the wildcard the socket is bound to.
            var reached = local.ToIPAddress() is { } arrival ? new IPEndPoint(arrival, _listener.BoundEndPoint!.Port) : _listener.BoundEndPoint!;
            var scheduled = idle > 0 && ScheduleCallback(idle, datagram[nonceRange], address, local, reached, peer);
            var n = EchoProbe.FormatEcho(reply, datagram[nonceRange], _listener.Id, reached, peer, scheduled ? idle : 0);
            int sent;
            try
            {
                sent = UdpArrival.SendTo(_socket, reply.AsSpan(0, n), address, local);
            }
            catch (SocketException)
            {
                // A full buffer or an ICMP error pending for this peer: the probe retries.
                return;
            }

            _listener.Sent(sent);
            _listener.Echoed();
            if (flow is not null)
            {
                lock (_flowsLock)
                {
                    flow.PacketsOut++;
                    flow.BytesOut += sent;
                }
            }
        }
    }

    /// <summary>
    /// The delayed answer an idle probe asks for: after <paramref name="idle"/> seconds, from the same local address and
    /// port, to the peer as seen now (a timer thread sends it; this one does not wait).
    /// </summary>
    private bool ScheduleCallback(int idle, ReadOnlySpan<byte> nonce, SocketAddress address, ArrivalAddress local, IPEndPoint reached, IPEndPoint peer)
    {
        var payload = new byte[EchoProbe.MaxEchoLength];
        var length = EchoProbe.FormatEcho(payload, nonce, _listener.Id, reached, peer, callback: true);
        var to = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(to.Buffer.Span);
        var record = _listener.Record("echo-idle", Text.EndPoint(reached), Text.EndPoint(peer)) with { Nonce = System.Text.Encoding.ASCII.GetString(nonce) };
        return _context.EchoCallbacks.TrySchedule(idle, record, () =>
        {
            var sent = UdpArrival.SendTo(_socket, payload.AsSpan(0, length), to, local);
            _listener.Sent(sent);
            return sent;
        });
    }

    /// <summary>The local end of a flow: the address the datagram reached, else the bound one.</summary>
    private string LocalText(in ArrivalAddress local) =>
        local.ToIPAddress() is { } arrival ? Text.EndPoint(new IPEndPoint(arrival, _listener.BoundEndPoint!.Port)) : _localText;

    /// <summary>Closes flows idle longer than the limit (all of them when <paramref name="all"/>), writing their counters.</summary>
    public void Sweep(bool all)
    {
        List<UdpFlow>? ended = null;
        lock (_flowsLock)
        {
            foreach (var (key, flow) in _flows)
            {
                if (all || _context.Time.GetElapsedTime(flow.LastSeen) >= _context.Limits.FlowIdle)
                {
                    (ended ??= []).Add(flow);
                    _flows.Remove(key);
                }
            }
        }

        if (ended is null)
        {
            return;
        }

        foreach (var flow in ended)
        {
            _context.Ledger.Append(_listener.Record("udp-flow-end", flow.Local, flow.Peer) with
            {
                Verdict = flow.Verdict,
                PacketsIn = flow.PacketsIn,
                PacketsOut = flow.PacketsOut,
                BytesIn = flow.BytesIn,
                BytesOut = flow.BytesOut,
                DurationMs = (long)(_context.Time.GetElapsedTime(flow.Started) - _context.Time.GetElapsedTime(flow.LastSeen)).TotalMilliseconds,
                Closed = all ? "shutdown" : "idle",
            });
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "{Listener}: datagram handler failed")]
    private static partial void LogHandlerError(ILogger logger, string listener, Exception exception);
}

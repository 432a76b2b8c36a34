using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Tftp;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// One read transfer: OACK (when options were granted), then DATA clocked by ACKs, windowsize blocks per
/// ACK (RFC 7440), from its own socket (the server's transfer ID) unless single-port mode shares the
/// listener's. Retransmits on timeout only; a duplicate ACK never sends data again (the Sorcerer's
/// Apprentice bug, RFC 1123 §4.2.3.1). Block numbers roll over from 65535 to 0.
/// </summary>
internal sealed partial class TftpTransfer
{
    /// <summary>Transfers of at least this many blocks send from a socket connected to the peer (see <see cref="TftpSockets.TryConnectedTwin"/>).</summary>
    internal const long ConnectedFromBlocks = 64;

    private readonly TftpServer _server;
    private readonly TftpRequest _request;
    private readonly ProvisioningFile _file;
    private readonly Negotiated _negotiated;
    private readonly Socket _socket;
    private readonly bool _connected;
    private Socket? _guard;
    private readonly string _peerText;
    private readonly byte[] _buffer;
    private readonly long _totalBlocks;
    private readonly long _started;
    private readonly Lock _lock = new();
    private readonly int _dataPort;
    private readonly TimeProvider _time;
    private ITimer? _timer;
    private TftpIoLoop? _loop;
    private bool _oackPending;
    private long _acked;
    private long _sent;
    private long _fastResendFor = -1;
    private bool _segmentation;
    private long _lastProgress;
    private int _retries;
    private long _packetsIn;
    private long _packetsOut;
    private long _retransmits;
    private long _duplicates;
    private long _foreign;
    private int _done;
    private int _closed;

    public TftpTransfer(TftpServer server, TftpRequest request, ProvisioningFile file, Negotiated negotiated, SocketAddress peer, string peerText, Socket socket, bool sharesListenerSocket)
    {
        _server = server;
        _request = request;
        _file = file;
        _negotiated = negotiated;
        PeerAddress = peer;
        _peerText = peerText;
        SharesListenerSocket = sharesListenerSocket;
        _buffer = GC.AllocateUninitializedArray<byte>(TftpPacket.HeaderLength + Math.Max(negotiated.BlockSize, TftpPacket.MaxRequestLength));
        _totalBlocks = (file.Length / negotiated.BlockSize) + 1;
        _time = server.Context.Time;
        _started = _time.GetTimestamp();
        _dataPort = ((IPEndPoint)socket.LocalEndPoint!).Port;

        // A long transfer talks to its peer over a connected twin of the data socket; the socket bound first
        // stays open beside it to answer any other sender (RFC 1350 §4).
        var twin = !sharesListenerSocket && _totalBlocks >= ConnectedFromBlocks ? TftpSockets.TryConnectedTwin(socket, peer) : null;
        _socket = twin ?? socket;
        _guard = twin is null ? null : socket;
        _connected = twin is not null;

        // A window leaves as one segmentation-offload send unless turned off (TftpOptions.Segmentation).
        _segmentation = negotiated.WindowSize > 1 && server.Service.Options.Segmentation;
    }

    public SocketAddress PeerAddress { get; }

    public bool SharesListenerSocket { get; }

    /// <summary>True once the client has sent anything to this transfer (so a new RRQ is not a repeat).</summary>
    public bool HasHeardFromPeer => Interlocked.Read(ref _packetsIn) > 0;

    public void Start()
    {
        lock (_lock)
        {
            // Receiving is set up before the first packet leaves, so the answer finds it (and an end that
            // comes early finds the loop to leave).
            if (!SharesListenerSocket)
            {
                var loop = _server.Service.NextIoLoop();
                if (loop.Add(_socket, this))
                {
                    _loop = loop;
                }
                else
                {
                    loop.Leave();
                    _ = ReceiveLoopAsync();
                }

                if (_guard is not null && (_loop is null || !_loop.Add(_guard, this)))
                {
                    // Without it, other senders get the kernel's port-unreachable instead of ERROR 5.
                    _guard.Dispose();
                    _guard = null;
                }
            }

            // The clock starts before the first packet leaves: whoever sees that packet may already be
            // counting on the retransmission. One timer, armed for the moment the timeout runs out and moved on
            // lazily when it fires after progress (no timer call per ACK): a retransmission leaves one timeout
            // after the last progress, not at the next tick of a periodic check.
            _lastProgress = _time.GetTimestamp();
            _timer = _time.CreateTimer(static s => ((TftpTransfer)s!).OnTick(), this, _negotiated.Timeout, Timeout.InfiniteTimeSpan);
            if (_negotiated.Granted.Any)
            {
                _oackPending = true;
                SendOptionAck();
            }
            else
            {
                SendWindow(1);
            }
        }
    }

    /// <summary>
    /// The client repeated its RRQ before anything of it reached us: the first packet (OACK or the first window)
    /// again, once per repeated request, the way RFC 1350 recovers a lost first packet.
    /// </summary>
    public void RepeatFirst()
    {
        lock (_lock)
        {
            if (_done != 0 || HasHeardFromPeer)
            {
                return;
            }

            _retransmits++;
            if (_oackPending)
            {
                SendOptionAck();
            }
            else
            {
                SendWindow(1);
            }
        }
    }

    /// <summary>A datagram read by the I/O loop from this transfer's socket.</summary>
    public void OnDatagram(ReadOnlySpan<byte> data, SocketAddress from)
    {
        try
        {
            OnPacket(data, from);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogFailed(_server.Log, _server.Listener.Id, _peerText, ex);
            Finish("error", "internal error", sendError: TftpErrorCode.NotDefined);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[TftpPacket.MaxRequestLength + TftpPacket.HeaderLength];
        var from = new SocketAddress(_socket.AddressFamily);
        while (Volatile.Read(ref _done) == 0)
        {
            int n;
            try
            {
                n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.MessageSize or SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException or OperationCanceledException)
            {
                break;
            }

            try
            {
                OnPacket(buffer.AsSpan(0, n), from);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogFailed(_server.Log, _server.Listener.Id, _peerText, ex);
                Finish("error", "internal error", sendError: TftpErrorCode.NotDefined);
            }
        }
    }

    /// <summary>A datagram for this transfer: from its own socket, or from the listener in single-port mode.</summary>
    public void OnPacket(ReadOnlySpan<byte> data, SocketAddress from)
    {
        // Compared by the address bytes: SocketAddress.Equals also compares the capacity of the buffers.
        if (from.Size != PeerAddress.Size || !from.Buffer.Span[..from.Size].SequenceEqual(PeerAddress.Buffer.Span[..PeerAddress.Size]))
        {
            // RFC 1350 §4: a packet from a foreign transfer ID gets ERROR 5, and the transfer goes on.
            Interlocked.Increment(ref _foreign);
            Span<byte> error = stackalloc byte[32];
            var n = TftpPacket.WriteError(error, TftpErrorCode.UnknownTransferId, "Unknown transfer ID");
            Send(error[..n], from);
            return;
        }

        Interlocked.Increment(ref _packetsIn);
        if (TftpPacket.TryParseAck(data, out var block))
        {
            OnAck(block);
        }
        else if (TftpPacket.TryParseError(data, out var code, out var message))
        {
            // The client gave up; after an OACK this is often a tsize probe (RFC 2349 §4 lets it ask only the size).
            Finish("aborted", string.Create(CultureInfo.InvariantCulture, $"client ERROR {(int)code}: {message}"), sendError: null);
        }
        else
        {
            _server.Listener.MalformedInput();
            Finish("error", "unexpected packet in a read transfer", sendError: TftpErrorCode.IllegalOperation);
        }
    }

    private void OnAck(ushort block)
    {
        lock (_lock)
        {
            if (_done != 0)
            {
                return;
            }

            if (_oackPending)
            {
                // RFC 2347 §2: ACK 0 acknowledges the OACK.
                if (block != 0)
                {
                    _duplicates++;
                    return;
                }

                _oackPending = false;
                Progress();
                SendWindow(1);
                return;
            }

            // Map the 16-bit number onto the blocks in flight (block numbers roll over after 65535).
            var delta = (ushort)(block - (ushort)_acked);
            if (delta == 0 || delta > _sent - _acked)
            {
                _duplicates++;
                if (delta == 0 && _negotiated.WindowSize > 1 && _sent > _acked && _fastResendFor != _acked)
                {
                    // RFC 7440 §4: a repeated ACK of the last in-order block asks for the window again; once.
                    _fastResendFor = _acked;
                    SendWindow(_acked + 1);
                }

                return;
            }

            _acked += delta;
            Progress();
            if (_acked >= _totalBlocks)
            {
                FinishLocked("complete", null, null);
                return;
            }

            if (_acked >= _sent || _negotiated.WindowSize > 1)
            {
                SendWindow(_acked + 1);
            }
        }
    }

    private void Progress()
    {
        _retries = 0;
        _lastProgress = _time.GetTimestamp();
    }

    private void OnTick()
    {
        lock (_lock)
        {
            if (_done != 0)
            {
                return;
            }

            var idle = _time.GetElapsedTime(_lastProgress);
            if (idle < _negotiated.Timeout)
            {
                // Progress since the timer was armed (or a timer that fired a little early): wait out the rest.
                _timer?.Change(_negotiated.Timeout - idle, Timeout.InfiniteTimeSpan);
                return;
            }

            // Until the peer has sent one packet its address is unproven (it may be forged): nothing goes to it on
            // a timeout, neither the first packet again nor an ERROR. Its own repeated RRQ brings the first packet
            // again (RepeatFirst), so one request datagram draws at most one packet.
            var heard = HasHeardFromPeer;
            if (_retries >= _server.Service.Options.Retries)
            {
                FinishLocked("timed out", string.Create(CultureInfo.InvariantCulture, $"no answer after {_retries} {(heard ? "retransmissions" : "timeouts")}"), heard ? TftpErrorCode.NotDefined : null);
                return;
            }

            _retries++;
            _lastProgress = _time.GetTimestamp();
            _timer?.Change(_negotiated.Timeout, Timeout.InfiniteTimeSpan);
            if (!heard)
            {
                return;
            }

            _retransmits++;
            if (_oackPending)
            {
                SendOptionAck();
            }
            else
            {
                SendWindow(_acked + 1);
            }
        }
    }

    private void SendOptionAck()
    {
        var n = TftpPacket.WriteOptionAck(_buffer, _negotiated.Granted);
        Send(_buffer.AsSpan(0, n), PeerAddress);
    }

    /// <summary>
    /// Sends blocks from <paramref name="first"/> up to a window (or the last block). RFC 7440 §4: after an
    /// ACK the window restarts at the block after the acknowledged one, so a window cut short by a lost block
    /// (the receiver ACKs its last in-order block) or a timeout is sent again from there.
    /// </summary>
    private void SendWindow(long first)
    {
        var last = Math.Min(first + _negotiated.WindowSize - 1, _totalBlocks);
        if (last > first && _file is MemoryFile memory && Volatile.Read(ref _closed) == 0 && !SendsFromArrival)
        {
            // The whole window in one system call, each block gathered from the cached content in place. (A
            // single block, as in lock-step, goes with one sendto below: measured cheaper than a batch of one.)
            // A connected socket sends without an address: the kernel uses the route it keeps for the peer.
            var to = _connected ? default : PeerAddress.Buffer.Span[..PeerAddress.Size];
            var (datagrams, bytes) = TftpNative.SendBlocks((int)_socket.Handle, memory.Data.Span, _negotiated.BlockSize, first, last, to, ref _segmentation);
            if (datagrams > 0)
            {
                _server.Listener.Sent(bytes);
                Interlocked.Add(ref _packetsOut, datagrams);
            }

            _sent = Math.Max(_sent, last);
            return;
        }

        for (var b = first; b <= last; b++)
        {
            var offset = (b - 1) * _negotiated.BlockSize;
            TftpPacket.WriteDataHeader(_buffer, (ushort)b);
            var n = _file.Read(offset, _buffer.AsSpan(TftpPacket.HeaderLength, _negotiated.BlockSize));
            Send(_buffer.AsSpan(0, TftpPacket.HeaderLength + n), PeerAddress);
        }

        _sent = Math.Max(_sent, last);
    }

    /// <summary>
    /// The address the request was sent to. Only a transfer on the listener's own (wildcard) socket needs it to
    /// send from; every other transfer has a data socket bound to that address.
    /// </summary>
    public ArrivalAddress Local { get; init; }

    private bool SendsFromArrival => SharesListenerSocket && Local.IsKnown;

    private unsafe void Send(ReadOnlySpan<byte> datagram, SocketAddress to)
    {
        if (Volatile.Read(ref _closed) == 0 && !SendsFromArrival)
        {
            // One system call, no pinning or address conversion of the managed wrapper.
            long sent;
            var sa = _connected && ReferenceEquals(to, PeerAddress) ? default : to.Buffer.Span[..to.Size];
            fixed (byte* d = datagram)
            fixed (byte* s = sa)
            {
                sent = (long)Tmds.Linux.LibC.sendto((int)_socket.Handle, d, datagram.Length, 0, (Tmds.Linux.sockaddr*)s, (uint)sa.Length);
            }

            if (sent >= 0)
            {
                _server.Listener.Sent(sent);
                Interlocked.Increment(ref _packetsOut);
            }

            return;
        }

        try
        {
            var sent = UdpArrival.SendTo(_socket, datagram, to, SharesListenerSocket ? Local : default);
            _server.Listener.Sent(sent);
            Interlocked.Increment(ref _packetsOut);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // A full buffer or a vanished route: the retransmission timer covers it.
        }
    }

    private void Finish(string outcome, string? error, TftpErrorCode? sendError)
    {
        lock (_lock)
        {
            FinishLocked(outcome, error, sendError);
        }
    }

    private void FinishLocked(string outcome, string? error, TftpErrorCode? sendError)
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return;
        }

        if (sendError is { } code)
        {
            var n = TftpPacket.WriteError(_buffer, code, error ?? "Transfer ended");
            Send(_buffer.AsSpan(0, n), PeerAddress);
        }

        _timer?.Dispose();
        _loop?.Leave();
        _server.Remove(this);
        if (!SharesListenerSocket)
        {
            Volatile.Write(ref _closed, 1);
            var pool = _server.Service.Pool;
            var port = _dataPort;
            if (_loop is not null)
            {
                if (_guard is not null)
                {
                    _loop.Close(_guard, null);
                }

                _loop.Close(_socket, pool is null ? null : () => pool.Release(port));
            }
            else
            {
                _guard?.Dispose();
                _socket.Dispose();
                pool?.Release(port);
            }
        }

        var delivered = Math.Min(_acked * _negotiated.BlockSize, _file.Length);
        var size = _file.Length;
        var name = _file.Name;
        _file.Dispose();
        _server.Service.Exit();
        var local = new IPEndPoint(_server.Listener.BoundEndPoint!.Address, _dataPort);
        _server.Service.Record(new ProvisioningEvent
        {
            Listener = _server.Listener,
            Channel = "tftp",
            Peer = _peerText,
            Local = Text.EndPoint(local),
            File = _request.FileName,
            Outcome = outcome,
            Bytes = delivered,
            Size = size,
            Options = _request.Options.ToString(),
            Negotiated = _negotiated.Granted.ToString(),
            DataPort = _dataPort,
            Error = error,
            DurationMs = (long)_time.GetElapsedTime(_started).TotalMilliseconds,
            PacketsIn = Interlocked.Read(ref _packetsIn),
            PacketsOut = Interlocked.Read(ref _packetsOut),
            Extra = new()
            {
                ["mode"] = _request.Mode == TftpMode.NetAscii ? "netascii" : "octet",
                ["served"] = name,
                ["retransmits"] = _retransmits.ToString(CultureInfo.InvariantCulture),
                ["duplicateAcks"] = _duplicates.ToString(CultureInfo.InvariantCulture),
                ["foreignPackets"] = Interlocked.Read(ref _foreign).ToString(CultureInfo.InvariantCulture),
                ["portMode"] = _server.Service.Options.PortMode.ToString().ToLowerInvariant(),
            },
        });
        LogFinished(_server.Log, _server.Listener.Id, _peerText, _request.FileName, outcome, delivered);
    }

    [LoggerMessage(EventId = 501, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {File} {Outcome}, {Bytes} bytes")]
    private static partial void LogFinished(ILogger logger, string listener, string peer, string file, string outcome, long bytes);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "{Listener} {Peer}: transfer failed")]
    private static partial void LogFailed(ILogger logger, string listener, string peer, Exception exception);
}

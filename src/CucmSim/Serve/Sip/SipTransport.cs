using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CucmSim.Serve.Sip;

/// <summary>The source of a request as the server saw it at the transport layer.</summary>
internal sealed class SipPeer(IPAddress address, int port)
{
    public IPAddress Address { get; } = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    public int Port { get; } = port;
    public byte[] AddressText { get; } = Encoding.ASCII.GetBytes((address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString());
    public string Text => Serve.Text.EndPoint(new IPEndPoint(Address, Port));
}

/// <summary>Where responses of a request go: the UDP source address, or the TCP/TLS connection it came on (RFC 3261 §18.2.2).</summary>
internal abstract class SipSink
{
    /// <summary>"UDP", "TCP" or "TLS" (as in a Via).</summary>
    public abstract string Transport { get; }

    public bool Reliable => Transport != "UDP";

    /// <summary>The local address the peer reached (what SDP and Contact embed unless an external address is set); null when unknown.</summary>
    public abstract IPAddress? LocalAddress { get; }

    public abstract void Send(ReadOnlySpan<byte> message);
}

/// <summary>Sends from the listener's own socket to one peer address (kept for retransmissions).</summary>
internal sealed class UdpSink : SipSink
{
    private readonly Socket _socket;
    private readonly ListenerRuntime _listener;

    public UdpSink(Socket socket, ListenerRuntime listener, SocketAddress address)
    {
        _socket = socket;
        _listener = listener;
        Address = address;
    }

    public SocketAddress Address { get; set; }

    /// <summary>The address the request was sent to: responses and retransmissions leave from it.</summary>
    public ArrivalAddress Local { get; set; }

    public override string Transport => "UDP";

    public override IPAddress? LocalAddress => Local.ToIPAddress() ?? _listener.Address;

    public override void Send(ReadOnlySpan<byte> message)
    {
        try
        {
            _listener.Sent(UdpArrival.SendTo(_socket, message, Address, Local));
        }
        catch (SocketException)
        {
            // ICMP unreachable from an earlier datagram or a full buffer: the transaction layer retransmits.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>A sink with its own copy of the address, for sends after the receive call returns.</summary>
    public UdpSink Detach()
    {
        var copy = new SocketAddress(Address.Family, Address.Size);
        Address.Buffer.Span[..Address.Size].CopyTo(copy.Buffer.Span);
        return new UdpSink(_socket, _listener, copy) { Local = Local };
    }
}

/// <summary>
/// Writes responses to a connection's pipe. Sends from timers flush at once; the read loop flushes after each
/// batch. A flush never blocks the calling thread (it may be a socket I/O thread): when the peer reads slowly,
/// the flush completes later and the read loop waits for it before it reads more requests.
/// </summary>
internal sealed class StreamSink(PipeWriter output, string transport, TcpSessionFeature session, IPAddress? localAddress = null) : SipSink
{
    private readonly Lock _lock = new();
    private bool _closed;
    private Task? _pending;

    public override string Transport { get; } = transport;

    public override IPAddress? LocalAddress { get; } = localAddress is { IsIPv4MappedToIPv6: true } ? localAddress.MapToIPv4() : localAddress;

    /// <summary>True while the connection's read loop is processing a batch (it flushes after).</summary>
    public bool InBatch { get; set; }

    public override void Send(ReadOnlySpan<byte> message)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            output.Write(message);
            session.BytesOut += message.Length;
            if (!InBatch)
            {
                FlushLocked();
            }
        }
    }

    /// <summary>Starts a flush of what the batch wrote; completes when the pipe has taken it (back-pressure).</summary>
    public Task FlushAsync()
    {
        lock (_lock)
        {
            if (!_closed)
            {
                FlushLocked();
            }

            return _pending ?? Task.CompletedTask;
        }
    }

    /// <summary>True once the connection is gone (what is sent then is dropped).</summary>
    public bool Closed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
        }
    }

    private void FlushLocked()
    {
        if (output.UnflushedBytes == 0 || _pending is not null)
        {
            // Nothing new, or a flush is under way: its completion flushes what was written since.
            return;
        }

#pragma warning disable CA2012 // Checked once for synchronous completion, else converted once to a task.
        var flush = output.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            if (flush.Result.IsCompleted || flush.Result.IsCanceled)
            {
                _closed = true;
            }

            return;
        }

        // The continuation never runs inline: a flush that completes before it is attached (the output loop on
        // another thread drained the pipe in between) would otherwise run Flushed here, under this lock, before
        // _pending is assigned, and the assignment would then leave a finished task that blocks every later flush.
        // Queued, it waits for the lock and sees _pending set.
        _pending = flush.AsTask().ContinueWith(static (task, state) => ((StreamSink)state!).Flushed(task), this,
            CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
#pragma warning restore CA2012
    }

    private void Flushed(Task<FlushResult> task)
    {
        lock (_lock)
        {
            _pending = null;
            if (!task.IsCompletedSuccessfully || task.Result.IsCompleted || task.Result.IsCanceled)
            {
                _closed = true;
                return;
            }

            if (!_closed)
            {
                FlushLocked();
            }
        }
    }
}

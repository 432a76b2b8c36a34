using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Sip;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Sip;

/// <summary>SIP over UDP: one datagram, one message (RFC 3261 §18.1.1). Runs on the listener's receive loop.</summary>
internal sealed class SipUdpProtocol : IUdpProtocol
{
    private readonly ListenerRuntime _listener;
    private readonly SipService _service;
    private readonly SipMessage _message;
    private readonly byte[] _scratch = new byte[32 * 1024];
    private readonly UdpSink _sink;
    private readonly byte[] _lastAddress = new byte[32];
    private int _lastAddressLength;
    private SipPeer? _lastPeer;

    public SipUdpProtocol(ListenerRuntime listener, ServeContext context)
    {
        _listener = listener;
        _service = SipService.For(context);
        _message = new SipMessage(_service.Settings.MaxMessageSize, _service.Settings.MaxHeaders);
        _sink = new UdpSink(listener.Socket!, listener, new SocketAddress(listener.Socket!.AddressFamily));
        try
        {
            // Bursts (a client sending per timer tick, a scheduling gap on a busy host) must not overflow the
            // socket buffer: lost requests come back as retransmissions 500 ms later. Capped by net.core.rmem_max.
            listener.Socket.ReceiveBufferSize = Math.Max(listener.Socket.ReceiveBufferSize, 4 * 1024 * 1024);
            listener.Socket.SendBufferSize = Math.Max(listener.Socket.SendBufferSize, 1024 * 1024);
        }
        catch (SocketException)
        {
        }
    }

    public void OnDatagram(ref UdpRequest request)
    {
        var peer = Peer(request.PeerAddress);
        var error = _message.Parse(request.Data);
        _sink.Address = request.PeerAddress;
        _sink.Local = request.Local;
        if (error == SipParseError.Ok && _message.IsRequest && !_service.Settings.ReplyToSourcePort)
        {
            RedirectToSentBy();
        }

        var verdict = _service.Handle(_message, error, peer, _sink, _listener, _scratch);
        request.Verdict = verdict == "sip-malformed" ? "malformed" : "sip";
    }

    /// <summary>RFC 3261 §18.2.2: without rport, the response goes to the Via sent-by port (5060 when absent).</summary>
    private void RedirectToSentBy()
    {
        if (!SipVia.TryParse(_message.Via(0), out var via) || via.HasRport)
        {
            return;
        }

        var copy = new SocketAddress(_sink.Address.Family, _sink.Address.Size);
        _sink.Address.Buffer.Span[.._sink.Address.Size].CopyTo(copy.Buffer.Span);
        var port = via.Port == 0 ? 5060 : via.Port;
        copy.Buffer.Span[2] = (byte)(port >> 8);
        copy.Buffer.Span[3] = (byte)port;
        _sink.Address = copy;
    }

    /// <summary>The peer object of the last source is reused: a client usually sends from one address.</summary>
    private SipPeer Peer(SocketAddress address)
    {
        var bytes = address.Buffer.Span[..address.Size];
        if (_lastPeer is not null && bytes.SequenceEqual(_lastAddress.AsSpan(0, _lastAddressLength)))
        {
            return _lastPeer;
        }

        var template = new IPEndPoint(address.Family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        var ep = (IPEndPoint)template.Create(address);
        _lastPeer = new SipPeer(ep.Address, ep.Port);
        if (bytes.Length <= _lastAddress.Length)
        {
            bytes.CopyTo(_lastAddress);
            _lastAddressLength = bytes.Length;
        }

        return _lastPeer;
    }
}

/// <summary>SIP over TCP or TLS: Content-Length framing (RFC 3261 §18.3), responses on the same connection, kept open for reuse.</summary>
internal sealed class SipStreamProtocol(string transport) : ITcpProtocol
{
    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var service = SipService.For(context);
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "sip";
        var remote = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var peer = new SipPeer(remote.Address, remote.Port);
        var message = new SipMessage(service.Settings.MaxMessageSize, service.Settings.MaxHeaders);
        var scratch = new byte[32 * 1024];
        var input = connection.Transport.Input;
        var sink = new StreamSink(connection.Transport.Output, transport, session, (connection.LocalEndPoint as IPEndPoint)?.Address);
        long requests = 0, malformed = 0;
        long pending = 0;
        // The idle timer is re-armed only when a read completed a message or left nothing half received: a message
        // must be complete within the idle timeout of the one before (or of the connection's start), so a client
        // that trickles a header a byte at a time (slowloris) holds its connection for the idle timeout at most, as
        // on the admin web, while a client pipelining whole messages (reads ending mid-message) keeps its own.
        using var idle = new CancellationTokenSource(context.Limits.IdleTimeout, context.Time);
        // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a client that sends its requests and then
        // shuts down writing must still get every answer. The input completes on FIN and faults on a reset.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping);
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (IOException)
                {
                    // Reset by the peer.
                    break;
                }

                var buffer = result.Buffer;
                session.BytesIn += buffer.Length;
                var consumed = Process(buffer, message, service, peer, sink, listener, scratch, ref requests, ref malformed, out var fatal);
                pending = buffer.Slice(consumed).Length;
                var completed = buffer.Length - pending > 0;
                session.BytesIn -= pending;
                input.AdvanceTo(consumed, buffer.End);
                sink.InBatch = false;
                await sink.FlushAsync().ConfigureAwait(false);
                if (pending == 0 || completed)
                {
                    idle.CancelAfter(context.Limits.IdleTimeout);
                }
                if (fatal || result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        finally
        {
            sink.Close();
            if (pending > 0 && idle.IsCancellationRequested && !context.Stopping.IsCancellationRequested)
            {
                malformed++;
                session.BytesIn += pending;
                service.Incomplete(listener, peer, pending, context.Limits.IdleTimeout);
            }

            session.Detail = new()
            {
                ["requests"] = requests.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["malformed"] = malformed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (malformed > 0)
            {
                session.Verdict = "sip-malformed";
            }
        }
    }

    private static SequencePosition Process(ReadOnlySequence<byte> buffer, SipMessage message, SipService service, SipPeer peer, StreamSink sink,
        ListenerRuntime listener, byte[] scratch, ref long requests, ref long malformed, out bool fatal)
    {
        fatal = false;
        sink.InBatch = true;
        var reader = new SequenceReader<byte>(buffer);
        while (true)
        {
            var status = SipFraming.TryRead(ref reader, message.MaxSize, out var framed);
            if (status == OperationStatus.NeedMoreData)
            {
                return reader.Position;
            }

            if (status == OperationStatus.InvalidData)
            {
                // Oversized or unframeable: the stream cannot be resynchronised (RFC 3261 §18.3). Try a 400, then close.
                malformed++;
                var head = buffer.Slice(reader.Position);
                head = head.Slice(0, Math.Min(head.Length, message.MaxSize));
                var err = message.Parse(head);
                service.Handle(message, err == SipParseError.Ok ? SipParseError.TooLarge : err, peer, sink, listener, scratch);
                fatal = true;
                return buffer.End;
            }

            if (SipFraming.IsKeepAlive(framed))
            {
                // RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong.
                sink.Send("\r\n"u8);
                continue;
            }

            requests++;
            var error = message.Parse(framed);
            if (service.Handle(message, error, peer, sink, listener, scratch) == "sip-malformed")
            {
                malformed++;
                if (error == SipParseError.NotSip)
                {
                    // Not SIP at all on a stream (HTTP, scanner): nothing sensible follows.
                    fatal = true;
                    return buffer.End;
                }
            }
        }
    }
}

using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using CucmSim.Protocols.Echo;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

/// <summary>
/// The connection middleware in front of every TCP listener. It records the connection, answers probe lines
/// (CUCMSIM-PROBE) at the start of the stream, and then either hands the untouched rest of the stream to the
/// native protocol (TLS, HTTP or a stream handler, through Kestrel's next delegate) or, for listeners with
/// no native protocol, records the first bytes and counts the rest until the peer closes, the idle timeout
/// passes or the server stops.
/// </summary>
internal sealed partial class TcpPipeline(ListenerRuntime listener, ServeContext context, TcpNative native)
{
    private readonly ILogger _log = context.Loggers.CreateLogger("CucmSim.Tcp");
    private LocalEndPointText? _local;

    public bool HandsOff => native.Handler is not null || native.Http;

    public async Task OnConnectedAsync(ConnectionContext connection, ConnectionDelegate? next)
    {
        // What this frame keeps is what a connection costs for its whole life once a native protocol has
        // taken over: the sniff runs in its own method, so its buffers, timers and cancellation sources are
        // gone after the hand-off and only the record of the connection (state) stays.
        var state = new ConnectionState(
            LocalText(connection.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0)),
            Text.EndPoint(connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0)),
            context.Time.GetTimestamp());
        listener.ConnectionOpened();
        listener.Hit(state.PeerText, context.Time.GetUtcNow());
        context.Ledger.Append(listener.Record("tcp-open", state.LocalText, state.PeerText));

        var session = new TcpSessionFeature { PeerText = state.PeerText };
        connection.Features.Set(session);
        try
        {
            await SniffAsync(connection, state, next is not null).ConfigureAwait(false);
            if (state.HandOff && next is not null)
            {
                await next(connection).ConfigureAwait(false);
                state.Closed = context.Stopping.IsCancellationRequested ? "shutdown" : "peer";
            }
        }
        catch (Exception ex) when (ex is ConnectionResetException or IOException or ConnectionAbortedException)
        {
            state.Closed = "reset";
        }
        catch (OperationCanceledException)
        {
            state.Closed = context.Stopping.IsCancellationRequested ? "shutdown" : "aborted";
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            state.Closed = "error";
            listener.MalformedInput();
            LogHandlerFailed(_log, listener.Id, state.PeerText, ex);
        }
        finally
        {
            var bytesIn = state.BytesIn + session.BytesIn;
            var bytesOut = state.BytesOut + session.BytesOut;
            listener.Sent(bytesOut);
            listener.Received(session.BytesIn);
            listener.ConnectionClosed();
            var verdict = state.HandOff ? session.Verdict : state.First is not null ? "data" : state.Echoes > 0 ? "echo" : "silent";
            context.Ledger.Append(listener.Record("tcp-close", state.LocalText, state.PeerText) with
            {
                Verdict = verdict,
                Nonce = state.LastNonce,
                First = state.First,
                BytesIn = bytesIn,
                BytesOut = bytesOut,
                DurationMs = (long)context.Time.GetElapsedTime(state.Started).TotalMilliseconds,
                Closed = state.Closed,
                Detail = session.Detail,
            });
            LogClosed(_log, listener.Id, state.PeerText, verdict, bytesIn, state.Closed);
        }

        if (!state.HandOff)
        {
            await connection.Transport.Input.CompleteAsync().ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The local end point as text, one string for every connection to the same address (a listener bound to
    /// one address has one; bound to any address, the last one seen is reused while it repeats).
    /// </summary>
    private string LocalText(IPEndPoint local)
    {
        if (Volatile.Read(ref _local) is { } last && last.EndPoint.Equals(local))
        {
            return last.Text;
        }

        var text = Text.EndPoint(local);
        Volatile.Write(ref _local, new LocalEndPointText(local, text));
        return text;
    }

    private sealed record LocalEndPointText(IPEndPoint EndPoint, string Text);

    /// <summary>
    /// Reads until the first byte that is not part of a probe line (then marks the hand-off when a native
    /// protocol follows), or until the peer closes, the idle timeout passes or the server stops.
    /// </summary>
    private async Task SniffAsync(ConnectionContext connection, ConnectionState state, bool canHandOff)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var local = connection.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var peer = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);

        // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a half-closed peer ("send, then
        // shut down writing") still gets its answer. Input completes on FIN, or faults on a reset.
        // Both sources (and the idle timer) live only while the sniff reads: a native protocol that takes
        // over keeps its own deadlines, and a long-lived connection should not carry these.
        using var idle = new CancellationTokenSource(native.ServerSpeaksFirstAfter ?? context.Limits.IdleTimeout, context.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping);
        while (!state.HandOff)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (idle.IsCancellationRequested && native.ServerSpeaksFirstAfter is not null && state.BytesIn == 0 && canHandOff)
            {
                // The client waits for the server to speak first.
                state.HandOff = true;
                break;
            }
            catch (OperationCanceledException)
            {
                state.Closed = idle.IsCancellationRequested ? "idle-timeout" : context.Stopping.IsCancellationRequested ? "shutdown" : "aborted";
                break;
            }

            var consumed = Process(result.Buffer, result.IsCompleted, state, canHandOff, local, peer, output);
            input.AdvanceTo(consumed, state.HandOff ? consumed : result.Buffer.End);
            if (output.UnflushedBytes > 0)
            {
                await output.FlushAsync(linked.Token).ConfigureAwait(false);
            }

            idle.CancelAfter(context.Limits.IdleTimeout);
            if (!state.HandOff && (result.IsCompleted || result.IsCanceled))
            {
                break;
            }
        }
    }

    /// <summary>
    /// Answers every whole probe line at the start of the stream (or after earlier probes). At the first
    /// other byte: with a native protocol, stops there (nothing of it consumed) and marks the hand-off;
    /// without one, records the first bytes and consumes the rest. Returns how far the buffer was consumed.
    /// </summary>
    private SequencePosition Process(in ReadOnlySequence<byte> buffer, bool completed, ConnectionState state, bool canHandOff, IPEndPoint local, IPEndPoint peer, PipeWriter output)
    {
        // Transient (the reader's scope rules out stack memory): nothing of the sniff outlives it.
        var nonce = state.Sniffing ? new byte[EchoProbe.MaxNonceLength] : [];
        var reader = new SequenceReader<byte>(buffer);
        while (!reader.End)
        {
            if (state.Sniffing)
            {
                var status = EchoProbe.TryReadProbeLine(ref reader, nonce, out var nonceLength);
                if (status == OperationStatus.Done)
                {
                    state.Echoes++;
                    state.LastNonce = System.Text.Encoding.ASCII.GetString(nonce, 0, nonceLength);
                    var span = output.GetSpan(EchoProbe.MaxEchoLength);
                    var n = EchoProbe.FormatEcho(span, nonce.AsSpan(0, nonceLength), listener.Id, local, peer);
                    output.Advance(n);
                    state.BytesOut += n;
                    listener.Echoed();
                    continue;
                }

                if (status == OperationStatus.NeedMoreData && !completed)
                {
                    break;
                }

                state.Sniffing = false;
                if (canHandOff)
                {
                    state.HandOff = true;
                    break;
                }
            }

            state.First ??= Text.Escape(reader.UnreadSequence);
            reader.AdvanceToEnd();
        }

        state.BytesIn += reader.Consumed;
        listener.Received(reader.Consumed);
        return reader.Position;
    }

    /// <summary>What the tcp-close record needs, kept for the connection's life (so: small).</summary>
    private sealed class ConnectionState(string localText, string peerText, long started)
    {
        public string LocalText { get; } = localText;
        public string PeerText { get; } = peerText;
        public long Started { get; } = started;
        public bool Sniffing { get; set; } = true;
        public bool HandOff { get; set; }
        public int Echoes { get; set; }
        public long BytesIn { get; set; }
        public long BytesOut { get; set; }
        public string? First { get; set; }
        public string? LastNonce { get; set; }
        public string Closed { get; set; } = "peer";
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {Verdict}, {BytesIn} bytes in, closed by {Closed}")]
    private static partial void LogClosed(ILogger logger, string listener, string peer, string verdict, long bytesIn, string closed);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "{Listener} {Peer}: protocol handler failed")]
    private static partial void LogHandlerFailed(ILogger logger, string listener, string peer, Exception exception);
}

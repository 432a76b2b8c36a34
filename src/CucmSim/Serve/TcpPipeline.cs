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

    public bool HandsOff => native.Handler is not null || native.Http;

    public async Task OnConnectedAsync(ConnectionContext connection, ConnectionDelegate? next)
    {
        var time = context.Time;
        var peer = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var local = connection.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        var peerText = Text.EndPoint(peer);
        var localText = Text.EndPoint(local);
        var started = time.GetTimestamp();
        listener.ConnectionOpened();
        listener.Hit(peerText, time.GetUtcNow());
        context.Ledger.Append(listener.Record("tcp-open", localText, peerText));

        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var state = new EchoState(local, peer, next is not null);
        var session = new TcpSessionFeature();
        connection.Features.Set(session);
        var closed = "peer";

        // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a half-closed peer ("send, then
        // shut down writing") still gets its answer. Input completes on FIN, or faults on a reset.
        // Both sources (and the idle timer) live only while the pipeline reads: a native protocol that takes
        // over keeps its own deadlines, and a long-lived connection should not carry these.
        var idle = new CancellationTokenSource(native.ServerSpeaksFirstAfter ?? context.Limits.IdleTimeout, time);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping);
        try
        {
            while (!state.HandOff)
            {
                ReadResult result;
                try
                {
                    result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (idle.IsCancellationRequested && native.ServerSpeaksFirstAfter is not null && state.BytesIn == 0 && next is not null)
                {
                    // The client waits for the server to speak first.
                    state.HandOff = true;
                    break;
                }
                catch (OperationCanceledException)
                {
                    closed = idle.IsCancellationRequested ? "idle-timeout" : context.Stopping.IsCancellationRequested ? "shutdown" : "aborted";
                    break;
                }

                var consumed = Process(result.Buffer, result.IsCompleted, state, output);
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

            linked.Dispose();
            idle.Dispose();
            if (state.HandOff && next is not null)
            {
                await next(connection).ConfigureAwait(false);
                closed = context.Stopping.IsCancellationRequested ? "shutdown" : "peer";
            }
        }
        catch (Exception ex) when (ex is ConnectionResetException or IOException or ConnectionAbortedException)
        {
            closed = "reset";
        }
        catch (OperationCanceledException)
        {
            closed = context.Stopping.IsCancellationRequested ? "shutdown" : "aborted";
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            closed = "error";
            listener.MalformedInput();
            LogHandlerFailed(_log, listener.Id, peerText, ex);
        }
        finally
        {
            linked.Dispose();
            idle.Dispose();
            var bytesIn = state.BytesIn + session.BytesIn;
            var bytesOut = state.BytesOut + session.BytesOut;
            listener.Sent(bytesOut);
            listener.Received(session.BytesIn);
            listener.ConnectionClosed();
            var verdict = state.HandOff ? session.Verdict : state.First is not null ? "data" : state.Echoes > 0 ? "echo" : "silent";
            context.Ledger.Append(listener.Record("tcp-close", localText, peerText) with
            {
                Verdict = verdict,
                Nonce = state.LastNonce,
                First = state.First,
                BytesIn = bytesIn,
                BytesOut = bytesOut,
                DurationMs = (long)time.GetElapsedTime(started).TotalMilliseconds,
                Closed = closed,
                Detail = session.Detail,
            });
            LogClosed(_log, listener.Id, peerText, verdict, bytesIn, closed);
        }

        if (!state.HandOff)
        {
            await input.CompleteAsync().ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Answers every whole probe line at the start of the stream (or after earlier probes). At the first
    /// other byte: with a native protocol, stops there (nothing of it consumed) and marks the hand-off;
    /// without one, records the first bytes and consumes the rest. Returns how far the buffer was consumed.
    /// </summary>
    private SequencePosition Process(in ReadOnlySequence<byte> buffer, bool completed, EchoState state, PipeWriter output)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (!reader.End)
        {
            if (state.Sniffing)
            {
                var status = EchoProbe.TryReadProbeLine(ref reader, state.Nonce, out var nonceLength);
                if (status == OperationStatus.Done)
                {
                    state.Echoes++;
                    state.LastNonce = System.Text.Encoding.ASCII.GetString(state.Nonce, 0, nonceLength);
                    var span = output.GetSpan(EchoProbe.MaxEchoLength);
                    var n = EchoProbe.FormatEcho(span, state.Nonce.AsSpan(0, nonceLength), listener.Id, state.Local, state.Peer);
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
                if (state.CanHandOff)
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

    private sealed class EchoState(IPEndPoint local, IPEndPoint peer, bool canHandOff)
    {
        public IPEndPoint Local { get; } = local;
        public IPEndPoint Peer { get; } = peer;
        public bool CanHandOff { get; } = canHandOff;
        public byte[] Nonce { get; } = new byte[EchoProbe.MaxNonceLength];
        public bool Sniffing { get; set; } = true;
        public bool HandOff { get; set; }
        public int Echoes { get; set; }
        public long BytesIn { get; set; }
        public long BytesOut { get; set; }
        public string? First { get; set; }
        public string? LastNonce { get; set; }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {Verdict}, {BytesIn} bytes in, closed by {Closed}")]
    private static partial void LogClosed(ILogger logger, string listener, string peer, string verdict, long bytesIn, string closed);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "{Listener} {Peer}: protocol handler failed")]
    private static partial void LogHandlerFailed(ILogger logger, string listener, string peer, Exception exception);
}

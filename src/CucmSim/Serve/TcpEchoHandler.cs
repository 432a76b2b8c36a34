using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using CucmSim.Protocols.Echo;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

/// <summary>
/// The TCP connection handler of a listener with no native protocol: answers probe lines with the echo,
/// records whatever else arrives (its first bytes, byte counts) and holds the connection until the peer
/// closes, the idle timeout passes or the server stops.
/// </summary>
internal sealed partial class TcpEchoHandler(ListenerRuntime listener, ServeContext context)
{
    private readonly ILogger _log = context.Loggers.CreateLogger("CucmSim.Tcp");

    public async Task OnConnectedAsync(ConnectionContext connection)
    {
        var time = context.Time;
        var peer = connection.RemoteEndPoint as IPEndPoint;
        var local = connection.LocalEndPoint as IPEndPoint;
        var peerText = Text.EndPoint(peer);
        var localText = Text.EndPoint(local);
        var started = time.GetTimestamp();
        listener.ConnectionOpened();
        listener.Hit(peerText, time.GetUtcNow());
        context.Ledger.Append(new LedgerRecord
        {
            Kind = "tcp-open",
            Listener = listener.Id,
            Role = listener.Spec.Role,
            Protocol = listener.Spec.Protocol,
            Transport = "tcp",
            Local = localText,
            Peer = peerText,
        });

        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var state = new EchoState(local!, peer!);
        var closed = "peer";

        using var idle = new CancellationTokenSource(context.Limits.IdleTimeout, time);
        // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a half-closed peer ("send, then
        // shut down writing") still gets its answer. Input completes on FIN, or faults on a reset.
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
                    closed = idle.IsCancellationRequested ? "idle-timeout" : context.Stopping.IsCancellationRequested ? "shutdown" : "aborted";
                    break;
                }

                var consumed = Process(result.Buffer, result.IsCompleted, state, output);
                input.AdvanceTo(consumed, result.Buffer.End);
                if (output.UnflushedBytes > 0)
                {
                    await output.FlushAsync(linked.Token).ConfigureAwait(false);
                }

                idle.CancelAfter(context.Limits.IdleTimeout);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
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
        finally
        {
            listener.Sent(state.BytesOut);
            listener.ConnectionClosed();
            var verdict = state.First is not null ? "data" : state.Echoes > 0 ? "echo" : "silent";
            context.Ledger.Append(new LedgerRecord
            {
                Kind = "tcp-close",
                Listener = listener.Id,
                Role = listener.Spec.Role,
                Protocol = listener.Spec.Protocol,
                Transport = "tcp",
                Local = localText,
                Peer = peerText,
                Verdict = verdict,
                Nonce = state.LastNonce,
                First = state.First,
                BytesIn = state.BytesIn,
                BytesOut = state.BytesOut,
                DurationMs = (long)time.GetElapsedTime(started).TotalMilliseconds,
                Closed = closed,
            });
            LogClosed(_log, listener.Id, peerText, verdict, state.BytesIn, closed);
        }

        await input.CompleteAsync().ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Answers every whole probe line at the start of the stream (or after earlier probes); once anything
    /// else arrives, records its first bytes and counts the rest. Returns how far the buffer was consumed.
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
            }

            state.First ??= Text.Escape(reader.UnreadSequence);
            reader.AdvanceToEnd();
        }

        state.BytesIn += reader.Consumed;
        listener.Received(reader.Consumed);
        return reader.Position;
    }

    private sealed class EchoState(IPEndPoint local, IPEndPoint peer)
    {
        public IPEndPoint Local { get; } = local;
        public IPEndPoint Peer { get; } = peer;
        public byte[] Nonce { get; } = new byte[EchoProbe.MaxNonceLength];
        public bool Sniffing { get; set; } = true;
        public int Echoes { get; set; }
        public long BytesIn { get; set; }
        public long BytesOut { get; set; }
        public string? First { get; set; }
        public string? LastNonce { get; set; }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {Verdict}, {BytesIn} bytes in, closed by {Closed}")]
    private static partial void LogClosed(ILogger logger, string listener, string peer, string verdict, long bytesIn, string closed);
}

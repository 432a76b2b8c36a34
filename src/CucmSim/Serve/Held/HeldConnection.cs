using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace CucmSim.Serve.Held;

/// <summary>
/// Listeners whose protocol is not emulated (CTIQBE on 2748/2749/2789) or that only present an identity over
/// TLS (CTL provider 2444, TVS 2445, CAPF 3804): the connection is accepted (after the TLS handshake where the
/// listener has TLS), held until the peer closes, the idle timeout passes or the server stops, and recorded with
/// its verdict, byte counts and the first bytes that arrived (decrypted, on TLS). Nothing is ever sent.
/// </summary>
internal sealed class HeldConnection(string verdict) : ITcpProtocol
{
    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = verdict;
        var detail = session.Detail ??= [];
        if (connection.Features.Get<ITlsHandshakeFeature>() is { } tls)
        {
            detail["tls"] = tls.Protocol.ToString();
            detail["cipher"] = tls.NegotiatedCipherSuite?.ToString() ?? "unknown";
        }

        var input = connection.Transport.Input;
        using var idle = new CancellationTokenSource(context.Limits.IdleTimeout, context.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping, connection.ConnectionClosed);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!detail.ContainsKey("first") && !buffer.IsEmpty)
                {
                    detail["first"] = Text.Escape(buffer);
                }

                session.BytesIn += buffer.Length;
                input.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }

                idle.CancelAfter(context.Limits.IdleTimeout);
            }
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !context.Stopping.IsCancellationRequested)
        {
            detail["closed"] = "idle-timeout";
        }
        catch (OperationCanceledException) when (context.Stopping.IsCancellationRequested || connection.ConnectionClosed.IsCancellationRequested)
        {
        }

        if (session.BytesIn == 0)
        {
            detail["silent"] = "true";
        }

        await input.CompleteAsync().ConfigureAwait(false);
        await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
    }
}

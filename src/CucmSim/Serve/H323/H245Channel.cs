using System.Net;
using System.Net.Sockets;

namespace CucmSim.Serve.H323;

/// <summary>
/// The H.245 address a Connect names: a TCP listener on a port of the RTP pool (the pool holds the UDP side, so the
/// TCP port is this call's), waiting for the caller's H.245 connection. Inspection (ASA <c>inspect h323 h225</c>,
/// Linux's nf_conntrack_h323) reads the address from the Connect and opens exactly this pinhole. The connection is
/// recorded and held, its bytes counted; H.245 itself is not negotiated. Everything closes with the call.
/// </summary>
internal sealed class H245Channel : IAsyncDisposable
{
    private readonly Socket _listen;
    private readonly CancellationTokenSource _cts;
    private readonly Task _run;
    private readonly RtpPool _pool;
    private readonly int _port;

    private H245Channel(Socket listen, RtpPool pool, int port, IPEndPoint advertised, ListenerRuntime listener, ServeContext context, string peer, string call)
    {
        _listen = listen;
        _pool = pool;
        _port = port;
        Advertised = advertised;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping);
        _run = RunAsync(listener, context, peer, call);
    }

    /// <summary>The address the Connect carries (the embedded address, the pool port).</summary>
    public IPEndPoint Advertised { get; }

    public bool Connected { get; private set; }

    /// <summary>
    /// Takes a port from the pool and listens on it at <paramref name="local"/> (the address the call arrived on);
    /// null, with the reason, when the pool is not served or exhausted or the port is held by another TCP socket.
    /// </summary>
    public static H245Channel? Open(ServeContext context, ListenerRuntime listener, IPAddress local, IPAddress embedded, string peer, string call, out string? error)
    {
        error = null;
        if (context.Rtp is not { } pool)
        {
            error = "no media ports (the RTP pool is not served)";
            return null;
        }

        if (!pool.TryAllocate("h323:" + call, out var port))
        {
            error = "no free media port";
            return null;
        }

        var socket = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (local.AddressFamily == AddressFamily.InterNetworkV6 && local.IsIPv4MappedToIPv6)
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(local, port));
            socket.Listen(1);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            pool.Release(port);
            error = $"tcp/{port}: {ex.Message}";
            return null;
        }

        return new H245Channel(socket, pool, port, new IPEndPoint(embedded, port), listener, context, peer, call);
    }

    private async Task RunAsync(ListenerRuntime listener, ServeContext context, string callPeer, string call)
    {
        Socket? accepted = null;
        try
        {
            accepted = await _listen.AcceptAsync(_cts.Token).ConfigureAwait(false);
            Connected = true;
            _listen.Close();
            var peer = Text.EndPoint(accepted.RemoteEndPoint);
            var local = Text.EndPoint(accepted.LocalEndPoint);
            var detail = new Dictionary<string, string> { ["call"] = call, ["signallingPeer"] = callPeer };
            context.Ledger.Append(listener.Record("h245-open", local, peer) with { Transport = "tcp", Verdict = "h245-connect", Detail = detail });
            var buffer = new byte[4096];
            long bytes = 0;
            var first = Array.Empty<byte>();
            while (true)
            {
                var n = await accepted.ReceiveAsync(buffer, SocketFlags.None, _cts.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                if (first.Length == 0)
                {
                    first = buffer[..Math.Min(n, 64)];
                }

                bytes += n;
            }

            context.Ledger.Append(listener.Record("h245-close", local, peer) with
            {
                Transport = "tcp", Verdict = "h245-connect", BytesIn = bytes, First = first.Length == 0 ? null : Text.Escape(first), Detail = detail,
            });
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The call ended (or the server stops) first: nothing more to record here.
        }
        finally
        {
            accepted?.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _listen.Dispose();
        try
        {
            await _run.ConfigureAwait(false);
        }
        finally
        {
            _cts.Dispose();
            _pool.Release(_port);
        }
    }
}

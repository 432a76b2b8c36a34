using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Echo;

namespace CucmSim.Clients.Echo;

/// <summary>The outcome of one probe: the answer, or why there was none.</summary>
public sealed record EchoResult(IPEndPoint Target, string Transport, string Nonce, EchoReply? Reply, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Reply is { } r && r.Nonce == Nonce;
}

/// <summary>Sends CUCMSIM-PROBE over TCP or UDP and reads the CUCMSIM-ECHO answer.</summary>
public static class EchoClient
{
    public static string NewNonce() => Convert.ToHexString(Guid.NewGuid().ToByteArray().AsSpan(0, 8)).ToLowerInvariant();

    public static async Task<EchoResult> TcpAsync(IPEndPoint target, string? nonce = null, TimeSpan? timeout = null, IPEndPoint? source = null, CancellationToken cancellationToken = default)
    {
        nonce ??= NewNonce();
        var started = TimeProvider.System.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(3));
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(source);
            }

            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"CUCMSIM-PROBE {nonce}\n"), SocketFlags.None, cts.Token).ConfigureAwait(false);
            var buffer = new byte[EchoProbe.MaxEchoLength];
            var length = 0;
            while (length < buffer.Length)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return new EchoResult(target, "tcp", nonce, null, "connection closed before the answer", TimeProvider.System.GetElapsedTime(started));
                }

                length += n;
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, length);
                if (newline >= 0)
                {
                    return EchoProbe.TryParseEcho(buffer.AsSpan(0, newline), out var reply)
                        ? new EchoResult(target, "tcp", nonce, reply, reply.Nonce == nonce ? null : "answer carries another nonce", TimeProvider.System.GetElapsedTime(started))
                        : new EchoResult(target, "tcp", nonce, null, $"not an echo: {Encoding.ASCII.GetString(buffer, 0, newline)}", TimeProvider.System.GetElapsedTime(started));
                }
            }

            return new EchoResult(target, "tcp", nonce, null, "answer too long", TimeProvider.System.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new EchoResult(target, "tcp", nonce, null, "timeout", TimeProvider.System.GetElapsedTime(started));
        }
        catch (SocketException ex)
        {
            return new EchoResult(target, "tcp", nonce, null, ex.SocketErrorCode.ToString(), TimeProvider.System.GetElapsedTime(started));
        }
    }

    public static async Task<EchoResult> UdpAsync(IPEndPoint target, string? nonce = null, TimeSpan? timeout = null, int attempts = 3, CancellationToken cancellationToken = default)
    {
        nonce ??= NewNonce();
        var started = TimeProvider.System.GetTimestamp();
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var request = Encoding.ASCII.GetBytes($"CUCMSIM-PROBE {nonce}");
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var each = (timeout ?? TimeSpan.FromSeconds(3)) / Math.Max(1, attempts);
        string error = "timeout";
        try
        {
            socket.Connect(target);
            for (var attempt = 0; attempt < attempts; attempt++)
            {
                await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                cts.CancelAfter(each);
                try
                {
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                        if (EchoProbe.TryParseEcho(buffer.AsSpan(0, n), out var reply) && reply.Nonce == nonce)
                        {
                            return new EchoResult(target, "udp", nonce, reply, null, TimeProvider.System.GetElapsedTime(started));
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    error = "ICMP port unreachable";
                    break;
                }
            }
        }
        catch (SocketException ex)
        {
            error = ex.SocketErrorCode.ToString();
        }

        return new EchoResult(target, "udp", nonce, null, error, TimeProvider.System.GetElapsedTime(started));
    }
}

using System.Net;
using System.Net.Sockets;

namespace CucmSim.Clients;

/// <summary>Decides whether a datagram is the answer awaited; a false answer names why it was not (kept as the error).</summary>
internal delegate bool AnswerFilter(ReadOnlySpan<byte> datagram, out string? problem);

/// <summary>
/// One UDP request and its answer, the way the UDP clients ask: the request is sent again when a share of the
/// timeout passes in silence, and stale or foreign datagrams are passed over until the filter takes one.
/// </summary>
internal static class UdpExchange
{
    /// <summary>Null when the filter took an answer, else why there was none (the last problem, silence, or the socket error).</summary>
    public static async Task<string?> RequestAsync(IPEndPoint target, ReadOnlyMemory<byte> request, int maxAnswer, AnswerFilter accept, string silence,
        TimeSpan? timeout, int attempts, CancellationToken cancellationToken)
    {
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(target);
        }
        catch (SocketException ex)
        {
            return Explain(ex);
        }

        return await RequestAsync(socket, request, maxAnswer, accept, silence, timeout, attempts, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The same on a connected socket the caller keeps (for exchanges that go on after the answer).</summary>
    public static async Task<string?> RequestAsync(Socket socket, ReadOnlyMemory<byte> request, int maxAnswer, AnswerFilter accept, string silence,
        TimeSpan? timeout, int attempts, CancellationToken cancellationToken)
    {
        var buffer = new byte[maxAnswer + 1];
        var each = (timeout ?? TimeSpan.FromSeconds(3)) / Math.Max(1, attempts);
        var error = silence;
        try
        {
            for (var attempt = 0; attempt < Math.Max(1, attempts); attempt++)
            {
                await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                cts.CancelAfter(each);
                try
                {
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                        if (accept(buffer.AsSpan(0, n), out var problem))
                        {
                            return null;
                        }

                        error = problem ?? error;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
        catch (SocketException ex)
        {
            error = Explain(ex);
        }

        return error;
    }

    private static string Explain(SocketException ex) =>
        ex.SocketErrorCode == SocketError.ConnectionRefused ? "port unreachable (ICMP): nothing listens" : ex.SocketErrorCode.ToString();
}

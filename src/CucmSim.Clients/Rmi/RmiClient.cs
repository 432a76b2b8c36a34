using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Rmi;

namespace CucmSim.Clients.Rmi;

/// <summary>The outcome of a JRMP handshake: the endpoint the server saw this client at, whether a Ping was answered, or why not.</summary>
public sealed record RmiResult(IPEndPoint Target, string? SeenHost, int SeenPort, bool PingAnswered, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Error is null;
}

/// <summary>
/// The JRMP handshake a Java RMI client (RTMT, the attendant console) makes before any call: header, the
/// server's ProtocolAck with this client's endpoint as the server saw it (NAT on the path shows here), this
/// client's endpoint, then a Ping that must come back as PingAck.
/// </summary>
public static class RmiClient
{
    public static async Task<RmiResult> HandshakeAsync(IPEndPoint target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var started = TimeProvider.System.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(5));
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var buffer = new byte[1 + 6 + JrmpCodec.MaxHostLength];
        var filled = 0;
        string? host = null;
        var port = 0;
        try
        {
            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            var header = new byte[JrmpCodec.HeaderSize];
            JrmpCodec.WriteHeader(header, JrmpProtocol.Stream);
            await socket.SendAsync(header, SocketFlags.None, cts.Token).ConfigureAwait(false);
            while (host is null)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return Fail(target, "closed before ProtocolAck: not a JRMP server", started);
                }

                filled += n;
                var status = Read(buffer.AsSpan(0, filled).ToArray(), out var answer, out var seenHost, out port);
                if (status == OperationStatus.InvalidData)
                {
                    return Fail(target, answer == (byte)JrmpMessage.ProtocolNotSupported ? "ProtocolNotSupported" : $"not a ProtocolAck (0x{answer:x2})", started);
                }

                if (status == OperationStatus.Done)
                {
                    host = seenHost;
                }
                else if (filled == buffer.Length)
                {
                    return Fail(target, "ProtocolAck longer than any endpoint", started);
                }
            }

            // Our endpoint as we know it (Java sends its own address and port 0), then a Ping.
            var local = (IPEndPoint)socket.LocalEndPoint!;
            var mine = new byte[6 + JrmpCodec.MaxHostLength + 1];
            var m = JrmpCodec.WriteEndpoint(mine, (local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address).ToString(), 0);
            mine[m++] = (byte)JrmpMessage.Ping;
            await socket.SendAsync(mine.AsMemory(0, m), SocketFlags.None, cts.Token).ConfigureAwait(false);
            var one = new byte[1];
            var got = await socket.ReceiveAsync(one, SocketFlags.None, cts.Token).ConfigureAwait(false);
            var pingAnswered = got == 1 && one[0] == (byte)JrmpMessage.PingAck;
            return new RmiResult(target, host, port, pingAnswered, pingAnswered ? null : "Ping not answered with PingAck", TimeProvider.System.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Fail(target, host is null ? "timeout: no ProtocolAck" : "timeout: no PingAck", started);
        }
        catch (SocketException ex)
        {
            return Fail(target, ex.SocketErrorCode == SocketError.ConnectionRefused ? "refused" : ex.SocketErrorCode.ToString(), started);
        }
    }

    private static OperationStatus Read(byte[] data, out byte answer, out string host, out int port)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(data));
        return JrmpCodec.TryReadProtocolAck(ref reader, out answer, out host, out port);
    }

    private static RmiResult Fail(IPEndPoint target, string error, long started) =>
        new(target, null, 0, false, error, TimeProvider.System.GetElapsedTime(started));
}

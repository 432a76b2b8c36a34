using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Clients.Tftp;

/// <summary>How one TFTP read is made.</summary>
public sealed record TftpGetOptions
{
    public TftpMode Mode { get; init; } = TftpMode.Octet;

    /// <summary>Options to request (RFC 2347-2349, 7440); none requested by default.</summary>
    public TftpOptionSet Request { get; init; }

    /// <summary>Wait for a packet before repeating the last one sent.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    public int Retries { get; init; } = 5;

    /// <summary>The transfer is abandoned past this many bytes.</summary>
    public long MaxBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Expected content (byte for byte); a mismatch fails the fetch.</summary>
    public ReadOnlyMemory<byte>? Expect { get; init; }

    /// <summary>Local address to send from (port 0: the system picks); default: any address.</summary>
    public IPAddress? Source { get; init; }

    /// <summary>Stop after the OACK with ERROR 0 (a "tsize probe"): only the negotiated options are learnt.</summary>
    public bool ProbeOnly { get; init; }
}

/// <summary>The outcome of one TFTP read.</summary>
public sealed record TftpGetResult
{
    public required string File { get; init; }
    public bool Ok => Error is null;
    public string? Error { get; init; }

    /// <summary>An ERROR the server sent (code and text).</summary>
    public TftpErrorCode? ServerError { get; init; }
    public string? ServerMessage { get; init; }

    public byte[]? Content { get; init; }
    public string? Sha256 { get; init; }

    /// <summary>Where the data came from: the server's transfer ID (a new port unless single-port mode).</summary>
    public IPEndPoint? DataEndPoint { get; init; }

    /// <summary>The options in the OACK; null when the server sent DATA straight away.</summary>
    public TftpOptionSet? Negotiated { get; init; }

    public int Retransmits { get; init; }
    public int ForeignPackets { get; init; }
    public TimeSpan Elapsed { get; init; }
}

/// <summary>
/// A TFTP read client (RFC 1350 with options of RFC 2347-2349 and 7440): follows the server's transfer
/// ID, acknowledges every block or every window, retransmits on timeout, answers foreign ports with
/// ERROR 5, and checks the content.
/// </summary>
public static class TftpClient
{
    public static async Task<TftpGetResult> GetAsync(IPEndPoint server, string file, TftpGetOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TftpGetOptions();
        var started = TimeProvider.System.GetTimestamp();
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(options.Source ?? (server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any), 0));
        var send = new byte[TftpPacket.MaxRequestLength];
        var receive = new byte[TftpPacket.HeaderLength + TftpPacket.MaxBlockSize + 1];
        var last = send.AsMemory(0, TftpPacket.WriteRequest(send, TftpOpcode.ReadRequest, file, options.Mode, options.Request));
        var lastTarget = (EndPoint)server;
        IPEndPoint? tid = null;
        TftpOptionSet? negotiated = null;
        var blockSize = TftpPacket.DefaultBlockSize;
        var window = 1;
        ushort expected = 1;
        var sinceAck = 0;
        var retries = 0;
        var retransmits = 0;
        var foreign = 0;
        var content = new ArrayBufferWriter<byte>();

        TftpGetResult Result(string? error, TftpErrorCode? code = null, string? message = null)
        {
            byte[]? bytes = null;
            string? sha = null;
            if (error is null)
            {
                bytes = options.Mode == TftpMode.NetAscii ? NetAscii.Decode(content.WrittenSpan) : content.WrittenSpan.ToArray();
                sha = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
                if (options.Expect is { } expect && !expect.Span.SequenceEqual(bytes))
                {
                    error = $"content differs from the expected {expect.Length} bytes (got {bytes.Length})";
                }
            }

            return new TftpGetResult
            {
                File = file, Error = error, ServerError = code, ServerMessage = message, Content = bytes, Sha256 = sha, DataEndPoint = tid,
                Negotiated = negotiated, Retransmits = retransmits, ForeignPackets = foreign, Elapsed = TimeProvider.System.GetElapsedTime(started),
            };
        }

        await socket.SendToAsync(last, SocketFlags.None, lastTarget, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            int n;
            IPEndPoint from;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(options.Timeout);
                try
                {
                    var r = await socket.ReceiveFromAsync(receive, SocketFlags.None, new IPEndPoint(server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), timeout.Token).ConfigureAwait(false);
                    n = r.ReceivedBytes;
                    from = (IPEndPoint)r.RemoteEndPoint;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    if (++retries > options.Retries)
                    {
                        return Result(tid is null ? "no answer from the server" : "the data channel went silent");
                    }

                    retransmits++;
                    await socket.SendToAsync(last, SocketFlags.None, lastTarget, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                catch (SocketException ex)
                {
                    return Result($"socket error: {ex.SocketErrorCode}");
                }
            }

            var packet = receive.AsSpan(0, n);
            if (tid is null)
            {
                if (!from.Address.Equals(server.Address))
                {
                    continue;
                }

                tid = from;
            }
            else if (!from.Equals(tid))
            {
                // RFC 1350 §4: another port is not this transfer; tell it, and go on.
                foreign++;
                var e = TftpPacket.WriteError(send, TftpErrorCode.UnknownTransferId, "Unknown transfer ID");
                await socket.SendToAsync(send.AsMemory(0, e), SocketFlags.None, from, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!TftpPacket.TryReadOpcode(packet, out var opcode))
            {
                return Result("malformed packet from the server");
            }

            switch (opcode)
            {
                case TftpOpcode.Error:
                    TftpPacket.TryParseError(packet, out var code, out var message);
                    return Result($"server ERROR {(int)code}: {message}", code, message);

                case TftpOpcode.OptionAck when negotiated is null && expected == 1 && content.WrittenCount == 0:
                    if (TftpPacket.TryParseOptionAck(packet, out var granted, out var oackError) != OperationStatus.Done)
                    {
                        return Result($"bad OACK: {oackError}");
                    }

                    negotiated = granted;
                    blockSize = granted.BlockSize ?? TftpPacket.DefaultBlockSize;
                    window = granted.WindowSize ?? 1;
                    if (options.ProbeOnly)
                    {
                        var e = TftpPacket.WriteError(send, TftpErrorCode.NotDefined, "probe only");
                        await socket.SendToAsync(send.AsMemory(0, e), SocketFlags.None, tid, cancellationToken).ConfigureAwait(false);
                        return Result(null);
                    }

                    last = send.AsMemory(0, TftpPacket.WriteAck(send, 0));
                    lastTarget = tid;
                    retries = 0;
                    await socket.SendToAsync(last, SocketFlags.None, lastTarget, cancellationToken).ConfigureAwait(false);
                    break;

                case TftpOpcode.Data:
                    if (!TftpPacket.TryParseData(packet, out var block, out var data))
                    {
                        return Result("malformed DATA");
                    }

                    if (block != expected)
                    {
                        // A repeat or a gap: acknowledge the last block in order (RFC 1350; RFC 7440 §4).
                        var a = TftpPacket.WriteAck(send, (ushort)(expected - 1));
                        last = send.AsMemory(0, a);
                        lastTarget = tid;
                        sinceAck = 0;
                        await socket.SendToAsync(last, SocketFlags.None, lastTarget, cancellationToken).ConfigureAwait(false);
                        break;
                    }

                    if (data.Length > blockSize)
                    {
                        return Result("DATA larger than the block size");
                    }

                    content.Write(data);
                    if (content.WrittenCount > options.MaxBytes)
                    {
                        return Result("file larger than the client's limit");
                    }

                    retries = 0;
                    var end = data.Length < blockSize;
                    expected++;
                    if (++sinceAck >= window || end)
                    {
                        sinceAck = 0;
                        last = send.AsMemory(0, TftpPacket.WriteAck(send, block));
                        lastTarget = tid;
                        await socket.SendToAsync(last, SocketFlags.None, lastTarget, cancellationToken).ConfigureAwait(false);
                    }

                    if (end)
                    {
                        return Result(null);
                    }

                    break;

                default:
                    return Result($"unexpected {opcode} from the server");
            }
        }
    }
}

using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CucmSim.Protocols.Ssh;

namespace CucmSim.Clients.Ssh;

/// <summary>
/// What an SSH server showed before authentication: its identification, the host key it proved it holds (the
/// signature of the exchange hash verified) and its fingerprint, and how it ended the session; or why not.
/// </summary>
public sealed record SshScanResult(IPEndPoint Target, TimeSpan Elapsed)
{
    public SshVersion? Server { get; init; }

    /// <summary>The negotiated key exchange method.</summary>
    public string? Kex { get; init; }

    public string? HostKeyAlgorithm { get; init; }

    /// <summary>K_S as sent (the key of known_hosts).</summary>
    public byte[]? HostKey { get; init; }

    /// <summary>"SHA256:...", as ssh prints it.</summary>
    public string? Fingerprint { get; init; }

    /// <summary>The server's SSH_MSG_DISCONNECT after this client's NEWKEYS (or instead of a key exchange).</summary>
    public SshDisconnect? Disconnect { get; init; }

    public string? Error { get; init; }

    public bool Ok => Error is null;
}

/// <summary>
/// An SSH client that goes as far as ssh-keyscan and one step more: identification, KEXINIT, ecdh-sha2-nistp256
/// with an ecdsa-sha2-nistp256 host key, the signature of H checked against that key, then NEWKEYS and the
/// server's answer to it (a server that does not authenticate anyone ends the session there).
/// </summary>
public static class SshKeyScanClient
{
    public const string Software = "CucmSim_1.0";

    private static readonly string[] Ciphers = ["aes128-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"];
    private static readonly string[] Macs = ["hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"];

    public static async Task<SshScanResult> ScanAsync(IPEndPoint target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var started = TimeProvider.System.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(5));
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new Connection(socket);
        var result = new SshScanResult(target, TimeSpan.Zero);
        var stage = "no identification";
        try
        {
            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            var ownLine = SshIdentification.Format(Software);
            var offer = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm], [SshEcdsaKex.HostKeyAlgorithm], Ciphers, Macs, ["none"]);
            var ownKexInit = offer.ToPayload();

            // Like OpenSSH, this side speaks at once: its identification and its KEXINIT.
            var first = new ArrayBufferWriter<byte>(1024);
            SshWire.WriteRaw(first, ownLine);
            SshPacket.Write(first, ownKexInit);
            await socket.SendAsync(first.WrittenMemory, SocketFlags.None, cts.Token).ConfigureAwait(false);

            var server = await connection.ReadIdentificationAsync(cts.Token).ConfigureAwait(false);
            result = result with { Server = server };
            if (!server.IsVersion2)
            {
                return Done(result, started, $"protocol version {server.ProtocolVersion}, not 2.0");
            }

            stage = "no KEXINIT";
            var serverKexInit = await connection.ReadPacketAsync(cts.Token).ConfigureAwait(false);
            if (serverKexInit[0] == (byte)SshMessage.Disconnect)
            {
                return Ended(result, serverKexInit, started, "disconnected before the key exchange");
            }

            if (!SshKexInit.TryParse(serverKexInit, out var serverOffer, out var error))
            {
                return Done(result, started, error!);
            }

            var negotiated = SshNegotiated.From(offer, serverOffer!, out var mismatch);
            if (negotiated is null)
            {
                return Done(result with { HostKeyAlgorithm = string.Join(',', serverOffer!.HostKey), Kex = string.Join(',', serverOffer.Kex) }, started, mismatch!);
            }

            using var ephemeral = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            var clientPoint = SshEcdsaKex.EncodePoint(ephemeral.ExportParameters(false));
            await connection.SendPacketAsync(SshEcdhInit.ToPayload(clientPoint), cts.Token).ConfigureAwait(false);

            stage = "no KEX_ECDH_REPLY";
            var replyPayload = await connection.ReadPacketAsync(cts.Token).ConfigureAwait(false);
            if (replyPayload[0] == (byte)SshMessage.Disconnect)
            {
                return Ended(result, replyPayload, started, "disconnected in the key exchange");
            }

            if (!SshEcdhReply.TryParse(replyPayload, out var reply))
            {
                return Done(result, started, $"message {replyPayload[0]} instead of KEX_ECDH_REPLY");
            }

            result = result with { Kex = negotiated.Kex, HostKey = reply!.HostKey, Fingerprint = SshEcdsaKex.Fingerprint(reply.HostKey) };
            if (!SshEcdsaKex.TryReadHostKey(reply.HostKey, out var algorithm, out var hostKey))
            {
                return Done(result with { HostKeyAlgorithm = algorithm }, started, $"host key {algorithm} is not an ecdsa-sha2-nistp256 key");
            }

            using (hostKey)
            {
                result = result with { HostKeyAlgorithm = algorithm };
                if (!SshEcdsaKex.TryDecodePoint(reply.PublicKey, out var serverPublic))
                {
                    return Done(result, started, "the server's ephemeral key is not a P-256 point");
                }

                byte[] secret;
                try
                {
                    using var peer = ECDiffieHellman.Create(serverPublic);
                    secret = ephemeral.DeriveRawSecretAgreement(peer.PublicKey);
                }
                catch (CryptographicException)
                {
                    return Done(result, started, "the server's ephemeral key is not on P-256");
                }

                var hash = SshEcdsaKex.ExchangeHash(System.Text.Encoding.ASCII.GetString(ownLine).TrimEnd('\r', '\n'), server.Line, ownKexInit, serverKexInit, reply.HostKey, clientPoint, reply.PublicKey, secret);
                if (!SshEcdsaKex.Verify(hostKey!, hash, reply.Signature))
                {
                    return Done(result, started, "the signature of the exchange hash does not verify with the host key");
                }
            }

            // NEWKEYS: a real client would now encrypt and authenticate. What the server says to that is recorded.
            stage = "host key verified";
            await connection.SendPacketAsync([(byte)SshMessage.NewKeys], cts.Token).ConfigureAwait(false);
            using var after = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var either = CancellationTokenSource.CreateLinkedTokenSource(after.Token, cts.Token);
            try
            {
                while (true)
                {
                    var next = await connection.ReadPacketAsync(either.Token).ConfigureAwait(false);
                    if (next[0] == (byte)SshMessage.Disconnect)
                    {
                        return Done(result with { Disconnect = SshDisconnect.TryParse(next, out var bye) ? bye : null }, started, null);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SshClosedException or InvalidDataException or SocketException && !cancellationToken.IsCancellationRequested)
            {
                // NEWKEYS from the server (encryption follows), a close or silence: the host key is what was asked for.
                return Done(result, started, null);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Done(result, started, "timeout: " + stage);
        }
        catch (SshClosedException)
        {
            return Done(result, started, "closed: " + stage);
        }
        catch (InvalidDataException ex)
        {
            return Done(result, started, ex.Message);
        }
        catch (SocketException ex)
        {
            return Done(result, started, ex.SocketErrorCode == SocketError.ConnectionRefused ? "refused" : ex.SocketErrorCode == SocketError.ConnectionReset ? "reset: " + stage : ex.SocketErrorCode.ToString());
        }
    }

    private static SshScanResult Ended(SshScanResult result, byte[] payload, long started, string error)
    {
        var bye = SshDisconnect.TryParse(payload, out var d) ? d : null;
        return Done(result with { Disconnect = bye }, started, bye is null ? error : $"{error}: {bye.Reason} {bye.Description}");
    }

    private static SshScanResult Done(SshScanResult result, long started, string? error) =>
        result with { Error = error, Elapsed = TimeProvider.System.GetElapsedTime(started) };

    private sealed class SshClosedException() : Exception("closed");

    /// <summary>A socket read into one growing buffer, parsed with the codec's limits.</summary>
    private sealed class Connection(Socket socket)
    {
        /// <summary>A whole packet, or the longest preamble and identification the codec takes.</summary>
        private const int MaxBuffer = (SshIdentification.MaxPreambleLines + 1) * SshIdentification.MaxPreambleLineLength;

        private byte[] _buffer = new byte[4096];
        private int _start;
        private int _end;

        public async Task<SshVersion> ReadIdentificationAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, _start, _end - _start));
                switch (SshIdentification.TryRead(ref reader, skipPreamble: true, out var version, out var error))
                {
                    case OperationStatus.Done:
                        _start += (int)reader.Consumed;
                        return version!;
                    case OperationStatus.InvalidData:
                        throw new InvalidDataException(error);
                }

                await FillAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>The next message that is not IGNORE or DEBUG.</summary>
        public async Task<byte[]> ReadPacketAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, _start, _end - _start));
                switch (SshPacket.TryRead(ref reader, out var payload, out var error))
                {
                    case OperationStatus.Done:
                        _start += (int)reader.Consumed;
                        if (payload[0] is not ((byte)SshMessage.Ignore or (byte)SshMessage.Debug))
                        {
                            return payload;
                        }

                        continue;
                    case OperationStatus.InvalidData:
                        throw new InvalidDataException("bad packet: " + error);
                }

                await FillAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task SendPacketAsync(byte[] payload, CancellationToken cancellationToken)
        {
            var output = new ArrayBufferWriter<byte>(payload.Length + 32);
            SshPacket.Write(output, payload);
            await socket.SendAsync(output.WrittenMemory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                // The codec refuses anything larger than a packet or the preamble long before this.
                Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxBuffer));
                if (_end == _buffer.Length)
                {
                    throw new InvalidDataException("more than a packet of data the codec cannot place");
                }
            }

            var n = await socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new SshClosedException();
            }

            _end += n;
        }
    }
}

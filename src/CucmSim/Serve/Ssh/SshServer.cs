using System.Buffers;
using System.IO.Pipelines;
using CucmSim.Protocols.Ssh;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Ssh;

/// <summary>
/// SSH on 22 (the platform CLI and SFTP of CUCM, and the SFTP server CUCM backs up to), as far as the host key:
/// the identification banner of CUCM's OpenSSH, KEXINIT, then ecdh-sha2-nistp256 with an ecdsa-sha2-nistp256
/// host key (RFC 4253, RFC 5656), which is all ssh-keyscan needs. When the client sends NEWKEYS (it would now
/// encrypt and authenticate) the server, whose own direction is still clear, sends SSH_MSG_DISCONNECT and
/// closes. Nothing is encrypted and nobody logs in (docs/ssh.md).
/// </summary>
internal sealed class SshServer(SshHostKey hostKey) : ITcpProtocol
{
    /// <summary>
    /// What CUCM 12.5 and 14 announce: their platform is built on RHEL 7, whose sshd (OpenSSH 7.4p1) sends
    /// "OpenSSH_7.4" with no comment. nmap names it "OpenSSH 7.4 (protocol 2.0)".
    /// </summary>
    public const string Software = "OpenSSH_7.4";

    /// <summary>
    /// A client that sends nothing this long after connecting (nmap's NULL probe, ssh-keyscan, nc) gets the banner;
    /// one that speaks first (OpenSSH's ssh) gets it at once. The echo's probe line arrives well inside this.
    /// </summary>
    public static readonly TimeSpan BannerAfter = TimeSpan.FromMilliseconds(500);

    private static readonly byte[] Banner = SshIdentification.Format(Software);
    private static readonly string BannerLine = System.Text.Encoding.ASCII.GetString(Banner).TrimEnd('\r', '\n');

    /// <summary>What OpenSSH 7.4 offers beside the one key exchange and host key type answered here.</summary>
    private static readonly string[] Ciphers = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];

    private static readonly string[] Macs = ["umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com",
        "umac-64@openssh.com", "umac-128@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"];

    private static readonly string[] Compression = ["none", "zlib@openssh.com"];

    private enum Stage
    {
        Identification,
        KexInit,
        EcdhInit,
        NewKeys,
        Done,
    }

    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "ssh-banner";
        session.Detail = [];
        var output = connection.Transport.Output;
        var offer = SshKexInit.Offer([SshEcdsaKex.KexAlgorithm], [SshEcdsaKex.HostKeyAlgorithm], Ciphers, Macs, Compression);
        var state = new State(listener, session, offer);
        output.Write(Banner);
        Sent(session, Banner.Length);
        await output.FlushAsync(context.Stopping).ConfigureAwait(false);
        await TcpReadLoop.RunAsync(connection, context, (in ReadOnlySequence<byte> buffer, out bool close) =>
        {
            var consumed = Process(buffer, state, output, out close);
            session.BytesIn += buffer.Slice(0, consumed).Length;
            return consumed;
        }).ConfigureAwait(false);
    }

    private sealed class State(ListenerRuntime listener, TcpSessionFeature session, SshKexInit offer)
    {
        public ListenerRuntime Listener { get; } = listener;
        public TcpSessionFeature Session { get; } = session;
        public SshKexInit Offer { get; } = offer;
        public byte[] ServerKexInit { get; } = offer.ToPayload();
        public Stage Stage { get; set; }
        public SshVersion? Client { get; set; }
        public byte[] ClientKexInit { get; set; } = [];

        /// <summary>The client guessed a key exchange packet that the negotiation did not pick: it is ignored (RFC 4253 §7).</summary>
        public bool SkipGuess { get; set; }
    }

    private SequencePosition Process(in ReadOnlySequence<byte> buffer, State state, PipeWriter output, out bool close)
    {
        var reader = new SequenceReader<byte>(buffer);
        close = false;
        while (!close && !reader.End)
        {
            if (state.Stage == Stage.Done)
            {
                reader.AdvanceToEnd();
                break;
            }

            if (state.Stage == Stage.Identification)
            {
                var start = reader.Position;
                var status = SshIdentification.TryRead(ref reader, skipPreamble: false, out var version, out var error);
                if (status == OperationStatus.NeedMoreData)
                {
                    break;
                }

                if (status == OperationStatus.InvalidData)
                {
                    // OpenSSH answers a bad identification in clear text: the peer does not speak the binary protocol.
                    Malformed(state, buffer.Slice(start), error!);
                    SendLine(output, state.Session, "Invalid SSH identification string.");
                    close = true;
                    break;
                }

                state.Client = version;
                state.Session.Detail!["banner"] = version!.Line;
                if (!version.IsVersion2)
                {
                    state.Session.Verdict = "ssh-version-mismatch";
                    SendLine(output, state.Session, "Protocol major versions differ.");
                    close = true;
                    break;
                }

                state.Session.Verdict = "ssh-identified";
                Sent(state.Session, SshPacket.Write(output, state.ServerKexInit));
                state.Stage = Stage.KexInit;
                continue;
            }

            var packetStart = reader.Position;
            var packet = SshPacket.TryRead(ref reader, out var payload, out var packetError);
            if (packet == OperationStatus.NeedMoreData)
            {
                break;
            }

            if (packet == OperationStatus.InvalidData)
            {
                Malformed(state, buffer.Slice(packetStart), "bad packet: " + packetError);
                Disconnect(output, state, SshDisconnectReason.ProtocolError, "Bad packet length");
                close = true;
                break;
            }

            close = OnMessage(payload, state, output);
        }

        if (close)
        {
            // What came after the end is counted, not read.
            reader.AdvanceToEnd();
        }

        return reader.Position;
    }

    /// <summary>Handles one message; true closes the connection.</summary>
    private bool OnMessage(byte[] payload, State state, PipeWriter output)
    {
        var session = state.Session;
        switch ((SshMessage)payload[0])
        {
            case SshMessage.Ignore or SshMessage.Debug or SshMessage.Unimplemented:
                return false;
            case SshMessage.Disconnect:
                session.Detail!["clientDisconnect"] = SshDisconnect.TryParse(payload, out var bye) ? $"{bye!.Reason}: {bye.Description}" : "(unreadable)";
                state.Stage = Stage.Done;
                return true;
        }

        if (state.SkipGuess)
        {
            state.SkipGuess = false;
            return false;
        }

        switch (state.Stage)
        {
            case Stage.KexInit when payload[0] == (byte)SshMessage.KexInit:
                if (!SshKexInit.TryParse(payload, out var offer, out var error))
                {
                    return Fail(state, output, payload, error!);
                }

                state.ClientKexInit = payload;
                var negotiated = SshNegotiated.From(offer!, state.Offer, out var mismatch);
                if (negotiated is null)
                {
                    session.Verdict = "ssh-kex-failed";
                    session.Detail!["error"] = Shorten(mismatch!);
                    Disconnect(output, state, SshDisconnectReason.KeyExchangeFailed, Shorten(mismatch!));
                    return true;
                }

                session.Detail!["kex"] = negotiated.Kex;
                session.Detail["hostKey"] = negotiated.HostKey;
                state.SkipGuess = offer!.FirstKexPacketFollows && (offer.Kex[0] != negotiated.Kex || offer.HostKey[0] != negotiated.HostKey);
                state.Stage = Stage.EcdhInit;
                return false;
            case Stage.EcdhInit when payload[0] == (byte)SshMessage.KexEcdhInit:
                if (!SshEcdhInit.TryParse(payload, out var clientPoint) || !SshEcdsaKex.TryAgree(clientPoint, out var serverPoint, out var secret))
                {
                    return Fail(state, output, payload, "KEX_ECDH_INIT without a P-256 point");
                }

                var hash = SshEcdsaKex.ExchangeHash(state.Client!.Line, BannerLine, state.ClientKexInit, state.ServerKexInit, hostKey.Blob, clientPoint, serverPoint, secret);
                var reply = new SshEcdhReply(hostKey.Blob, serverPoint, hostKey.Sign(hash)).ToPayload();
                Sent(session, SshPacket.Write(output, reply));
                session.Verdict = "ssh-kex";
                session.Detail!["fingerprint"] = hostKey.Fingerprint;
                state.Stage = Stage.NewKeys;
                return false;
            case Stage.NewKeys when payload[0] == (byte)SshMessage.NewKeys:
                // The client now encrypts; this side has not sent NEWKEYS, so its DISCONNECT still goes in clear.
                session.Detail!["newKeys"] = "client";
                Disconnect(output, state, SshDisconnectReason.NoMoreAuthMethodsAvailable, "no authentication here: this node ends SSH after the key exchange");
                return true;
            default:
                return Fail(state, output, payload, $"unexpected message {payload[0]} in {state.Stage}");
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "...";

    private static bool Fail(State state, PipeWriter output, byte[] payload, string error)
    {
        Malformed(state, new ReadOnlySequence<byte>(payload), error);
        Disconnect(output, state, SshDisconnectReason.ProtocolError, error);
        return true;
    }

    private static void Disconnect(PipeWriter output, State state, SshDisconnectReason reason, string description)
    {
        state.Stage = Stage.Done;
        state.Session.Detail!["disconnect"] = $"{(uint)reason}: {description}";
        Sent(state.Session, SshPacket.Write(output, new SshDisconnect((uint)reason, description).ToPayload()));
    }

    private static void SendLine(PipeWriter output, TcpSessionFeature session, string text)
    {
        var n = System.Text.Encoding.ASCII.GetBytes(text + "\r\n", output.GetSpan(text.Length + 2));
        output.Advance(n);
        Sent(session, n);
    }

    private static void Sent(TcpSessionFeature session, int n) => session.BytesOut += n;

    private static void Malformed(State state, in ReadOnlySequence<byte> data, string error)
    {
        state.Listener.MalformedInput();
        state.Session.Verdict = "ssh-malformed";
        state.Session.Detail!["error"] = error;
        state.Session.Detail["first"] = Text.Escape(data);
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using CucmSim.Protocols.Sccp;

namespace CucmSim.Clients.Sccp;

/// <summary>How the phone presents itself.</summary>
public sealed record SccpPhoneOptions
{
    /// <summary>"SEP" and 12 hex digits; default: a random MAC.</summary>
    public string DeviceName { get; init; } = "SEP" + Convert.ToHexString(Guid.NewGuid().ToByteArray().AsSpan(0, 6));

    /// <summary>Highest protocol version the phone claims (17 = V17 layouts with 16-byte addresses; 0 = a legacy 36-byte register).</summary>
    public byte ProtocolVersion { get; init; } = 17;

    public uint DeviceType { get; init; } = 115;

    /// <summary>Address written into RegisterReq and OpenReceiveChannelAck; default: the local address of the connection.</summary>
    public IPAddress? EmbeddedAddress { get; init; }

    /// <summary>Source address to bind (spread load over 127.0.0.0/8).</summary>
    public IPAddress? Source { get; init; }

    /// <summary>SCCP over TLS (2443); the server certificate is kept in <see cref="SccpPhone.ServerCertificate"/>, not validated.</summary>
    public bool Tls { get; init; }

    public string? TlsTargetHost { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>The outcome of RegisterReq.</summary>
public sealed record SccpRegistration(bool Accepted, SccpRegisterAck? Ack, string? RejectText, int NegotiatedVersion, uint HeaderVersion);

/// <summary>What the server answered to the boot requests.</summary>
public sealed record SccpBootResult(IReadOnlyList<SccpButton> Buttons, string DirectoryNumber, string ServerName, DateTimeOffset ServerTime, int SoftKeys);

/// <summary>What the phone sent against what the server says it received (DisplayNotify mirror).</summary>
public sealed record SccpMirror(string EmbeddedSent, string? EmbeddedSeen, string LocalSignalling, string? SignallingSeen, string? MediaSent, string? MediaSeen)
{
    /// <summary>True when the server saw another embedded address than the one sent: a middlebox rewrote the payload.</summary>
    public bool EmbeddedRewritten => EmbeddedSeen is not null && EmbeddedSeen != EmbeddedSent;

    /// <summary>True when the server saw the connection from another address or port: NAT.</summary>
    public bool SignallingTranslated => SignallingSeen is not null && SignallingSeen != LocalSignalling;

    public bool MediaRewritten => MediaSeen is not null && MediaSent is not null && MediaSeen != MediaSent;
}

/// <summary>One call: where the server told the phone to send, what the phone said, and RTP counts.</summary>
public sealed record SccpCallResult(bool Connected, string? Error, IPEndPoint? MediaTarget, IPEndPoint? PhoneMedia, uint PassThroughPartyId, int RtpSent, int RtpEchoed, bool Stopped, bool Closed);

/// <summary>
/// A call <see cref="SccpPhone.PlaceCallAsync"/> set up and not yet ended: its media channel (null when the server
/// answered busy, with <paramref name="Error"/> its reason) and what its first packets did.
/// </summary>
public sealed record SccpPlacedCall(SccpMediaChannel? Media, string? Error, int RtpSent, int RtpEchoed) : IDisposable
{
    public void Dispose() => Media?.Dispose();
}

/// <summary>A media channel of a call: the phone's RTP socket, its address as reported, and where it is told to send.</summary>
public sealed record SccpMediaChannel(Socket Rtp, IPEndPoint Local, IPEndPoint Target, SccpOpenReceiveChannel Open, SccpStartMediaTransmission Start) : IDisposable
{
    public void Dispose() => Rtp.Dispose();
}

/// <summary>
/// An SCCP phone (protocols.md §1.3-§1.5): registers with a chosen protocol version, answers the
/// boot sequence, keeps alive, places a call, answers OpenReceiveChannel with its own RTP address, sends
/// and receives RTP, hangs up, and reports what the server saw against what it sent. Each message goes
/// out in one write on a TCP_NODELAY socket.
/// </summary>
public sealed class SccpPhone : IAsyncDisposable
{
    private readonly SccpPhoneOptions _options;
    private readonly List<string> _notifications = [];
    private Socket? _socket;
    private Stream? _stream;
    private PipeReader? _reader;
    private uint _version;
    private string? _mediaSent;

    public SccpPhone(SccpPhoneOptions? options = null) => _options = options ?? new SccpPhoneOptions();

    public SccpPhoneOptions Options => _options;

    public IPEndPoint? LocalEndPoint { get; private set; }

    public X509Certificate2? ServerCertificate { get; private set; }

    /// <summary>Texts of every DisplayNotify received.</summary>
    public IReadOnlyList<string> Notifications => _notifications;

    public IList<SccpCallState> CallStates { get; } = [];

    public int KeepAliveAcks { get; private set; }

    public uint HeaderVersion => _version;

    public IPAddress Embedded => _options.EmbeddedAddress ?? LocalEndPoint?.Address ?? IPAddress.Any;

    public async Task ConnectAsync(IPEndPoint server, CancellationToken cancellationToken = default)
    {
        using var cts = Timeout(cancellationToken);
        _socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (_options.Source is { } source)
        {
            _socket.Bind(new IPEndPoint(source, 0));
        }

        await _socket.ConnectAsync(server, cts.Token).ConfigureAwait(false);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        Stream stream = new NetworkStream(_socket, ownsSocket: false);
        if (_options.Tls)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = _options.TlsTargetHost ?? "CallManager",
                RemoteCertificateValidationCallback = (_, _, _, _) => true, // a lab client: the certificate is reported, not trusted
            }, cts.Token).ConfigureAwait(false);
            ServerCertificate = ssl.RemoteCertificate is { } c ? new X509Certificate2(c) : null;
            stream = ssl;
        }

        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096));
    }

    /// <summary>Sends one message as one write (one TCP segment on a NODELAY socket).</summary>
    public async Task SendAsync(SccpMessage message, uint? version = null, CancellationToken cancellationToken = default)
    {
        var bytes = SccpCodec.Encode(message, version ?? _version);
        await _stream!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends raw bytes (tests of bad input).</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        await _stream!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The next message; null when the server closed the connection.</summary>
    public async Task<SccpMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await _reader!.ReadAsync(cancellationToken).ConfigureAwait(false);
            var status = TryTake(result.Buffer, out var message, out var consumed);
            if (status == OperationStatus.Done)
            {
                _reader.AdvanceTo(consumed);
                Observe(message!);
                return message;
            }

            _reader.AdvanceTo(consumed, result.Buffer.End);
            if (status == OperationStatus.InvalidData)
            {
                throw new InvalidDataException("the server sent a malformed SCCP frame");
            }

            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    private static OperationStatus TryTake(in ReadOnlySequence<byte> buffer, out SccpMessage? message, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        var status = SccpCodec.TryRead(ref reader, SccpFraming.DefaultMaxDataLength, out _, out message);
        consumed = status == OperationStatus.Done ? reader.Position : buffer.Start;
        return status;
    }

    private void Observe(SccpMessage message)
    {
        switch (message)
        {
            case SccpDisplayNotify n:
                _notifications.Add(n.Text);
                break;
            case SccpCallState s:
                CallStates.Add(s);
                break;
            case { Id: SccpMessageId.KeepAliveAck }:
                KeepAliveAcks++;
                break;
        }
    }

    /// <summary>Receives until a message with one of the ids arrives (others are observed and dropped).</summary>
    public async Task<SccpMessage> ExpectAsync(CancellationToken cancellationToken, params uint[] ids)
    {
        using var cts = Timeout(cancellationToken);
        while (true)
        {
            SccpMessage? m;
            try
            {
                m = await ReceiveAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no SCCP message 0x{string.Join("/0x", ids.Select(i => i.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)))} within {_options.Timeout.TotalSeconds} s");
            }

            if (m is null)
            {
                throw new IOException("the server closed the connection");
            }

            if (ids.Contains(m.Id))
            {
                return m;
            }
        }
    }

    public async Task<SccpRegistration> RegisterAsync(CancellationToken cancellationToken = default)
    {
        var mac = _options.DeviceName.Length == 15 && _options.DeviceName.StartsWith("SEP", StringComparison.Ordinal) ? Convert.FromHexString(_options.DeviceName.AsSpan(3)) : new byte[6];
        var legacy = _options.ProtocolVersion == 0;
        // Phones send RegisterReq with header version 0 (chan-sccp sample dumps).
        await SendAsync(new SccpRegister
        {
            DeviceName = _options.DeviceName,
            // An IPv6 phone fills stationIpV6Addr and leaves the IPv4 field zero.
            StationAddress = Embedded.AddressFamily == AddressFamily.InterNetwork ? Embedded : IPAddress.Any,
            StationIPv6Address = Embedded.AddressFamily == AddressFamily.InterNetworkV6 ? Embedded : null,
            DeviceType = _options.DeviceType,
            ProtocolVersion = _options.ProtocolVersion,
            PhoneFeatures = 0x8572,
            MaxConferences = 1,
            Mac = mac,
            MaxLines = 2,
            FirmwareLoadName = "SCCP41.9-4-2SR3-1S",
            Layout = legacy ? SccpRegister.ShortBody : SccpRegister.LongBody,
        }, 0, cancellationToken).ConfigureAwait(false);
        var answer = await ExpectAsync(cancellationToken, SccpMessageId.RegisterAck, SccpMessageId.RegisterReject).ConfigureAwait(false);
        if (answer is SccpText reject)
        {
            return new SccpRegistration(false, null, reject.Text, 0, 0);
        }

        var ack = (SccpRegisterAck)answer;
        _version = SccpFraming.HeaderVersionFor(ack.MaxProtocolVersion);
        KeepAliveInterval = TimeSpan.FromSeconds(Math.Clamp(ack.KeepAliveInterval, 1u, 3600u));
        await ExpectAsync(cancellationToken, SccpMessageId.CapabilitiesReq).ConfigureAwait(false);
        await SendAsync(new SccpCapabilitiesRes([new SccpCapability(4, 40), new SccpCapability(2, 40), new SccpCapability(11, 60)]), cancellationToken: cancellationToken).ConfigureAwait(false);
        return new SccpRegistration(true, ack, null, ack.MaxProtocolVersion, _version);
    }

    /// <summary>The requests a phone sends after registering, each answered (protocols.md §1.3).</summary>
    public async Task<SccpBootResult> BootAsync(CancellationToken cancellationToken = default)
    {
        await SendAsync(SccpEmpty.ButtonTemplateReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        var buttons = (SccpButtonTemplateRes)await ExpectAsync(cancellationToken, SccpMessageId.ButtonTemplateRes).ConfigureAwait(false);
        await SendAsync(SccpEmpty.SoftKeyTemplateReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        var keys = (SccpSoftKeyTemplateRes)await ExpectAsync(cancellationToken, SccpMessageId.SoftKeyTemplateRes).ConfigureAwait(false);
        await SendAsync(SccpEmpty.SoftKeySetReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        await ExpectAsync(cancellationToken, SccpMessageId.SoftKeySetRes).ConfigureAwait(false);
        await SendAsync(SccpEmpty.ConfigStatReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        var config = (SccpConfigStatRes)await ExpectAsync(cancellationToken, SccpMessageId.ConfigStatRes).ConfigureAwait(false);
        await SendAsync(new SccpValue(SccpMessageId.LineStatReq, 1), cancellationToken: cancellationToken).ConfigureAwait(false);
        var line = (SccpLineStatRes)await ExpectAsync(cancellationToken, SccpMessageId.LineStatRes).ConfigureAwait(false);
        await SendAsync(SccpEmpty.TimeDateReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        var time = (SccpTimeDateRes)await ExpectAsync(cancellationToken, SccpMessageId.TimeDateRes).ConfigureAwait(false);
        await SendAsync(new SccpValue(SccpMessageId.RegisterAvailableLines, 2), cancellationToken: cancellationToken).ConfigureAwait(false);
        await SendAsync(new SccpValue(SccpMessageId.HeadsetStatus, 2), cancellationToken: cancellationToken).ConfigureAwait(false);
        return new SccpBootResult(buttons.Buttons, line.DirectoryNumber, config.ServerName, time.Time, keys.Keys.Count);
    }

    public async Task KeepAliveAsync(CancellationToken cancellationToken = default)
    {
        await SendAsync(SccpEmpty.KeepAliveReq, cancellationToken: cancellationToken).ConfigureAwait(false);
        await ExpectAsync(cancellationToken, SccpMessageId.KeepAliveAck).ConfigureAwait(false);
    }

    /// <summary>
    /// Off hook, dials, answers OpenReceiveChannel with a local RTP socket, sends <paramref name="rtpPackets"/>
    /// G.711 packets every 20 ms to where StartMediaTransmission points and counts the echoes, then on hook.
    /// </summary>
    public async Task<SccpCallResult> CallAsync(string number, int rtpPackets = 25, CancellationToken cancellationToken = default)
    {
        using var call = await PlaceCallAsync(number, rtpPackets, cancellationToken).ConfigureAwait(false);
        return await EndCallAsync(call, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Off hook, dials, answers OpenReceiveChannel with a local RTP socket, sends <paramref name="rtpPackets"/>
    /// G.711 packets every 20 ms to where StartMediaTransmission points and counts the echoes: a call that stays up,
    /// its media socket open, until <see cref="EndCallAsync"/>. A busy answer ends it at once (on hook sent).
    /// </summary>
    public async Task<SccpPlacedCall> PlaceCallAsync(string number, int rtpPackets = 25, CancellationToken cancellationToken = default)
    {
        await DialAsync(number, cancellationToken).ConfigureAwait(false);
        SccpOpenReceiveChannel orc;
        while (true)
        {
            var next = await ExpectAsync(cancellationToken, SccpMessageId.OpenReceiveChannel, SccpMessageId.CallState).ConfigureAwait(false);
            if (next is SccpOpenReceiveChannel open)
            {
                orc = open;
                break;
            }

            if (next is SccpCallState { State: SccpCallState.Busy })
            {
                // The server says why in the DisplayNotify that follows.
                var why = (SccpDisplayNotify)await ExpectAsync(cancellationToken, SccpMessageId.DisplayNotify).ConfigureAwait(false);
                await SendAsync(new SccpHook(SccpMessageId.OnHook, 1, 0), cancellationToken: cancellationToken).ConfigureAwait(false);
                await ExpectAsync(cancellationToken, SccpMessageId.CallState).ConfigureAwait(false);
                return new SccpPlacedCall(null, why.Text, 0, 0);
            }
        }

        var media = await AnswerChannelAsync(orc, cancellationToken).ConfigureAwait(false);
        try
        {
            var (sent, echoed) = await ExchangeRtpAsync(media.Rtp, media.Target, rtpPackets, cancellationToken).ConfigureAwait(false);
            return new SccpPlacedCall(media, null, sent, echoed);
        }
        catch
        {
            media.Dispose();
            throw;
        }
    }

    /// <summary>On hook for a call <see cref="PlaceCallAsync"/> connected, and the server's StopMediaTransmission and CloseReceiveChannel.</summary>
    public async Task<SccpCallResult> EndCallAsync(SccpPlacedCall call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.Media is not { } media)
        {
            return new SccpCallResult(false, call.Error, null, null, 0, 0, 0, false, false);
        }

        await SendAsync(new SccpHook(SccpMessageId.OnHook, 1, media.Open.CallReference), cancellationToken: cancellationToken).ConfigureAwait(false);
        var stop = await ExpectAsync(cancellationToken, SccpMessageId.StopMediaTransmission).ConfigureAwait(false);
        var close = await ExpectAsync(cancellationToken, SccpMessageId.CloseReceiveChannel).ConfigureAwait(false);
        return new SccpCallResult(true, null, media.Target, media.Local, media.Open.PassThroughPartyId, call.RtpSent, call.RtpEchoed, stop is not null, close is not null);
    }

    /// <summary>
    /// Keeps a call up for <paramref name="silence"/> with no media, as a phone on hold: the signalling stays alive
    /// with a KeepAliveReq at the interval RegisterAck gave (the server would unregister a phone that went quiet).
    /// Ends early, without an error, when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task HoldAsync(TimeSpan silence, CancellationToken cancellationToken = default)
    {
        var until = TimeProvider.System.GetTimestamp() + (long)(silence.TotalSeconds * TimeProvider.System.TimestampFrequency);
        try
        {
            while (true)
            {
                var left = TimeProvider.System.GetElapsedTime(TimeProvider.System.GetTimestamp(), until);
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                await Task.Delay(left < KeepAliveInterval ? left : KeepAliveInterval, cancellationToken).ConfigureAwait(false);
                if (left >= KeepAliveInterval)
                {
                    await KeepAliveAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>How often the server asked for keepalives (RegisterAck; 30 s before registering).</summary>
    public TimeSpan KeepAliveInterval { get; private set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Off hook and the number's digits, then '#' (en bloc: the server need not wait for more digits when a
    /// longer directory number starts with these). What follows is read with <see cref="ExpectCallStateAsync"/>,
    /// <see cref="OpenMediaAsync"/> or <see cref="ExpectAsync"/>.
    /// </summary>
    public async Task DialAsync(string number, CancellationToken cancellationToken = default)
    {
        await SendAsync(new SccpHook(SccpMessageId.OffHook, 1, 0), cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var digit in number + "#")
        {
            await SendAsync(new SccpKeypadButton(SccpKeypadButton.ButtonOf(digit), 1, 0), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Receives until a CallState with one of the states arrives (a ring, a connect, busy ...).</summary>
    public async Task<SccpCallState> ExpectCallStateAsync(CancellationToken cancellationToken, params uint[] states)
    {
        while (true)
        {
            var m = (SccpCallState)await ExpectAsync(cancellationToken, SccpMessageId.CallState).ConfigureAwait(false);
            if (states.Contains(m.State))
            {
                return m;
            }
        }
    }

    /// <summary>Receives until StartTone with this tone arrives (busy, reorder, ringback).</summary>
    public async Task<SccpStartTone> ExpectToneAsync(uint tone, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var m = (SccpStartTone)await ExpectAsync(cancellationToken, SccpMessageId.StartTone).ConfigureAwait(false);
            if (m.Tone == tone)
            {
                return m;
            }
        }
    }

    /// <summary>Off hook to answer a call that rings (CallState ring in): <paramref name="ringing"/> names its line and reference.</summary>
    public Task AnswerAsync(SccpCallState ringing, CancellationToken cancellationToken = default) =>
        SendAsync(new SccpHook(SccpMessageId.OffHook, ringing.LineInstance, ringing.CallReference), cancellationToken: cancellationToken);

    /// <summary>On hook (ends the call; the server answers with StopMediaTransmission, CloseReceiveChannel and CallState on hook).</summary>
    public Task HangUpAsync(CancellationToken cancellationToken = default) =>
        SendAsync(new SccpHook(SccpMessageId.OnHook, 1, 0), cancellationToken: cancellationToken);

    /// <summary>
    /// Waits for OpenReceiveChannel, answers it with a new local UDP socket (port 0) as this phone's receive address,
    /// then waits for StartMediaTransmission: where this phone is to send (the server's pool, or another phone).
    /// </summary>
    public async Task<SccpMediaChannel> OpenMediaAsync(CancellationToken cancellationToken = default)
    {
        var orc = (SccpOpenReceiveChannel)await ExpectAsync(cancellationToken, SccpMessageId.OpenReceiveChannel).ConfigureAwait(false);
        return await AnswerChannelAsync(orc, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SccpMediaChannel> AnswerChannelAsync(SccpOpenReceiveChannel orc, CancellationToken cancellationToken)
    {
        var embedded = Embedded;
        var rtp = new Socket(embedded.AddressFamily == AddressFamily.InterNetworkV6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            rtp.Bind(new IPEndPoint(LocalEndPoint!.Address, 0));
            var local = (IPEndPoint)rtp.LocalEndPoint!;
            _mediaSent = new IPEndPoint(embedded, local.Port).ToString();
            await SendAsync(new SccpOpenReceiveChannelAck(0, embedded, (uint)local.Port, orc.PassThroughPartyId, orc.CallReference), cancellationToken: cancellationToken).ConfigureAwait(false);
            var smt = (SccpStartMediaTransmission)await ExpectAsync(cancellationToken, SccpMessageId.StartMediaTransmission).ConfigureAwait(false);
            if (_version >= SccpLayout.V17)
            {
                await SendAsync(new SccpStartMediaTransmissionAck(smt.ConferenceId, smt.PassThroughPartyId, smt.CallReference, embedded, (uint)local.Port, 0), cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            return new SccpMediaChannel(rtp, new IPEndPoint(embedded, local.Port), new IPEndPoint(smt.RemoteAddress, (int)smt.RemotePort), orc, smt);
        }
        catch
        {
            rtp.Dispose();
            throw;
        }
    }

    private async Task<(int Sent, int Echoed)> ExchangeRtpAsync(Socket rtp, IPEndPoint target, int packets, CancellationToken cancellationToken)
    {
        var echoed = 0;
        using var stopReceiving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var receive = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            try
            {
                while (true)
                {
                    await rtp.ReceiveAsync(buffer, SocketFlags.None, stopReceiving.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref echoed);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (SocketException)
            {
            }
        }, CancellationToken.None);

        var packet = new byte[12 + 160];
        packet[0] = 0x80; // RTP version 2 (RFC 3550 §5.1), payload type 0 (PCMU)
        var ssrc = (uint)Random.Shared.Next();
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(8), ssrc);
        packet.AsSpan(12).Fill(0xFF);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        for (var i = 0; i < packets; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)i);
            BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(4), (uint)(i * 160));
            await rtp.SendToAsync(packet, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }

        // Let the last echoes arrive.
        for (var wait = 0; wait < 25 && Volatile.Read(ref echoed) < packets; wait++)
        {
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }

        await stopReceiving.CancelAsync().ConfigureAwait(false);
        await receive.ConfigureAwait(false);
        return (packets, Volatile.Read(ref echoed));
    }

    public async Task<uint> UnregisterAsync(CancellationToken cancellationToken = default)
    {
        await SendAsync(new SccpValue(SccpMessageId.UnregisterReq, 0), cancellationToken: cancellationToken).ConfigureAwait(false);
        var ack = (SccpValue)await ExpectAsync(cancellationToken, SccpMessageId.UnregisterAck).ConfigureAwait(false);
        return ack.Value;
    }

    /// <summary>What was sent against what the server mirrored back in DisplayNotify.</summary>
    public SccpMirror Mirror()
    {
        string? Find(string prefix) => _notifications.LastOrDefault(n => n.StartsWith(prefix, StringComparison.Ordinal)) is { } t ? t[prefix.Length..] : null;
        var local = LocalEndPoint is null ? "-" : LocalEndPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(LocalEndPoint.Address.MapToIPv4(), LocalEndPoint.Port).ToString() : LocalEndPoint.ToString();
        return new SccpMirror(Embedded.ToString(), Find("REG-EMB "), local, Find("REG-SEEN "), _mediaSent, Find("ORCA-EMB "));
    }

    private CancellationTokenSource Timeout(CancellationToken cancellationToken)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.Timeout);
        return cts;
    }

    public async ValueTask DisposeAsync()
    {
        if (_reader is not null)
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
        }

        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _socket?.Dispose();
        ServerCertificate?.Dispose();
    }
}

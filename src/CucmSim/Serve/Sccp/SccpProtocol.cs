using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text.RegularExpressions;
using CucmSim.Protocols.Sccp;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.Sccp;

/// <summary>
/// The CallManager side of SCCP (protocols.md §1.3, §1.5, §1.8): registration with RegisterAck and
/// CapabilitiesReq or RegisterReject, every request of the boot sequence, keepalives enforced with the
/// server's clock, and a call whose media is opened with OpenReceiveChannel and StartMediaTransmission
/// towards a port of the RTP pool. One instance per listener; one <see cref="SccpSession"/> per connection.
/// </summary>
internal sealed partial class SccpProtocol : ITcpProtocol
{
    private static long s_passThrough = 0x1000;

    public SccpProtocol(ServeContext context, bool tls)
    {
        Options = context.Sccp;
        Tls = tls;
        Log = context.Loggers.CreateLogger("CucmSim.Sccp");
        NamePattern = Options.DeviceNamePattern is { } p ? new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)) : null;
        Sweep = new KeepAliveSweep(context.Time, KeepAliveDeadline, context.Stopping);
    }

    public SccpOptions Options { get; }

    public bool Tls { get; }

    public ILogger Log { get; }

    public Regex? NamePattern { get; }

    /// <summary>The keepalive deadlines of every session of this listener, checked by one timer.</summary>
    public KeepAliveSweep Sweep { get; }

    public TimeSpan KeepAliveDeadline => TimeSpan.FromSeconds((double)Options.KeepAliveSeconds * Options.KeepAliveMisses);

    public static uint NextPassThroughId() => (uint)Interlocked.Increment(ref s_passThrough);

    public Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context) =>
        new SccpSession(this, connection, listener, context).RunAsync();

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "{Listener} {Peer}: {Device} registered (type {Type}, protocol {Version}, embedded {Embedded})")]
    public static partial void LogRegistered(ILogger logger, string listener, string peer, string device, uint type, int version, string embedded);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "{Listener} {Peer}: {Device} rejected: {Reason}")]
    public static partial void LogRejected(ILogger logger, string listener, string peer, string device, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "{Listener} {Peer}: {Device} missed keepalives for {Seconds} s; unregistered and closed")]
    public static partial void LogKeepAliveTimeout(ILogger logger, string listener, string peer, string device, double seconds);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "{Listener} {Peer}: closing: {Reason}")]
    public static partial void LogMalformed(ILogger logger, string listener, string peer, string reason);

    [LoggerMessage(EventId = 304, Level = LogLevel.Debug, Message = "{Listener} {Peer}: ignored message 0x{Id:X4} ({Reason})")]
    public static partial void LogIgnored(ILogger logger, string listener, string peer, uint id, string reason);

    [LoggerMessage(EventId = 305, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {Device} media {What} (rtp port {Port}, phone {Phone})")]
    public static partial void LogMedia(ILogger logger, string listener, string peer, string device, string what, int port, string phone);
}

/// <summary>One phone connection: the state machine of registration, keepalives and one call at a time.</summary>
internal sealed class SccpSession
{
    private readonly SccpProtocol _protocol;
    private readonly ConnectionContext _connection;
    private readonly ListenerRuntime _listener;
    private readonly ServeContext _context;
    private readonly SccpOptions _options;
    private readonly TcpSessionFeature _feature;
    private readonly IPEndPoint _peer;

    /// <summary>The address the phone's media is told to reach: the one its connection reached (see <see cref="ServeContext.Embedded"/>).</summary>
    private readonly IPAddress _embedded;
    private readonly string _peerText;
    private DeviceRecord? _device;
    // Only what later messages need is kept of the RegisterReq: memory per registered phone counts.
    private string? _deviceName;
    private uint _instance;
    private string? _codecs;
    private uint _headerVersion;
    private int _negotiated;
    private long _keepAlives;
    private int _ignored;
    private string? _closeReason;
    private Call? _call;
    private uint _nextCallReference;
    private long _lastKeepAlive;
    private volatile bool _expired;

    public SccpSession(SccpProtocol protocol, ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        _protocol = protocol;
        _connection = connection;
        _listener = listener;
        _context = context;
        _options = protocol.Options;
        _feature = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        _feature.Verdict = "sccp";
        _peer = connection.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.IPv6None, 0);
        if (_peer.Address.IsIPv4MappedToIPv6)
        {
            _peer = new IPEndPoint(_peer.Address.MapToIPv4(), _peer.Port);
        }

        _peerText = _feature.PeerText ?? Text.EndPoint(_peer);
        _embedded = context.Embedded((connection.LocalEndPoint as IPEndPoint)?.Address, _peer.Address);
    }

    /// <summary>Links of the sweep's list of sessions (guarded by the sweep's lock).</summary>
    internal SccpSession? SweepPrevious { get; set; }

    internal SccpSession? SweepNext { get; set; }

    /// <summary>When the deadline last restarted (registration or keepalive), in <see cref="TimeProvider"/> ticks.</summary>
    internal long LastKeepAlive => Volatile.Read(ref _lastKeepAlive);

    /// <summary>Called by the sweep when the deadline passed: the pending read returns cancelled.</summary>
    internal void Expire()
    {
        _expired = true;
        _connection.Transport.Input.CancelPendingRead();
    }

    /// <summary>Called by the sweep when the server stops.</summary>
    internal void Stop() => _connection.Transport.Input.CancelPendingRead();

    private void RestartDeadline() => Volatile.Write(ref _lastKeepAlive, _context.Time.GetTimestamp());

    private string DeviceName => _deviceName ?? "-";

    public async Task RunAsync()
    {
        var input = _connection.Transport.Input;
        RestartDeadline();
        _protocol.Sweep.Add(this);
        try
        {
            while (_closeReason is null)
            {
                // No token: a token per read would register a callback per connection; the sweep and
                // shutdown cancel the pending read instead (CancelPendingRead).
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var position = buffer.Start;
                string? malformed = null;
                while (_closeReason is null)
                {
                    // One message at a time, handled while the rest of the buffer stays in the pipe.
                    var status = Next(buffer, ref position, out var header, out var message, out malformed);
                    if (status != OperationStatus.Done)
                    {
                        break;
                    }

                    if (message is not null)
                    {
                        await HandleAsync(header, message).ConfigureAwait(false);
                    }
                }

                _feature.BytesIn += buffer.Slice(buffer.Start, position).Length;
                var rest = buffer.Slice(position).Length;
                input.AdvanceTo(position, buffer.End);
                if (malformed is not null && _closeReason is null)
                {
                    _listener.MalformedInput();
                    _feature.Verdict = "sccp-malformed";
                    _closeReason = "malformed";
                    SccpProtocol.LogMalformed(_protocol.Log, _listener.Id, _peerText, malformed);
                    (_feature.Detail ??= [])["error"] = malformed;
                }

                if (result.IsCanceled && _closeReason is null)
                {
                    if (_context.Stopping.IsCancellationRequested)
                    {
                        _closeReason = "shutdown";
                    }
                    else if (_expired)
                    {
                        // A keepalive may have arrived with the cancelled read or since the sweep looked.
                        _expired = false;
                        if (_context.Time.GetElapsedTime(LastKeepAlive) >= _protocol.KeepAliveDeadline)
                        {
                            KeepAliveTimeout();
                        }
                    }

                    continue;
                }

                if (result.IsCompleted)
                {
                    _closeReason ??= "peer";
                    if (rest > 0 && malformed is null)
                    {
                        (_feature.Detail ??= [])["error"] = "truncated frame at close";
                        _listener.MalformedInput();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is ConnectionResetException or IOException or ConnectionAbortedException or OperationCanceledException)
        {
            _closeReason ??= "reset";
        }
        finally
        {
            _protocol.Sweep.Remove(this);
            EndCall("connection closed", send: false);
            if (_device is not null && _context.Devices.TryGet(_device.Name, out var current) && ReferenceEquals(current, _device))
            {
                _context.Devices.Unregister(_device.Name);
                Record("sccp-unregister", _closeReason ?? "closed", null);
            }

            var detail = _feature.Detail ??= [];
            detail["device"] = DeviceName;
            detail["keepalives"] = _keepAlives.ToString(CultureInfo.InvariantCulture);
            if (_deviceName is not null)
            {
                detail["protocol"] = _negotiated.ToString(CultureInfo.InvariantCulture);
            }

            if (_codecs is not null)
            {
                detail["codecs"] = _codecs;
            }

            if (_ignored > 0)
            {
                detail["ignored"] = _ignored.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>
    /// Frames and decodes the next whole message after <paramref name="position"/>. Done with a message,
    /// or with none when a sound frame's body does not decode (skipped, the stream stays in step);
    /// NeedMoreData at the end of the whole frames; InvalidData with the reason at a framing error.
    /// </summary>
    private OperationStatus Next(in ReadOnlySequence<byte> buffer, ref SequencePosition position, out SccpHeader header, out SccpMessage? message, out string? malformed)
    {
        message = null;
        malformed = null;
        var reader = new SequenceReader<byte>(buffer.Slice(position));
        var status = SccpFraming.TryReadFrame(ref reader, _options.MaxDataLength, out header, out var body);
        if (status == OperationStatus.InvalidData)
        {
            malformed = Describe(reader.UnreadSequence);
        }

        if (status != OperationStatus.Done)
        {
            return status;
        }

        position = reader.Position;
        if (SccpCodec.TryDecode(header, body, out message) != OperationStatus.Done)
        {
            message = null;
            _ignored++;
            _listener.MalformedInput();
            SccpProtocol.LogIgnored(_protocol.Log, _listener.Id, _peerText, header.MessageId, $"body of {header.BodyLength} bytes does not decode");
        }

        return OperationStatus.Done;
    }

    private string Describe(in ReadOnlySequence<byte> rest)
    {
        Span<byte> head = stackalloc byte[8];
        var n = (int)Math.Min(8, rest.Length);
        rest.Slice(0, n).CopyTo(head);
        var length = n >= 4 ? BitConverter.ToUInt32(head) : 0;
        return n >= 4 && (length < SccpFraming.MinDataLength || length > _options.MaxDataLength)
            ? string.Create(CultureInfo.InvariantCulture, $"data length {length} outside 4..{_options.MaxDataLength}")
            : string.Create(CultureInfo.InvariantCulture, $"unknown header version 0x{(n >= 8 ? BitConverter.ToUInt32(head[4..]) : 0):X}");
    }

    private async ValueTask HandleAsync(SccpHeader header, SccpMessage message)
    {
        switch (message.Id)
        {
            case SccpMessageId.RegisterReq:
                await RegisterAsync((SccpRegister)message).ConfigureAwait(false);
                return;
            case SccpMessageId.KeepAliveReq:
                _keepAlives++;
                RestartDeadline();
                await SendAsync(SccpEmpty.KeepAliveAck, 0).ConfigureAwait(false);
                return;
        }

        if (_device is null)
        {
            Ignore(header.MessageId, "not registered");
            return;
        }

        switch (message)
        {
            case { Id: SccpMessageId.ButtonTemplateReq }:
                var buttons = Enumerable.Range(1, Math.Clamp(_options.Lines, 1, SccpButtonTemplateRes.Slots)).Select(i => new SccpButton((byte)i, 0x09)).ToArray();
                await SendAsync(new SccpButtonTemplateRes(buttons)).ConfigureAwait(false);
                break;
            case { Id: SccpMessageId.SoftKeyTemplateReq }:
                await SendAsync(SoftKeys.Template).ConfigureAwait(false);
                break;
            case { Id: SccpMessageId.SoftKeySetReq }:
                await SendAsync(SoftKeys.Sets).ConfigureAwait(false);
                break;
            case { Id: SccpMessageId.ConfigStatReq }:
                await SendAsync(new SccpConfigStatRes(DeviceName, _instance, string.Empty, _context.Identity.HostName, (uint)_options.Lines, 0)).ConfigureAwait(false);
                break;
            case SccpValue { Id: SccpMessageId.LineStatReq } line:
                var dn = DirectoryNumber(line.Value);
                await SendAsync(new SccpLineStatRes(line.Value, dn, "Line " + dn, dn)).ConfigureAwait(false);
                break;
            case { Id: SccpMessageId.TimeDateReq }:
                await SendAsync(new SccpTimeDateRes(_context.Time.GetUtcNow())).ConfigureAwait(false);
                break;
            case SccpValue { Id: SccpMessageId.UnregisterReq }:
                EndCall("unregister", send: false);
                if (_device is not null && _context.Devices.TryGet(_device.Name, out var current) && ReferenceEquals(current, _device))
                {
                    _context.Devices.Unregister(_device.Name);
                    Record("sccp-unregister", "unregister-req", null);
                }

                await SendAsync(new SccpValue(SccpMessageId.UnregisterAck, 0), 0).ConfigureAwait(false);

                _device = null;
                _feature.Verdict = "sccp-unregistered";
                _closeReason = "unregister";
                break;
            case SccpCapabilitiesRes caps:
                _codecs = string.Join(",", caps.Capabilities.Select(c => c.PayloadCapability.ToString(CultureInfo.InvariantCulture)));
                break;
            case SccpHook { Id: SccpMessageId.OffHook } off:
                await OffHookAsync(off).ConfigureAwait(false);
                break;
            case SccpKeypadButton key:
                await DigitAsync(key).ConfigureAwait(false);
                break;
            case SccpHook { Id: SccpMessageId.OnHook }:
                await OnHookAsync().ConfigureAwait(false);
                break;
            case SccpOpenReceiveChannelAck ack:
                await ReceiveChannelOpenedAsync(ack).ConfigureAwait(false);
                break;
            case SccpStartMediaTransmissionAck smta:
                if (_call is not null)
                {
                    _call.TransmitAck = smta;
                }

                break;
            case { Id: SccpMessageId.RegisterAvailableLines or SccpMessageId.HeadsetStatus or SccpMessageId.IpPort }:
                break;
            default:
                Ignore(header.MessageId, "not handled");
                break;
        }
    }

    private void Ignore(uint id, string reason)
    {
        _ignored++;
        SccpProtocol.LogIgnored(_protocol.Log, _listener.Id, _peerText, id, reason);
    }

    private string DirectoryNumber(uint line) => SccpDirectory.Number(DeviceName, (int)Math.Clamp(line, 1u, (uint)SccpButtonTemplateRes.Slots));

    private async ValueTask RegisterAsync(SccpRegister register)
    {
        var reason = RejectReason(register);
        if (reason is not null)
        {
            _context.Devices.Rejected();
            _feature.Verdict = "sccp-rejected";
            (_feature.Detail ??= [])["reject"] = reason;
            _deviceName = register.DeviceName;
            SccpProtocol.LogRejected(_protocol.Log, _listener.Id, _peerText, register.DeviceName, reason);
            _context.Ledger.Append(Base("sccp-reject", "rejected", RegisterDetail(register, reason)));
            await SendAsync(new SccpText(SccpMessageId.RegisterReject, "No Authority: " + register.DeviceName), 0).ConfigureAwait(false);
            _closeReason = "rejected";
            return;
        }

        _deviceName = register.DeviceName;
        _instance = register.Instance;
        _negotiated = Math.Min(register.ProtocolVersion, _options.MaxProtocolVersion);
        _headerVersion = SccpFraming.HeaderVersionFor(_negotiated);
        RestartDeadline();

        // The registry first, then the answer: whoever has seen the RegisterAck finds the device registered.
        var embedded = Embedded(register).ToString();
        _device = new DeviceRecord(register.DeviceName, "sccp", DeviceTypes.Name(register.DeviceType), _negotiated, embedded, _peerText, _listener.Id, _context.Time.GetUtcNow());
        _context.Devices.Register(_device);
        _feature.Verdict = "sccp-registered";
        SccpProtocol.LogRegistered(_protocol.Log, _listener.Id, _peerText, register.DeviceName, register.DeviceType, _negotiated, embedded);
        _context.Ledger.Append(Base("sccp-register", "registered", RegisterDetail(register, null)));

        // chan-sccp handle_register: RegisterAck (header version 0), then CapabilitiesReq.
        await SendAsync(new SccpRegisterAck
        {
            KeepAliveInterval = (uint)_options.KeepAliveSeconds,
            SecondaryKeepAliveInterval = (uint)_options.KeepAliveSeconds,
            MaxProtocolVersion = (byte)_negotiated,
        }, 0).ConfigureAwait(false);
        await SendAsync(SccpEmpty.CapabilitiesReq).ConfigureAwait(false);
        if (_options.Mirror)
        {
            // The mirror: what arrived here, so a phone can tell that a middlebox rewrote it.
            await SendAsync(new SccpDisplayNotify(10, "REG-EMB " + embedded)).ConfigureAwait(false);
            await SendAsync(new SccpDisplayNotify(10, "REG-SEEN " + _peerText)).ConfigureAwait(false);
        }
    }

    private string? RejectReason(SccpRegister register)
    {
        if (_options.RejectAll)
        {
            return "reject-all (fault injection)";
        }

        if (_protocol.NamePattern is { } pattern)
        {
            bool match;
            try
            {
                match = pattern.IsMatch(register.DeviceName);
            }
            catch (RegexMatchTimeoutException)
            {
                match = false;
            }

            if (!match)
            {
                return "device name does not match " + pattern;
            }
        }

        if (_options.MaxDevices > 0 && _context.Devices.Count >= _options.MaxDevices && !_context.Devices.TryGet(register.DeviceName, out _))
        {
            return string.Create(CultureInfo.InvariantCulture, $"device limit {_options.MaxDevices} reached");
        }

        return register.DeviceName.Length == 0 ? "empty device name" : null;
    }

    /// <summary>The phone's address as it embedded it: stationIpV6Addr when an IPv6 phone filled it, else stationIpAddr.</summary>
    private static IPAddress Embedded(SccpRegister register) =>
        register.StationIPv6Address is { } v6 && register.StationAddress.Equals(IPAddress.Any) ? v6 : register.StationAddress;

    private Dictionary<string, string> RegisterDetail(SccpRegister register, string? reason)
    {
        var embedded = Embedded(register).ToString();
        var d = new Dictionary<string, string>
        {
            ["device"] = register.DeviceName,
            ["deviceType"] = DeviceTypes.Name(register.DeviceType),
            ["phoneProtocol"] = register.ProtocolVersion.ToString(CultureInfo.InvariantCulture),
            ["embedded"] = embedded,
            ["seen"] = _peerText,
            ["addressDiffers"] = (!_peer.Address.Equals(Embedded(register))).ToString(),
            ["tls"] = _protocol.Tls.ToString(),
        };
        if (register.FirmwareLoadName.Length > 0)
        {
            d["firmware"] = register.FirmwareLoadName;
        }

        if (reason is not null)
        {
            d["reason"] = reason;
        }
        else
        {
            d["protocol"] = _negotiated.ToString(CultureInfo.InvariantCulture);
            d["headerVersion"] = _headerVersion.ToString(CultureInfo.InvariantCulture);
            d["keepAlive"] = _options.KeepAliveSeconds.ToString(CultureInfo.InvariantCulture);
        }

        return d;
    }

    private void KeepAliveTimeout()
    {
        _closeReason = "keepalive-timeout";
        _feature.Verdict = "sccp-keepalive-timeout";
        SccpProtocol.LogKeepAliveTimeout(_protocol.Log, _listener.Id, _peerText, DeviceName, _protocol.KeepAliveDeadline.TotalSeconds);
        _context.Ledger.Append(Base("sccp-keepalive-timeout", "keepalive-timeout", new()
        {
            ["device"] = DeviceName,
            ["registered"] = (_device is not null).ToString(),
            ["deadlineSeconds"] = _protocol.KeepAliveDeadline.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            ["keepalives"] = _keepAlives.ToString(CultureInfo.InvariantCulture),
        }));
    }

    private async ValueTask OffHookAsync(SccpHook off)
    {
        if (_call is not null)
        {
            return;
        }

        _call = new Call(++_nextCallReference, Math.Max(1, off.LineInstance));
        await SendAsync(new SccpCallState(SccpCallState.OffHook, _call.Line, _call.Reference)).ConfigureAwait(false);
        if (_options.AutoAnswer)
        {
            await ConnectAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask DigitAsync(SccpKeypadButton key)
    {
        if (_call is not { Port: 0 } call || key.Digit is not { } digit)
        {
            return;
        }

        if (digit != '#')
        {
            if (call.Dialled.Length >= 32)
            {
                return;
            }

            call.Dialled += digit;
        }

        if (digit == '#' || call.Dialled.Length >= _options.TestExtension.Length)
        {
            await ConnectAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask ConnectAsync()
    {
        var call = _call!;
        if (!_options.AutoAnswer && call.Dialled != _options.TestExtension)
        {
            await SendAsync(new SccpCallState(SccpCallState.Busy, call.Line, call.Reference)).ConfigureAwait(false);
            await SendAsync(new SccpDisplayNotify(10, "UNKNOWN NUMBER " + call.Dialled)).ConfigureAwait(false);
            call.Dialled = string.Empty;
            return;
        }

        if (_context.Rtp is not { } rtp || !rtp.TryAllocate(DeviceName, out var port))
        {
            await SendAsync(new SccpCallState(SccpCallState.Busy, call.Line, call.Reference)).ConfigureAwait(false);
            await SendAsync(new SccpDisplayNotify(10, "NO MEDIA PORT")).ConfigureAwait(false);
            _context.Ledger.Append(Base("sccp-media-failed", "no-media-port", new() { ["device"] = DeviceName, ["dialled"] = call.Dialled }));
            return;
        }

        call.Port = port;
        call.PassThroughId = SccpProtocol.NextPassThroughId();
        await SendAsync(new SccpCallState(SccpCallState.Connected, call.Line, call.Reference)).ConfigureAwait(false);
        await SendAsync(new SccpOpenReceiveChannel
        {
            ConferenceId = call.Reference,
            PassThroughPartyId = call.PassThroughId,
            CallReference = call.Reference,
            SourceAddress = _embedded,
            SourcePort = (uint)port,
            RequestedAddressType = _embedded.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 1u : 0u,
        }).ConfigureAwait(false);
    }

    private async ValueTask ReceiveChannelOpenedAsync(SccpOpenReceiveChannelAck ack)
    {
        if (_call is not { Port: > 0 } call || call.PassThroughId != ack.PassThroughPartyId || call.PhoneMedia is not null)
        {
            Ignore(SccpMessageId.OpenReceiveChannelAck, "no channel awaits it");
            return;
        }

        call.PhoneMedia = new IPEndPoint(ack.Address, (int)Math.Min(ack.Port, 65535));
        var phone = Text.EndPoint(call.PhoneMedia);
        if (ack.Status != 0)
        {
            _context.Ledger.Append(Base("sccp-media-failed", "receive-channel-refused", new() { ["device"] = DeviceName, ["status"] = ack.Status.ToString(CultureInfo.InvariantCulture) }));
            EndCall("refused", send: false);
            return;
        }

        // ASA inspection learns the phone's media address from OpenReceiveChannelAck and the far end's
        // from StartMediaTransmission (protocols.md §1.7).
        await SendAsync(new SccpStartMediaTransmission
        {
            ConferenceId = call.Reference,
            PassThroughPartyId = call.PassThroughId,
            RemoteAddress = _embedded,
            RemotePort = (uint)call.Port,
            CallReference = call.Reference,
        }).ConfigureAwait(false);
        var rtp = Text.EndPoint(new IPEndPoint(_embedded, call.Port));
        SccpProtocol.LogMedia(_protocol.Log, _listener.Id, _peerText, DeviceName, "opened", call.Port, phone);
        _context.Ledger.Append(Base("sccp-media-open", "media-open", new()
        {
            ["device"] = DeviceName,
            ["dialled"] = call.Dialled,
            ["callReference"] = call.Reference.ToString(CultureInfo.InvariantCulture),
            ["passThroughPartyId"] = call.PassThroughId.ToString(CultureInfo.InvariantCulture),
            ["phoneMediaEmbedded"] = phone,
            ["signallingSeen"] = _peerText,
            ["addressDiffers"] = (!ack.Address.Equals(_peer.Address)).ToString(),
            ["rtp"] = rtp,
        }));
        if (_options.Mirror)
        {
            await SendAsync(new SccpDisplayNotify(10, "ORCA-EMB " + phone)).ConfigureAwait(false);
        }
    }

    private async ValueTask OnHookAsync()
    {
        if (_call is not { } call)
        {
            return;
        }

        if (call.Port > 0)
        {
            // Stop sending, then close the receive channel (protocols.md §1.5).
            await SendAsync(new SccpMediaStop(SccpMessageId.StopMediaTransmission, call.Reference, call.PassThroughId, call.Reference)).ConfigureAwait(false);
            await SendAsync(new SccpMediaStop(SccpMessageId.CloseReceiveChannel, call.Reference, call.PassThroughId, call.Reference)).ConfigureAwait(false);
        }

        await SendAsync(new SccpCallState(SccpCallState.OnHook, call.Line, call.Reference)).ConfigureAwait(false);
        EndCall("onhook", send: true);
    }

    private void EndCall(string reason, bool send)
    {
        if (_call is not { } call)
        {
            return;
        }

        _call = null;
        if (call.Port == 0)
        {
            return;
        }

        var detail = new Dictionary<string, string>
        {
            ["device"] = DeviceName,
            ["reason"] = reason,
            ["callReference"] = call.Reference.ToString(CultureInfo.InvariantCulture),
            ["rtp"] = Text.EndPoint(new IPEndPoint(_embedded, call.Port)),
            ["stopSent"] = send.ToString(),
        };
        if (_context.Rtp is { } rtp)
        {
            foreach (var s in rtp.Streams().Where(s => s.Port == call.Port))
            {
                detail["rtpPeer"] = s.Peer;
                detail["rtpPackets"] = s.Packets.ToString(CultureInfo.InvariantCulture);
                detail["rtpLost"] = s.Lost.ToString(CultureInfo.InvariantCulture);
                detail["rtpJitterMs"] = s.JitterMs.ToString("0.###", CultureInfo.InvariantCulture);
            }

            rtp.Release(call.Port);
        }

        SccpProtocol.LogMedia(_protocol.Log, _listener.Id, _peerText, DeviceName, "closed", call.Port, call.PhoneMedia is null ? "-" : Text.EndPoint(call.PhoneMedia));
        _context.Ledger.Append(Base("sccp-media-close", "media-close", detail));
    }

    private LedgerRecord Base(string kind, string verdict, Dictionary<string, string> detail) =>
        (_connection.LocalEndPoint is IPEndPoint local ? _listener.Record(kind, Text.EndPoint(local), _peerText) : _listener.Record(kind, _peerText)) with
        {
            Verdict = verdict,
            Detail = detail,
        };

    private void Record(string kind, string verdict, Dictionary<string, string>? extra)
    {
        var detail = extra ?? [];
        detail["device"] = DeviceName;
        detail["keepalives"] = _keepAlives.ToString(CultureInfo.InvariantCulture);
        _context.Ledger.Append(Base(kind, verdict, detail));
    }

    private ValueTask SendAsync(SccpMessage message) => SendAsync(message, _headerVersion);

    /// <summary>
    /// One message, one write and one flush: one TCP segment (ASA inspection does not reassemble
    /// fragmented SCCP, protocols.md §1.7). <see cref="SccpOptions.Fragment"/> splits on purpose.
    /// </summary>
    private async ValueTask SendAsync(SccpMessage message, uint version)
    {
        var output = _connection.Transport.Output;
        var length = SccpCodec.FrameLength(message, version);
        if (_options.Fragment && length > 8)
        {
            var bytes = SccpCodec.Encode(message, version);
            await output.WriteAsync(bytes.AsMemory(0, 8)).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromMilliseconds(20), _context.Time).ConfigureAwait(false);
            await output.WriteAsync(bytes.AsMemory(8)).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromMilliseconds(20), _context.Time).ConfigureAwait(false);
        }
        else
        {
            SccpCodec.Encode(message, version, output);
            await output.FlushAsync().ConfigureAwait(false);
        }

        _feature.BytesOut += length;
    }

    private sealed class Call(uint reference, uint line)
    {
        public uint Reference { get; } = reference;
        public uint Line { get; } = line;
        public string Dialled { get; set; } = string.Empty;
        public int Port { get; set; }
        public uint PassThroughId { get; set; }
        public IPEndPoint? PhoneMedia { get; set; }
        public SccpStartMediaTransmissionAck? TransmitAck { get; set; }
    }
}

/// <summary>The soft keys offered to phones (labels and events as Cisco phones know them).</summary>
internal static class SoftKeys
{
    public static readonly SccpSoftKeyTemplateRes Template = new(
    [
        new("Redial", 1), new("NewCall", 2), new("Hold", 3), new("Trnsfer", 4), new("EndCall", 9), new("Resume", 10), new("Answer", 11),
    ]);

    // Key sets by call state: on hook, connected, on hold, ring in, off hook.
    public static readonly SccpSoftKeySetRes Sets = new([[1, 2], [3, 4, 5], [6, 5], [7, 5], [1, 5]]);
}

/// <summary>Device type numbers of common phones (Wireshark DeviceType enum).</summary>
internal static class DeviceTypes
{
    public static string Name(uint type) => type switch
    {
        7 => "7960",
        8 => "7940",
        115 => "7941",
        30016 => "IP Communicator",
        30018 => "7961",
        30006 => "7970",
        307 => "7911",
        404 => "7962",
        434 => "7942",
        435 => "7945",
        436 => "7965",
        585 => "8945",
        _ => "type " + type.ToString(CultureInfo.InvariantCulture),
    };
}

using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Load;
using CucmSim.Protocols.Sccp;

namespace CucmSim.Clients.Sccp;

/// <summary>
/// A lean SCCP phone for load: one TCP connection from its source address, RegisterReq and the capabilities, a
/// keepalive every interval RegisterAck gives (or the run's refresh), and calls: OffHook and the digits ending with #, the
/// OpenReceiveChannel answered with a fresh media port, StartMediaTransmission (the call is set up: media flows both
/// ways), OnHook after the hold. Called (phone to phone), it answers a ringing line with OffHook and opens its media the
/// same way. Every step runs on the phone's <see cref="LoadLoop"/>; nothing waits per phone.
/// </summary>
public sealed class LoadSccpPhone : ILoadReadable, ILoadPhone
{
    /// <summary>CallState RingIn (Wireshark's skinny dissector: 4).</summary>
    public const uint RingIn = 4;

    private const byte ClaimedProtocolVersion = 17;

    private readonly LoadPhoneContext _context;
    private readonly int _index;
    private readonly string _deviceName;
    private readonly IPAddress? _source;
    private readonly IPEndPoint _server;
    private Socket? _socket;
    private byte[]? _pending;
    private uint _version;
    private long _registerSentAt;
    private int _generation;
    private bool _registering;
    private bool _connected;
    private bool _registered;
    private bool _stopped;
    private TimeSpan _keepAlive = TimeSpan.FromSeconds(30);
    private long _keepAliveSentAt;
    private PlacedCall? _call;

    public LoadSccpPhone(LoadPhoneContext context, int index, string deviceName, IPAddress? source)
    {
        _context = context;
        _index = index;
        _deviceName = deviceName;
        _source = source;
        _server = context.SccpServer ?? throw new ArgumentException("no SCCP port for the target");
    }

    public int Index => _index;

    public bool IsRegistered => _registered;

    public bool InCall => _call is not null;

    private IPAddress LocalAddress => LoadPhones.LocalAddress(_socket, _source);

    /// <summary>Connects and registers; on the loop's thread.</summary>
    public void Register()
    {
        if (_stopped || _registering || _registered)
        {
            return;
        }

        _registering = true;
        _connected = false;
        _context.Observer.RegisterAttempted(_index);
        _registerSentAt = LoadLoop.Now;
        var generation = ++_generation;
        _context.Loop.At(_registerSentAt + LoadLoop.Ticks(_context.Timeout), () =>
        {
            if (_generation == generation && _registering)
            {
                Fail(_connected ? "timeout-register" : "timeout-connect");
            }
        });

        // Connected on the phone's loop: no task or thread-pool work per phone, which a registration storm of
        // thousands would pay for in CPU beside the target it measures.
        Socket socket;
        try
        {
            socket = LoadPhones.TcpSocket(_server, _source);
        }
        catch (SocketException ex)
        {
            Fail("connect-" + ex.SocketErrorCode.ToString().ToLowerInvariant());
            return;
        }

        _socket = socket;

        _context.Loop.Connect(socket, _server, this, error => Connected(generation, error));
    }

    private void Connected(int generation, string? error)
    {
        if (generation != _generation || _stopped)
        {
            return;
        }

        if (error is not null)
        {
            Fail(error);
            return;
        }

        _connected = true;
        var embedded = LocalAddress;
        var mac = Convert.FromHexString(_deviceName.AsSpan(3));
        Send(new SccpRegister
        {
            DeviceName = _deviceName,
            StationAddress = embedded.AddressFamily == AddressFamily.InterNetwork ? embedded : IPAddress.Any,
            StationIPv6Address = embedded.AddressFamily == AddressFamily.InterNetworkV6 ? embedded : null,
            DeviceType = 115,
            ProtocolVersion = ClaimedProtocolVersion,
            PhoneFeatures = 0x8572,
            MaxConferences = 1,
            Mac = mac,
            MaxLines = 2,
            FirmwareLoadName = "SCCP41.9-4-2SR3-1S",
            Layout = SccpRegister.LongBody,
        }, 0);
    }

    private void Fail(string reason)
    {
        var wasRegistered = _registered;
        _registering = false;
        _registered = false;
        _generation++;
        if (_call is { } call)
        {
            EndCall(call, call.Established ? null : reason, call.Established ? reason : null);
        }

        _context.Loop.Close(_socket);
        _socket = null;
        _pending = null;
        if (_stopped)
        {
            return;
        }

        if (wasRegistered)
        {
            _context.Observer.Unregistered(_index, reason);
        }
        else
        {
            _context.Observer.RegisterFailed(_index, reason);
        }
    }

    private void ScheduleKeepAlive()
    {
        var generation = _generation;
        _context.Loop.After(_context.Refresh ?? _keepAlive, () =>
        {
            if (_stopped || !_registered || generation != _generation)
            {
                return;
            }

            var sent = LoadLoop.Now;
            _keepAliveSentAt = sent;
            Send(SccpEmpty.KeepAliveReq, 0);
            _context.Loop.At(sent + LoadLoop.Ticks(_context.Timeout), () =>
            {
                if (_keepAliveSentAt == sent && generation == _generation && !_stopped)
                {
                    _keepAliveSentAt = 0;
                    _context.Observer.Refreshed(_index, false, "timeout-keepalive");
                }
            });
            ScheduleKeepAlive();
        });
    }

    /// <summary>Ends the phone: a call left on hook, the connection closed (the server unregisters it).</summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _call?.Leg?.Stop();
        if (_socket is not null && _registered)
        {
            Send(new SccpValue(SccpMessageId.UnregisterReq, 0), 0);
        }

        _registered = false;
        _context.Loop.After(TimeSpan.FromMilliseconds(300), () =>
        {
            _context.Loop.Close(_socket);
            _socket = null;
        });
    }

    // ------------------------------------------------------------------ calls

    /// <summary>Off hook, dials <paramref name="number"/>, and goes on hook after <paramref name="hold"/>; on the loop's thread.</summary>
    public void Call(string number, TimeSpan hold)
    {
        if (!LoadPhones.TryAttempt(_context, _index, !_stopped && _registered && _socket is not null, _call is not null))
        {
            return;
        }

        var call = new PlacedCall { Hold = hold, SentAt = LoadLoop.Now, Placed = true };
        _call = call;
        Send(new SccpHook(SccpMessageId.OffHook, 1, 0));
        foreach (var digit in number)
        {
            Send(new SccpKeypadButton(SccpKeypadButton.ButtonOf(digit), 1, 0));
        }

        // '#' completes the number at once: a directory number may be the prefix of longer ones.
        if (!number.EndsWith('#'))
        {
            Send(new SccpKeypadButton(SccpKeypadButton.ButtonOf('#'), 1, 0));
        }

        _context.Loop.At(call.SentAt + LoadLoop.Ticks(_context.Timeout), () =>
        {
            if (_call == call && !call.Established)
            {
                Send(new SccpHook(SccpMessageId.OnHook, 1, call.Reference));
                EndCall(call, "timeout-setup", null);
            }
        });
    }

    private void Hangup(PlacedCall call)
    {
        if (_call != call)
        {
            return;
        }

        call.Leg?.Stop();
        call.Leg = null;
        call.HangingUp = true;
        Send(new SccpHook(SccpMessageId.OnHook, 1, call.Reference));
        _context.Loop.After(_context.Timeout, () =>
        {
            if (_call == call)
            {
                EndCall(call, null, "timeout-release");
            }
        });
    }

    private void EndCall(PlacedCall call, string? failed, string? dropped)
    {
        if (_call != call)
        {
            return;
        }

        _call = null;
        call.Leg?.Stop();
        call.Leg = null;
        if (!call.Placed)
        {
            return;
        }

        LoadPhones.Ended(_context, _index, failed, dropped);
    }

    private void Handle(SccpMessage message)
    {
        switch (message)
        {
            case SccpRegisterAck ack:
                if (!_registering)
                {
                    return;
                }

                _version = SccpFraming.HeaderVersionFor(ack.MaxProtocolVersion);
                _keepAlive = TimeSpan.FromSeconds(Math.Clamp(ack.KeepAliveInterval, 1, 3600));
                _registering = false;
                _registered = true;
                _context.Observer.Registered(_index, LoadLoop.Now - _registerSentAt);
                ScheduleKeepAlive();
                return;
            case SccpText { Id: SccpMessageId.RegisterReject }:
                Fail("sccp-register-reject");
                return;
            case { Id: SccpMessageId.CapabilitiesReq }:
                Send(new SccpCapabilitiesRes([new SccpCapability(4, 40), new SccpCapability(2, 40)]));
                return;
            case { Id: SccpMessageId.KeepAliveAck }:
                if (_keepAliveSentAt != 0)
                {
                    _keepAliveSentAt = 0;
                    _context.Observer.Refreshed(_index, true, null);
                }

                return;
            case SccpCallState state:
                OnCallState(state);
                return;
            case SccpOpenReceiveChannel orc:
                OnOpenReceiveChannel(orc);
                return;
            case SccpStartMediaTransmission smt:
                OnStartMedia(smt);
                return;
            case SccpMediaStop { Id: SccpMessageId.StopMediaTransmission or SccpMessageId.CloseReceiveChannel }:
                if (_call is { } c)
                {
                    c.Leg?.Stop();
                    c.Leg = null;
                }

                return;
        }
    }

    private void OnCallState(SccpCallState state)
    {
        switch (state.State)
        {
            case SccpCallState.OffHook or SccpCallState.RingOut or SccpCallState.Connected:
                if (_call is { } c)
                {
                    c.Reference = state.CallReference;
                }

                return;
            case RingIn:
                if (_call is not null || _stopped)
                {
                    return;
                }

                // Called: answer the ringing line.
                _call = new PlacedCall { Hold = TimeSpan.Zero, Reference = state.CallReference, Placed = false, SentAt = LoadLoop.Now };
                Send(new SccpHook(SccpMessageId.OffHook, Math.Max(1, state.LineInstance), state.CallReference));
                _context.Observer.CallAnswered(_index);
                return;
            case SccpCallState.Busy:
                if (_call is { Established: false } busy)
                {
                    Send(new SccpHook(SccpMessageId.OnHook, 1, busy.Reference));
                    EndCall(busy, "sccp-busy", null);
                }

                return;
            case SccpCallState.OnHook:
                if (_call is { } ended)
                {
                    if (ended.HangingUp || !ended.Placed)
                    {
                        EndCall(ended, null, null);
                    }
                    else
                    {
                        EndCall(ended, ended.Established ? null : "sccp-onhook", ended.Established ? "sccp-onhook" : null);
                    }
                }

                return;
        }
    }

    private void OnOpenReceiveChannel(SccpOpenReceiveChannel orc)
    {
        if (_call is not { } call)
        {
            return;
        }

        call.Reference = orc.CallReference;
        var local = LocalAddress;
        var port = 9;
        if (_context.Media is { } media && call.Leg is null)
        {
            call.Leg = media.Open(local);
            if (call.Leg is null)
            {
                Send(new SccpOpenReceiveChannelAck(1, local, 0, orc.PassThroughPartyId, orc.CallReference));
                return;
            }
        }

        if (call.Leg is { } leg)
        {
            port = leg.Local.Port;
        }

        Send(new SccpOpenReceiveChannelAck(0, local, (uint)port, orc.PassThroughPartyId, orc.CallReference));
    }

    private void OnStartMedia(SccpStartMediaTransmission smt)
    {
        if (_call is not { } call)
        {
            return;
        }

        var local = LocalAddress;
        if (_version >= SccpLayout.V17)
        {
            Send(new SccpStartMediaTransmissionAck(smt.ConferenceId, smt.PassThroughPartyId, smt.CallReference, local, (uint)(call.Leg?.Local.Port ?? 9), 0));
        }

        if (call.Leg is { } leg && smt.RemotePort is > 0 and < 65536)
        {
            leg.Start(new IPEndPoint(smt.RemoteAddress, (int)smt.RemotePort), _context.Mode == LoadCallMode.PhoneToPhone ? (call.Placed ? "callee-to-caller" : "caller-to-callee") : "echo");
        }

        if (call.Established)
        {
            return;
        }

        call.Established = true;
        if (call.Placed)
        {
            _context.Observer.CallEstablished(_index, LoadLoop.Now - call.SentAt);
            _context.Loop.After(call.Hold, () => Hangup(call));
        }
    }

    // ------------------------------------------------------------------ transport

    private void Send(SccpMessage message) => Send(message, _version);

    private void Send(SccpMessage message, uint version)
    {
        if (_socket is null)
        {
            return;
        }

        Span<byte> frame = stackalloc byte[512];
        var length = SccpCodec.FrameLength(message, version);
        var bytes = length <= frame.Length ? frame[..SccpCodec.Encode(message, version, frame)] : SccpCodec.Encode(message, version);
        if (LoadLoop.Send(_socket, bytes) != bytes.Length)
        {
            _context.Loop.Post(() => Fail("send-failed"));
        }
    }

    void ILoadReadable.OnReadable(Socket socket, byte[] buffer)
    {
        for (var i = 0; i < 16 && ReferenceEquals(socket, _socket); i++)
        {
            var n = LoadLoop.Receive(socket, buffer);
            if (n == -1)
            {
                return;
            }

            if (n <= 0)
            {
                Fail(_stopped ? "stopped" : "closed");
                return;
            }

            Frames(buffer.AsSpan(0, n));
            if (n < buffer.Length)
            {
                // The socket had less than a buffer: it is empty now, and the loop (level-triggered) tells again
                // when more comes, so no second read only to hear EAGAIN.
                return;
            }
        }
    }

    private void Frames(ReadOnlySpan<byte> data)
    {
        byte[] joined;
        if (_pending is { } pending)
        {
            joined = new byte[pending.Length + data.Length];
            pending.CopyTo(joined, 0);
            data.CopyTo(joined.AsSpan(pending.Length));
        }
        else
        {
            joined = data.ToArray();
        }

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(joined));
        for (var i = 0; i < 256; i++)
        {
            var status = SccpCodec.TryRead(ref reader, SccpFraming.DefaultMaxDataLength, out _, out var message);
            if (status == OperationStatus.Done)
            {
                if (message is not null)
                {
                    Handle(message);
                }

                if (_socket is null)
                {
                    return;
                }

                continue;
            }

            if (status == OperationStatus.InvalidData)
            {
                Fail("sccp-malformed");
                return;
            }

            break;
        }

        _pending = reader.Remaining == 0 ? null : reader.UnreadSequence.ToArray();
    }

    private sealed class PlacedCall
    {
        public required TimeSpan Hold { get; init; }
        public required long SentAt { get; init; }
        public required bool Placed { get; init; }
        public uint Reference { get; set; }
        public MediaLeg? Leg { get; set; }
        public bool Established { get; set; }
        public bool HangingUp { get; set; }
    }
}

using System.Net;

namespace CucmSim.Protocols.Sccp;

/// <summary>
/// A decoded SCCP message. Layouts follow Wireshark's SkinnyProtocolOptimized.xml and chan-sccp
/// sccp_protocol.h; fields whose presence depends on the header version take it as <c>version</c>.
/// </summary>
public abstract record SccpMessage
{
    public abstract uint Id { get; }

    /// <summary>Body length in this header version's layout.</summary>
    public abstract int BodyLength(uint version);

    internal abstract void Write(ref SccpBodyWriter w, uint version);
}

/// <summary>A message whose body is empty (requests of the boot sequence, keepalives, CapabilitiesReq).</summary>
public sealed record SccpEmpty(uint MessageId) : SccpMessage
{
    public static readonly SccpEmpty KeepAliveReq = new(SccpMessageId.KeepAliveReq);
    public static readonly SccpEmpty KeepAliveAck = new(SccpMessageId.KeepAliveAck);
    public static readonly SccpEmpty CapabilitiesReq = new(SccpMessageId.CapabilitiesReq);
    public static readonly SccpEmpty ButtonTemplateReq = new(SccpMessageId.ButtonTemplateReq);
    public static readonly SccpEmpty SoftKeyTemplateReq = new(SccpMessageId.SoftKeyTemplateReq);
    public static readonly SccpEmpty SoftKeySetReq = new(SccpMessageId.SoftKeySetReq);
    public static readonly SccpEmpty ConfigStatReq = new(SccpMessageId.ConfigStatReq);
    public static readonly SccpEmpty TimeDateReq = new(SccpMessageId.TimeDateReq);

    public override uint Id => MessageId;

    public override int BodyLength(uint version) => 0;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
    }
}

/// <summary>A message whose body is one u32 (IpPort, LineStatReq, HeadsetStatus, RegisterAvailableLines, Reset, UnregisterAck, UnregisterReq).</summary>
public sealed record SccpValue(uint MessageId, uint Value) : SccpMessage
{
    public override uint Id => MessageId;

    public override int BodyLength(uint version) => 4;

    internal override void Write(ref SccpBodyWriter w, uint version) => w.U32(Value);
}

/// <summary>A message the codec does not model: framing was fine, the body is skipped.</summary>
public sealed record SccpUnknown(uint MessageId, int Length) : SccpMessage
{
    public override uint Id => MessageId;

    public override int BodyLength(uint version) => Length;

    internal override void Write(ref SccpBodyWriter w, uint version) => w.Zero(Length);
}

/// <summary>RegisterReq 0x0001 (protocols.md §1.3). The body grows with the phone's generation: 36, 48 or 124 bytes (172 with configVersionStamp).</summary>
public sealed record SccpRegister : SccpMessage
{
    public const int ShortBody = 36;
    public const int MediumBody = 48;
    public const int LongBody = 124;
    public const int StampedBody = 172;

    public required string DeviceName { get; init; }
    public uint UserId { get; init; }
    public uint Instance { get; init; } = 1;
    public IPAddress StationAddress { get; init; } = IPAddress.Any;
    public uint DeviceType { get; init; } = 115;
    public uint MaxStreams { get; init; } = 5;
    public uint ActiveStreams { get; init; }

    /// <summary>Highest protocol version the phone supports; 0 for a legacy 36-byte register.</summary>
    public byte ProtocolVersion { get; init; }
    public byte Unknown { get; init; }
    public ushort PhoneFeatures { get; init; }
    public uint MaxConferences { get; init; }
    public uint ActiveConferences { get; init; }
    public byte[] Mac { get; init; } = new byte[6];
    public uint IPv4AddressScope { get; init; }
    public uint MaxLines { get; init; }
    public IPAddress? StationIPv6Address { get; init; }
    public uint IPv6AddressScope { get; init; }
    public string FirmwareLoadName { get; init; } = string.Empty;
    public string? ConfigVersionStamp { get; init; }

    /// <summary>Body bytes (decided by the fields present, not by the header version).</summary>
    public int Layout { get; init; } = LongBody;

    public override uint Id => SccpMessageId.RegisterReq;

    public override int BodyLength(uint version) => Layout;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.Text(DeviceName, 16);
        w.U32(UserId);
        w.U32(Instance);
        w.IPv4(StationAddress);
        w.U32(DeviceType);
        w.U32(MaxStreams);
        if (Layout <= ShortBody)
        {
            return;
        }

        w.U32(ActiveStreams);
        w.U8(ProtocolVersion);
        w.U8(Unknown);
        w.U16(PhoneFeatures);
        w.U32(MaxConferences);
        if (Layout <= MediumBody)
        {
            return;
        }

        w.U32(ActiveConferences);
        w.Bytes(Mac, 12);
        w.U32(IPv4AddressScope);
        w.U32(MaxLines);
        w.Bytes(StationIPv6Address is { } v6 ? v6.GetAddressBytes() : [], 16);
        w.U32(IPv6AddressScope);
        w.Text(FirmwareLoadName, 32);
        if (Layout >= StampedBody)
        {
            w.Text(ConfigVersionStamp, 48);
        }
    }

    internal static SccpRegister Read(ref SccpBodyReader r, int length)
    {
        var name = r.Text(16);
        var userId = r.U32();
        var instance = r.U32();
        var ip = r.IPv4();
        var type = r.U32();
        var maxStreams = r.U32();
        var m = new SccpRegister { DeviceName = name, UserId = userId, Instance = instance, StationAddress = ip, DeviceType = type, MaxStreams = maxStreams, Layout = ShortBody };
        if (length < MediumBody)
        {
            return m;
        }

        m = m with { ActiveStreams = r.U32(), ProtocolVersion = r.U8(), Unknown = r.U8(), PhoneFeatures = r.U16(), MaxConferences = r.U32(), Layout = MediumBody };
        if (length < LongBody)
        {
            return m;
        }

        var activeConferences = r.U32();
        var mac = r.Bytes(12);
        var scope4 = r.U32();
        var maxLines = r.U32();
        var v6 = r.Bytes(16);
        var scope6 = r.U32();
        var firmware = r.Text(32);
        m = m with
        {
            ActiveConferences = activeConferences,
            Mac = mac[..6],
            IPv4AddressScope = scope4,
            MaxLines = maxLines,
            StationIPv6Address = v6.AsSpan().IndexOfAnyExcept((byte)0) < 0 ? null : new IPAddress(v6),
            IPv6AddressScope = scope6,
            FirmwareLoadName = firmware,
            Layout = LongBody,
        };
        return length >= StampedBody ? m with { ConfigVersionStamp = r.Text(48), Layout = StampedBody } : m;
    }
}

/// <summary>RegisterAck 0x0081: 20 bytes (protocols.md §1.3).</summary>
public sealed record SccpRegisterAck : SccpMessage
{
    public uint KeepAliveInterval { get; init; } = 30;
    public string DateTemplate { get; init; } = "M/D/YA";
    public uint SecondaryKeepAliveInterval { get; init; } = 30;
    public byte MaxProtocolVersion { get; init; }
    public byte Unknown { get; init; } = 0x20;
    public ushort PhoneFeatures { get; init; } = 0xFEF1;

    public override uint Id => SccpMessageId.RegisterAck;

    public override int BodyLength(uint version) => 20;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(KeepAliveInterval);
        w.Text(DateTemplate, 6, fill: true); // "M/D/YA" fills the field; the padding u16 follows
        w.U16(0);
        w.U32(SecondaryKeepAliveInterval);
        w.U8(MaxProtocolVersion);
        w.U8(Unknown);
        w.U16(PhoneFeatures);
    }

    internal static SccpRegisterAck Read(ref SccpBodyReader r)
    {
        var ka = r.U32();
        var template = r.Text(6);
        r.Skip(2);
        return new SccpRegisterAck { KeepAliveInterval = ka, DateTemplate = template, SecondaryKeepAliveInterval = r.U32(), MaxProtocolVersion = r.U8(), Unknown = r.U8(), PhoneFeatures = r.U16() };
    }
}

/// <summary>A message whose body is one fixed 32-byte text (RegisterReject 0x009D).</summary>
public sealed record SccpText(uint MessageId, string Text) : SccpMessage
{
    public override uint Id => MessageId;

    public override int BodyLength(uint version) => 32;

    internal override void Write(ref SccpBodyWriter w, uint version) => w.Text(Text, 32);
}

/// <summary>DisplayNotify 0x0114: timeOutValue u32, notify[32].</summary>
public sealed record SccpDisplayNotify(uint TimeOut, string Text) : SccpMessage
{
    public const int MaxText = 31;

    public override uint Id => SccpMessageId.DisplayNotify;

    public override int BodyLength(uint version) => 36;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(TimeOut);
        w.Text(Text, 32);
    }
}

/// <summary>One entry of CapabilitiesRes: payload capability, frames per packet, 8-byte union (protocols.md §1.4).</summary>
public readonly record struct SccpCapability(uint PayloadCapability, uint MaxFramesPerPacket, ulong Parameters = 0);

/// <summary>CapabilitiesRes 0x0010: count u32, then count × 16 bytes.</summary>
public sealed record SccpCapabilitiesRes(IReadOnlyList<SccpCapability> Capabilities) : SccpMessage
{
    /// <summary>Most entries Wireshark accepts.</summary>
    public const int MaxCapabilities = 18;

    public override uint Id => SccpMessageId.CapabilitiesRes;

    public override int BodyLength(uint version) => 4 + (16 * Capabilities.Count);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32((uint)Capabilities.Count);
        foreach (var c in Capabilities)
        {
            w.U32(c.PayloadCapability);
            w.U32(c.MaxFramesPerPacket);
            w.U32((uint)c.Parameters);
            w.U32((uint)(c.Parameters >> 32));
        }
    }

    internal static SccpCapabilitiesRes? Read(ref SccpBodyReader r)
    {
        var count = r.U32();
        if (count > MaxCapabilities || r.Remaining < count * 16)
        {
            return null;
        }

        var list = new SccpCapability[count];
        for (var i = 0; i < count; i++)
        {
            list[i] = new SccpCapability(r.U32(), r.U32(), r.U32() | ((ulong)r.U32() << 32));
        }

        return new SccpCapabilitiesRes(list);
    }
}

/// <summary>KeypadButton 0x0003: kpButton u32 (0-9, 0x0E '*', 0x0F '#'), lineInstance u32, callReference u32.</summary>
public sealed record SccpKeypadButton(uint Button, uint LineInstance, uint CallReference) : SccpMessage
{
    public override uint Id => SccpMessageId.KeypadButton;

    public override int BodyLength(uint version) => 12;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(Button);
        w.U32(LineInstance);
        w.U32(CallReference);
    }

    /// <summary>The dial character of a button, or null.</summary>
    public char? Digit => Button switch { <= 9 => (char)('0' + Button), 0x0E => '*', 0x0F => '#', _ => null };

    public static uint ButtonOf(char digit) => digit switch { >= '0' and <= '9' => (uint)(digit - '0'), '*' => 0x0E, '#' => 0x0F, _ => throw new ArgumentOutOfRangeException(nameof(digit)) };
}

/// <summary>OffHook 0x0006 and OnHook 0x0007: lineInstance u32, callReference u32 (either may be absent on old phones).</summary>
public sealed record SccpHook(uint MessageId, uint LineInstance, uint CallReference) : SccpMessage
{
    public override uint Id => MessageId;

    public override int BodyLength(uint version) => 8;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(LineInstance);
        w.U32(CallReference);
    }
}

/// <summary>StopMediaTransmission 0x008B and CloseReceiveChannel 0x0106: conferenceId, passThroughPartyId, callReference, portHandlingFlag.</summary>
public sealed record SccpMediaStop(uint MessageId, uint ConferenceId, uint PassThroughPartyId, uint CallReference, uint PortHandling = 0) : SccpMessage
{
    public override uint Id => MessageId;

    public override int BodyLength(uint version) => 16;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(ConferenceId);
        w.U32(PassThroughPartyId);
        w.U32(CallReference);
        w.U32(PortHandling);
    }
}

/// <summary>CallState 0x0111: callState, lineInstance, callReference, privacy, precedence level and domain.</summary>
public sealed record SccpCallState(uint State, uint LineInstance, uint CallReference, uint Privacy = 0, uint PrecedenceLevel = 4, uint PrecedenceDomain = 0) : SccpMessage
{
    public const uint OffHook = 1;
    public const uint OnHook = 2;
    public const uint RingOut = 3;
    public const uint RingIn = 4;
    public const uint Connected = 5;
    public const uint Busy = 6;
    public const uint Congestion = 7;

    public override uint Id => SccpMessageId.CallState;

    public override int BodyLength(uint version) => 24;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(State);
        w.U32(LineInstance);
        w.U32(CallReference);
        w.U32(Privacy);
        w.U32(PrecedenceLevel);
        w.U32(PrecedenceDomain);
    }
}

/// <summary>OpenReceiveChannel 0x0105 (protocols.md §1.5): 92 bytes basic, 108 from V11, 112 from V16, 132 from V17.</summary>
public sealed record SccpOpenReceiveChannel : SccpMessage
{
    public uint ConferenceId { get; init; }
    public uint PassThroughPartyId { get; init; }
    public uint PacketMilliseconds { get; init; } = 20;
    public uint Compression { get; init; } = 4;
    public uint EchoCancellation { get; init; }
    public uint CodecParameters { get; init; }
    public uint CallReference { get; init; }
    public uint StreamPassThroughId { get; init; }
    public uint AssociatedStreamId { get; init; }
    public uint Rfc2833PayloadType { get; init; } = 101;
    public uint DtmfType { get; init; } = 10;
    public uint MixingMode { get; init; }
    public uint PartyDirection { get; init; }
    public IPAddress SourceAddress { get; init; } = IPAddress.Any;
    public uint SourcePort { get; init; }
    public uint RequestedAddressType { get; init; }
    public uint AudioLevelAdjustment { get; init; }

    public override uint Id => SccpMessageId.OpenReceiveChannel;

    public override int BodyLength(uint version) => version switch
    {
        < SccpLayout.V11 => 92,
        < SccpLayout.V16 => 108,
        < SccpLayout.V17 => 112,
        _ => 132,
    };

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(ConferenceId);
        w.U32(PassThroughPartyId);
        w.U32(PacketMilliseconds);
        w.U32(Compression);
        w.U32(EchoCancellation);
        w.U32(CodecParameters);
        w.U32(CallReference);
        w.Zero(48); // encryption info: algorithm, key and salt lengths, key, salt, MKI flag, derivation rate
        w.U32(StreamPassThroughId);
        w.U32(AssociatedStreamId);
        w.U32(Rfc2833PayloadType);
        w.U32(DtmfType);
        if (version < SccpLayout.V11)
        {
            return;
        }

        w.U32(MixingMode);
        w.U32(PartyDirection);
        w.Address(SourceAddress, version);
        w.U32(SourcePort);
        if (version < SccpLayout.V16)
        {
            return;
        }

        w.U32(RequestedAddressType);
        if (version >= SccpLayout.V17)
        {
            w.U32(AudioLevelAdjustment);
        }
    }

    internal static SccpOpenReceiveChannel Read(ref SccpBodyReader r, uint version, int length)
    {
        var m = new SccpOpenReceiveChannel
        {
            ConferenceId = r.U32(),
            PassThroughPartyId = r.U32(),
            PacketMilliseconds = r.U32(),
            Compression = r.U32(),
            EchoCancellation = r.U32(),
            CodecParameters = r.U32(),
            CallReference = r.U32(),
        };
        r.Skip(48);
        m = m with { StreamPassThroughId = r.U32(), AssociatedStreamId = r.U32(), Rfc2833PayloadType = r.U32(), DtmfType = r.U32() };
        if (version < SccpLayout.V11 || length <= 92)
        {
            return m;
        }

        m = m with { MixingMode = r.U32(), PartyDirection = r.U32(), SourceAddress = r.Address(version), SourcePort = r.U32() };
        if (version >= SccpLayout.V16 && r.Remaining >= 4)
        {
            m = m with { RequestedAddressType = r.U32() };
        }

        if (version >= SccpLayout.V17 && r.Remaining >= 4)
        {
            m = m with { AudioLevelAdjustment = r.U32() };
        }

        return m;
    }
}

/// <summary>OpenReceiveChannelAck 0x0022: status, ipv4or6 address, port, passThroughPartyId, callReference (the phone's receive address).</summary>
public sealed record SccpOpenReceiveChannelAck(uint Status, IPAddress Address, uint Port, uint PassThroughPartyId, uint CallReference) : SccpMessage
{
    public override uint Id => SccpMessageId.OpenReceiveChannelAck;

    public override int BodyLength(uint version) => 16 + SccpLayout.AddressSize(version);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(Status);
        w.Address(Address, version);
        w.U32(Port);
        w.U32(PassThroughPartyId);
        w.U32(CallReference);
    }

    internal static SccpOpenReceiveChannelAck Read(ref SccpBodyReader r, uint version)
    {
        var status = r.U32();
        var address = r.Address(version);
        var port = r.U32();
        var pt = r.U32();
        var callRef = r.Remaining >= 4 ? r.U32() : 0;
        return new SccpOpenReceiveChannelAck(status, address, port, pt, callRef);
    }
}

/// <summary>StartMediaTransmission 0x008A (protocols.md §1.5): 112 bytes basic, 116 from V15, 132 from V17.</summary>
public sealed record SccpStartMediaTransmission : SccpMessage
{
    public uint ConferenceId { get; init; }
    public uint PassThroughPartyId { get; init; }
    public IPAddress RemoteAddress { get; init; } = IPAddress.Any;
    public uint RemotePort { get; init; }
    public uint PacketMilliseconds { get; init; } = 20;
    public uint Compression { get; init; } = 4;
    public uint Precedence { get; init; }
    public uint SilenceSuppression { get; init; }
    public ushort MaxFramesPerPacket { get; init; } = 1;
    public uint CodecParameters { get; init; }
    public uint CallReference { get; init; }
    public uint StreamPassThroughId { get; init; }
    public uint AssociatedStreamId { get; init; }
    public uint Rfc2833PayloadType { get; init; } = 101;
    public uint DtmfType { get; init; } = 10;
    public uint MixingMode { get; init; }
    public uint PartyDirection { get; init; }

    public override uint Id => SccpMessageId.StartMediaTransmission;

    public override int BodyLength(uint version) => version switch
    {
        < SccpLayout.V15 => 112,
        < SccpLayout.V17 => 116,
        _ => 132,
    };

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(ConferenceId);
        w.U32(PassThroughPartyId);
        w.Address(RemoteAddress, version);
        w.U32(RemotePort);
        w.U32(PacketMilliseconds);
        w.U32(Compression);
        w.U32(Precedence);
        w.U32(SilenceSuppression);
        w.U16(MaxFramesPerPacket);
        w.U16(0);
        w.U32(CodecParameters);
        w.U32(CallReference);
        w.Zero(48); // encryption info
        w.U32(StreamPassThroughId);
        w.U32(AssociatedStreamId);
        w.U32(Rfc2833PayloadType);
        w.U32(DtmfType);
        w.U32(MixingMode);
        if (version >= SccpLayout.V15)
        {
            w.U32(PartyDirection);
        }
    }

    internal static SccpStartMediaTransmission Read(ref SccpBodyReader r, uint version)
    {
        var m = new SccpStartMediaTransmission
        {
            ConferenceId = r.U32(),
            PassThroughPartyId = r.U32(),
            RemoteAddress = r.Address(version),
            RemotePort = r.U32(),
            PacketMilliseconds = r.U32(),
            Compression = r.U32(),
            Precedence = r.U32(),
            SilenceSuppression = r.U32(),
            MaxFramesPerPacket = r.U16(),
        };
        r.Skip(2);
        m = m with { CodecParameters = r.U32(), CallReference = r.U32() };
        r.Skip(48);
        m = m with { StreamPassThroughId = r.U32(), AssociatedStreamId = r.U32(), Rfc2833PayloadType = r.U32(), DtmfType = r.U32(), MixingMode = r.U32() };
        return version >= SccpLayout.V15 && r.Remaining >= 4 ? m with { PartyDirection = r.U32() } : m;
    }
}

/// <summary>StartMediaTransmissionAck 0x0154: conferenceId, passThroughPartyId, callReference, ipv4or6 address, port, status.</summary>
public sealed record SccpStartMediaTransmissionAck(uint ConferenceId, uint PassThroughPartyId, uint CallReference, IPAddress Address, uint Port, uint Status) : SccpMessage
{
    public override uint Id => SccpMessageId.StartMediaTransmissionAck;

    public override int BodyLength(uint version) => 20 + SccpLayout.AddressSize(version);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(ConferenceId);
        w.U32(PassThroughPartyId);
        w.U32(CallReference);
        w.Address(Address, version);
        w.U32(Port);
        w.U32(Status);
    }

    internal static SccpStartMediaTransmissionAck Read(ref SccpBodyReader r, uint version) =>
        new(r.U32(), r.U32(), r.U32(), r.Address(version), r.U32(), r.U32());
}

/// <summary>LineStatRes 0x0092: lineNumber, lineDirNumber[24], fully qualified display name[40], text label[40], display options.</summary>
public sealed record SccpLineStatRes(uint LineNumber, string DirectoryNumber, string DisplayName, string Label, uint DisplayOptions = 0x0F) : SccpMessage
{
    public override uint Id => SccpMessageId.LineStatRes;

    public override int BodyLength(uint version) => 112;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(LineNumber);
        w.Text(DirectoryNumber, 24);
        w.Text(DisplayName, 40);
        w.Text(Label, 40);
        w.U32(DisplayOptions);
    }

    internal static SccpLineStatRes Read(ref SccpBodyReader r) => new(r.U32(), r.Text(24), r.Text(40), r.Text(40), r.U32());
}

/// <summary>ConfigStatRes 0x0093: device name[16], reserved, instance, user name[40], server name[40], lines, speed dials.</summary>
public sealed record SccpConfigStatRes(string DeviceName, uint Instance, string UserName, string ServerName, uint Lines, uint SpeedDials) : SccpMessage
{
    public override uint Id => SccpMessageId.ConfigStatRes;

    public override int BodyLength(uint version) => 112;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.Text(DeviceName, 16);
        w.U32(0);
        w.U32(Instance);
        w.Text(UserName, 40);
        w.Text(ServerName, 40);
        w.U32(Lines);
        w.U32(SpeedDials);
    }

    internal static SccpConfigStatRes Read(ref SccpBodyReader r)
    {
        var name = r.Text(16);
        r.Skip(4);
        return new SccpConfigStatRes(name, r.U32(), r.Text(40), r.Text(40), r.U32(), r.U32());
    }
}

/// <summary>TimeDateRes (DefineTimeDate) 0x0094: SYSTEMTIME-like eight u32 and the epoch seconds.</summary>
public sealed record SccpTimeDateRes(DateTimeOffset Time) : SccpMessage
{
    public override uint Id => SccpMessageId.TimeDateRes;

    public override int BodyLength(uint version) => 36;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        var t = Time.UtcDateTime;
        w.U32((uint)t.Year);
        w.U32((uint)t.Month);
        w.U32((uint)t.DayOfWeek);
        w.U32((uint)t.Day);
        w.U32((uint)t.Hour);
        w.U32((uint)t.Minute);
        w.U32((uint)t.Second);
        w.U32((uint)t.Millisecond);
        w.U32((uint)Time.ToUnixTimeSeconds());
    }

    internal static SccpTimeDateRes Read(ref SccpBodyReader r)
    {
        r.Skip(32);
        return new SccpTimeDateRes(DateTimeOffset.FromUnixTimeSeconds(r.U32()));
    }
}

/// <summary>One button of a template: instance number and definition (0x09 line, 0x02 speed dial, 0xFF undefined).</summary>
public readonly record struct SccpButton(byte Instance, byte Definition);

/// <summary>ButtonTemplateRes 0x0097: offset, count, total, then 42 two-byte buttons (unused ones undefined).</summary>
public sealed record SccpButtonTemplateRes(IReadOnlyList<SccpButton> Buttons) : SccpMessage
{
    public const int Slots = 42;

    public override uint Id => SccpMessageId.ButtonTemplateRes;

    public override int BodyLength(uint version) => 12 + (2 * Slots);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        var count = Math.Min(Buttons.Count, Slots);
        w.U32(0);
        w.U32((uint)count);
        w.U32((uint)count);
        for (var i = 0; i < Slots; i++)
        {
            var b = i < count ? Buttons[i] : new SccpButton(0, 0xFF);
            w.U8(b.Instance);
            w.U8(b.Definition);
        }
    }

    internal static SccpButtonTemplateRes? Read(ref SccpBodyReader r)
    {
        r.Skip(4);
        var count = r.U32();
        r.Skip(4);
        if (count > Slots)
        {
            return null;
        }

        var list = new SccpButton[count];
        for (var i = 0; i < count; i++)
        {
            list[i] = new SccpButton(r.U8(), r.U8());
        }

        return new SccpButtonTemplateRes(list);
    }
}

/// <summary>One soft key: label (Cisco label codes start with 0x80) and event.</summary>
public readonly record struct SccpSoftKey(string Label, uint Event);

/// <summary>SoftKeyTemplateRes 0x0108: offset, count, total, then 32 × {label[16], event u32}.</summary>
public sealed record SccpSoftKeyTemplateRes(IReadOnlyList<SccpSoftKey> Keys) : SccpMessage
{
    public const int Slots = 32;

    public override uint Id => SccpMessageId.SoftKeyTemplateRes;

    public override int BodyLength(uint version) => 12 + (20 * Slots);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        var count = Math.Min(Keys.Count, Slots);
        w.U32(0);
        w.U32((uint)count);
        w.U32((uint)count);
        for (var i = 0; i < Slots; i++)
        {
            w.Text(i < count ? Keys[i].Label : null, 16);
            w.U32(i < count ? Keys[i].Event : 0);
        }
    }

    internal static SccpSoftKeyTemplateRes? Read(ref SccpBodyReader r)
    {
        r.Skip(4);
        var count = r.U32();
        r.Skip(4);
        if (count > Slots)
        {
            return null;
        }

        var list = new SccpSoftKey[count];
        for (var i = 0; i < count; i++)
        {
            list[i] = new SccpSoftKey(r.Text(16), r.U32());
        }

        return new SccpSoftKeyTemplateRes(list);
    }
}

/// <summary>SoftKeySetRes 0x0109: offset, count, total, then 16 sets × {16 template indexes u8, 16 info indexes u16}.</summary>
public sealed record SccpSoftKeySetRes(IReadOnlyList<byte[]> Sets) : SccpMessage
{
    public const int Slots = 16;

    public override uint Id => SccpMessageId.SoftKeySetRes;

    public override int BodyLength(uint version) => 12 + (48 * Slots);

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        var count = Math.Min(Sets.Count, Slots);
        w.U32(0);
        w.U32((uint)count);
        w.U32((uint)count);
        for (var i = 0; i < Slots; i++)
        {
            var set = i < count ? Sets[i] : [];
            w.Bytes(set, 16);
            for (var k = 0; k < 16; k++)
            {
                w.U16(k < set.Length && set[k] != 0 ? (ushort)(300 + set[k]) : (ushort)0);
            }
        }
    }

    internal static SccpSoftKeySetRes? Read(ref SccpBodyReader r)
    {
        r.Skip(4);
        var count = r.U32();
        r.Skip(4);
        if (count > Slots)
        {
            return null;
        }

        var list = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            var set = r.Bytes(16);
            r.Skip(32);
            var used = set.AsSpan().LastIndexOfAnyExcept((byte)0) + 1;
            list[i] = set[..used];
        }

        return new SccpSoftKeySetRes(list);
    }
}

/// <summary>StartTone 0x0082: tone, tone direction (0 the user), lineInstance, callReference.</summary>
public sealed record SccpStartTone(uint Tone, uint LineInstance, uint CallReference, uint Direction = 0) : SccpMessage
{
    public const uint DialTone = 0x21;
    public const uint BusyTone = 0x23;
    public const uint AlertingTone = 0x24;
    public const uint ReorderTone = 0x25;

    public override uint Id => SccpMessageId.StartTone;

    public override int BodyLength(uint version) => 16;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(Tone);
        w.U32(Direction);
        w.U32(LineInstance);
        w.U32(CallReference);
    }

    internal static SccpStartTone Read(ref SccpBodyReader r)
    {
        var tone = r.U32();
        var direction = r.U32();
        return new SccpStartTone(tone, r.U32(), r.U32(), direction);
    }
}

/// <summary>StopTone 0x0083: lineInstance, callReference.</summary>
public sealed record SccpStopTone(uint LineInstance, uint CallReference) : SccpMessage
{
    public override uint Id => SccpMessageId.StopTone;

    public override int BodyLength(uint version) => 8;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(LineInstance);
        w.U32(CallReference);
    }
}

/// <summary>SetRinger 0x0085: ring mode (1 off, 2 inside ring), ring duration (1 normal), lineInstance, callReference.</summary>
public sealed record SccpSetRinger(uint Mode, uint LineInstance, uint CallReference, uint Duration = 1) : SccpMessage
{
    public const uint Off = 1;
    public const uint InsideRing = 2;

    public override uint Id => SccpMessageId.SetRinger;

    public override int BodyLength(uint version) => 16;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.U32(Mode);
        w.U32(Duration);
        w.U32(LineInstance);
        w.U32(CallReference);
    }

    internal static SccpSetRinger Read(ref SccpBodyReader r)
    {
        var mode = r.U32();
        var duration = r.U32();
        return new SccpSetRinger(mode, r.U32(), r.U32(), duration);
    }
}

/// <summary>
/// CallInfo 0x008F (chan-sccp CallInfoMessage, 384 bytes): calling and called party names and numbers, line,
/// call reference, call type (1 inbound, 2 outbound); the redirect, voicemail and security fields are left empty.
/// </summary>
public sealed record SccpCallInfo(string CallingName, string Calling, string CalledName, string Called, uint LineInstance, uint CallReference, uint CallType) : SccpMessage
{
    public const uint Inbound = 1;
    public const uint Outbound = 2;

    public override uint Id => SccpMessageId.CallInfo;

    public override int BodyLength(uint version) => 384;

    internal override void Write(ref SccpBodyWriter w, uint version)
    {
        w.Text(CallingName, 40);
        w.Text(Calling, 24);
        w.Text(CalledName, 40);
        w.Text(Called, 24);
        w.U32(LineInstance);
        w.U32(CallReference);
        w.U32(CallType);
        w.Zero(384 - 140);
    }

    internal static SccpCallInfo Read(ref SccpBodyReader r)
    {
        var m = new SccpCallInfo(r.Text(40), r.Text(24), r.Text(40), r.Text(24), r.U32(), r.U32(), r.U32());
        r.Skip(384 - 140);
        return m;
    }
}

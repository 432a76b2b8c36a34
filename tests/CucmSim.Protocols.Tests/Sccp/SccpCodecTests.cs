using System.Buffers;
using System.Net;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Sccp;

public sealed class SccpCodecTests
{
    private const int Max = SccpFraming.DefaultMaxDataLength;

    public static TheoryData<string> GoldenFrames() => new(SccpGolden.All);

    public static TheoryData<uint> Versions() => new(0u, 0x0Au, 0x0Bu, 0x0Fu, 0x10u, 0x11u, 0x16u);

    [Theory]
    [MemberData(nameof(GoldenFrames))]
    public void Golden_frames_parse_and_reencode_to_the_same_bytes(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out var header, out var message));
        Assert.True(reader.End);
        Assert.NotNull(message);
        Assert.IsNotType<SccpUnknown>(message);
        Assert.Equal(header.MessageId, message!.Id);
        Assert.Equal(hex, Convert.ToHexString(SccpCodec.Encode(message, header.Version)), ignoreCase: true);
    }

    [Fact]
    public void Golden_fields_have_the_values_wireshark_shows()
    {
        var register = Assert.IsType<SccpRegister>(Decode(SccpGolden.Register));
        Assert.Equal("SEP001122334455", register.DeviceName);
        Assert.Equal(IPAddress.Loopback, register.StationAddress);
        Assert.Equal(115u, register.DeviceType);
        Assert.Equal(17, register.ProtocolVersion);
        Assert.Equal("SCCP41.9-4-2SR3-1S", register.FirmwareLoadName);
        Assert.Equal("001122334455", Convert.ToHexString(register.Mac));

        var ack = Assert.IsType<SccpRegisterAck>(Decode(SccpGolden.RegisterAck));
        Assert.Equal(30u, ack.KeepAliveInterval);
        Assert.Equal("M/D/YA", ack.DateTemplate);
        Assert.Equal(17, ack.MaxProtocolVersion);

        var orcaV0 = Assert.IsType<SccpOpenReceiveChannelAck>(Decode(SccpGolden.V0[9]));
        Assert.Equal(new IPAddress([127, 0, 0, 1]), orcaV0.Address);
        Assert.Equal(24580u, orcaV0.Port);
        Assert.Equal(0x1001u, orcaV0.PassThroughPartyId);
        var orcaV17 = Assert.IsType<SccpOpenReceiveChannelAck>(Decode(SccpGolden.V17[8]));
        Assert.Equal(orcaV0 with { }, orcaV17);

        var smt = Assert.IsType<SccpStartMediaTransmission>(Decode(SccpGolden.V17[10]));
        Assert.Equal(IPAddress.Loopback, smt.RemoteAddress);
        Assert.Equal(30000u, smt.RemotePort);
        var orc = Assert.IsType<SccpOpenReceiveChannel>(Decode(SccpGolden.V17[4]));
        Assert.Equal(20000u, orc.SourcePort);
        var caps = Assert.IsType<SccpCapabilitiesRes>(Decode(SccpGolden.V0[3]));
        Assert.Equal([4u, 2u, 11u], caps.Capabilities.Select(c => c.PayloadCapability));
        var buttons = Assert.IsType<SccpButtonTemplateRes>(Decode(SccpGolden.ButtonTemplateRes));
        Assert.Equal(new SccpButton(1, 9), Assert.Single(buttons.Buttons));
    }

    [Theory]
    [MemberData(nameof(GoldenFrames))]
    public void Every_split_point_of_a_golden_frame_parses(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        for (var a = 0; a <= bytes.Length; a++)
        {
            for (var b = a; b <= bytes.Length; b += Math.Max(1, bytes.Length / 7))
            {
                var sequence = Segments.Of(bytes[..a], bytes[a..b], bytes[b..]);
                var reader = new SequenceReader<byte>(sequence);
                Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out var header, out var message));
                Assert.True(reader.End);
                Assert.Equal(hex, Convert.ToHexString(SccpCodec.Encode(message!, header.Version)), ignoreCase: true);
            }
        }
    }

    [Theory]
    [MemberData(nameof(GoldenFrames))]
    public void Every_truncation_of_a_golden_frame_needs_more_data(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        for (var n = 0; n < bytes.Length; n++)
        {
            var reader = new SequenceReader<byte>(Segments.Of(bytes[..(n / 2)], bytes[(n / 2)..n]));
            Assert.Equal(OperationStatus.NeedMoreData, SccpCodec.TryRead(ref reader, Max, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(Max + 1u)]
    [InlineData(0x7FFFFFFFu)]
    [InlineData(0xFFFFFFFFu)]
    public void Lengths_out_of_bounds_are_refused_as_soon_as_they_arrive(uint length)
    {
        var bytes = BitConverter.GetBytes(length);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(OperationStatus.InvalidData, SccpFraming.TryReadFrame(ref reader, Max, out _, out _));
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(9u)]
    [InlineData(0x17u)]
    [InlineData(0x01000000u)]
    public void Unknown_header_versions_are_refused(uint version)
    {
        var bytes = Convert.FromHexString("04000000" + Convert.ToHexString(BitConverter.GetBytes(version)) + "00000000");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, 8));
        Assert.Equal(OperationStatus.InvalidData, SccpFraming.TryReadFrame(ref reader, Max, out _, out _));
    }

    [Fact]
    public void A_body_too_short_for_its_message_is_invalid_and_an_unknown_id_is_skipped()
    {
        var shortRegister = Convert.FromHexString("0800000000000000010000005345503030");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(shortRegister[..^1]));
        Assert.Equal(OperationStatus.InvalidData, SccpCodec.TryRead(ref reader, Max, out _, out _));

        var unknown = Convert.FromHexString("08000000000000003412000001020304" + "040000000000000000000000");
        reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(unknown));
        Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out _, out var m));
        Assert.Equal(new SccpUnknown(0x1234, 4), m);
        Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out _, out m));
        Assert.Same(SccpEmpty.KeepAliveReq, m);
        Assert.True(reader.End);
    }

    [Fact]
    public void Random_input_never_throws_and_never_reads_past_the_limit()
    {
        var random = new Random(17);
        var buffer = new byte[256];
        for (var i = 0; i < 20_000; i++)
        {
            random.NextBytes(buffer);
            var n = random.Next(buffer.Length);
            if (i % 2 == 0)
            {
                // plausible header, random body
                BitConverter.TryWriteBytes(buffer, (uint)random.Next(4, 200));
                BitConverter.TryWriteBytes(buffer.AsSpan(4), (uint)(i % 4 == 0 ? 0 : 0x11));
                BitConverter.TryWriteBytes(buffer.AsSpan(8), (uint)random.Next(0, 0x160));
            }

            var reader = new SequenceReader<byte>(Segments.Of(buffer[..(n / 3)], buffer[(n / 3)..n]));
            while (SccpCodec.TryRead(ref reader, Max, out var header, out _) is var status && status != OperationStatus.NeedMoreData)
            {
                if (status == OperationStatus.InvalidData)
                {
                    break;
                }

                Assert.InRange(header.DataLength, SccpFraming.MinDataLength, Max);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_message_round_trips(uint version)
    {
        foreach (var message in SampleMessages.All(IPAddress.Parse("192.0.2.10")))
        {
            var bytes = SccpCodec.Encode(message, version);
            Assert.Equal(0, bytes.Length % 4);
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
            Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out var header, out var decoded));
            Assert.Equal(version, header.Version);
            Assert.Equal(message.GetType(), decoded!.GetType());
            Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(SccpCodec.Encode(decoded, version)));
            if (message is SccpOpenReceiveChannel orc && version < SccpLayout.V11)
            {
                // The basic layout has no source address and port.
                Assert.Equal(orc with { SourceAddress = IPAddress.Any, SourcePort = 0 }, decoded);
            }
            else if (message is not (SccpRegister or SccpSoftKeySetRes or SccpCapabilitiesRes or SccpButtonTemplateRes or SccpSoftKeyTemplateRes))
            {
                Assert.Equal(message, decoded);
            }
        }
    }

    [Fact]
    public void Addresses_are_big_endian_and_ipv6_needs_the_v17_layout()
    {
        var v4 = new SccpOpenReceiveChannelAck(0, IPAddress.Parse("192.0.2.10"), 24580, 1, 2);
        Assert.StartsWith("180000000000000022000000" + "00000000" + "C000020A" + "04600000", Convert.ToHexString(SccpCodec.Encode(v4, 0)));
        Assert.StartsWith("2800000011000000220000000000000000000000C000020A000000000000000000000000", Convert.ToHexString(SccpCodec.Encode(v4, 0x11)));

        var v6 = v4 with { Address = IPAddress.Parse("2001:db8::10") };
        var bytes = SccpCodec.Encode(v6, 0x11);
        Assert.Equal("0100000020010DB8000000000000000000000010", Convert.ToHexString(bytes, 16, 20));
        Assert.Equal(v6, Decode(Convert.ToHexString(bytes)));
        var smt = new SccpStartMediaTransmission { RemoteAddress = IPAddress.Parse("2001:db8::20"), RemotePort = 30000 };
        Assert.Equal(smt, Decode(Convert.ToHexString(SccpCodec.Encode(smt, 0x12))));

        // The 4-byte layout cannot carry IPv6: it is written as 0.0.0.0 rather than a wrong address.
        Assert.Equal(IPAddress.Any, ((SccpOpenReceiveChannelAck)Decode(Convert.ToHexString(SccpCodec.Encode(v6, 0)))).Address);
        // An address type other than 0 or 1 is invalid.
        bytes[16] = 7;
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(OperationStatus.InvalidData, SccpCodec.TryRead(ref reader, Max, out _, out _));
    }

    [Theory]
    [InlineData(0, 0u)]
    [InlineData(5, 0u)]
    [InlineData(10, 0x0Au)]
    [InlineData(12, 0x0Bu)]
    [InlineData(15, 0x0Fu)]
    [InlineData(17, 0x11u)]
    [InlineData(22, 0x16u)]
    [InlineData(40, 0x16u)]
    public void Header_version_for_a_protocol_version(int protocol, uint header) => Assert.Equal(header, SccpFraming.HeaderVersionFor(protocol));

    private static SccpMessage Decode(string hex)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Convert.FromHexString(hex)));
        Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, Max, out _, out var message));
        return message!;
    }
}

/// <summary>One sample of every modelled message.</summary>
internal static class SampleMessages
{
    public static IEnumerable<SccpMessage> All(IPAddress address) =>
    [
        SccpEmpty.KeepAliveReq, SccpEmpty.KeepAliveAck, SccpEmpty.CapabilitiesReq, SccpEmpty.ButtonTemplateReq,
        SccpEmpty.SoftKeyTemplateReq, SccpEmpty.SoftKeySetReq, SccpEmpty.ConfigStatReq, SccpEmpty.TimeDateReq,
        new SccpRegister { DeviceName = "SEP00AABBCCDDEE", StationAddress = address, ProtocolVersion = 17, Mac = [0, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE], FirmwareLoadName = "SCCP41.9-4-2SR3-1S", StationIPv6Address = IPAddress.Parse("2001:db8::1") },
        new SccpRegister { DeviceName = "SEP00AABBCCDDEF", StationAddress = address, Layout = SccpRegister.ShortBody },
        new SccpRegister { DeviceName = "SEP00AABBCCDDF0", StationAddress = address, ProtocolVersion = 11, Layout = SccpRegister.MediumBody },
        new SccpRegister { DeviceName = "SEP00AABBCCDDF1", StationAddress = address, ProtocolVersion = 22, Layout = SccpRegister.StampedBody, ConfigVersionStamp = "1234-5678" },
        new SccpValue(SccpMessageId.IpPort, 24580),
        new SccpValue(SccpMessageId.LineStatReq, 1),
        new SccpValue(SccpMessageId.HeadsetStatus, 2),
        new SccpValue(SccpMessageId.RegisterAvailableLines, 1),
        new SccpValue(SccpMessageId.UnregisterReq, 0),
        new SccpValue(SccpMessageId.UnregisterAck, 0),
        new SccpValue(SccpMessageId.Reset, 2),
        new SccpRegisterAck { KeepAliveInterval = 15, MaxProtocolVersion = 17 },
        new SccpText(SccpMessageId.RegisterReject, "No Authority: SEP00AABBCCDDEE"),
        new SccpDisplayNotify(10, "REG-SEEN 192.0.2.10:4000"),
        new SccpCapabilitiesRes([new SccpCapability(4, 40), new SccpCapability(2, 40), new SccpCapability(11, 60, 0x01020304)]),
        new SccpKeypadButton(7, 1, 5),
        new SccpHook(SccpMessageId.OffHook, 1, 5),
        new SccpHook(SccpMessageId.OnHook, 1, 5),
        new SccpCallState(SccpCallState.Connected, 1, 5),
        new SccpOpenReceiveChannel { ConferenceId = 5, PassThroughPartyId = 0x1001, CallReference = 5, SourceAddress = address, SourcePort = 20000, AudioLevelAdjustment = 0 },
        new SccpOpenReceiveChannelAck(0, address, 24580, 0x1001, 5),
        new SccpStartMediaTransmission { ConferenceId = 5, PassThroughPartyId = 0x1001, RemoteAddress = address, RemotePort = 30000, CallReference = 5, PartyDirection = 0 },
        new SccpStartMediaTransmissionAck(5, 0x1001, 5, address, 24580, 0),
        new SccpMediaStop(SccpMessageId.StopMediaTransmission, 5, 0x1001, 5),
        new SccpMediaStop(SccpMessageId.CloseReceiveChannel, 5, 0x1001, 5, 1),
        new SccpLineStatRes(1, "1001", "Phone 1001", "1001"),
        new SccpConfigStatRes("SEP00AABBCCDDEE", 1, "user", "cucm", 1, 0),
        new SccpTimeDateRes(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)),
        new SccpButtonTemplateRes([new SccpButton(1, 9), new SccpButton(1, 2)]),
        new SccpSoftKeyTemplateRes([new SccpSoftKey("Redial", 1), new SccpSoftKey("NewCall", 2)]),
        new SccpSoftKeySetRes([[1, 2, 3], [4]]),
    ];
}

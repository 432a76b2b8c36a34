using System.Buffers;
using System.Buffers.Binary;
using CucmSim.Protocols.Ike;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Ike;

public sealed class IkeCodecTests
{
    private static byte[] V1Request()
    {
        var b = new byte[512];
        return b[..IkeCodec.WriteV1MainModeRequest(b, 0x0102030405060708)];
    }

    private static byte[] V2Request()
    {
        var b = new byte[1024];
        return b[..IkeCodec.WriteV2SaInitRequest(b, 0x1112131415161718)];
    }

    [Fact]
    public void V1_main_mode_request_parses_with_its_sa_payload()
    {
        Assert.Equal(OperationStatus.Done, IkeCodec.TryParse(V1Request(), out var m, out var error));
        Assert.Null(error);
        Assert.Equal((1, 0, (byte)IkeExchange.V1IdentityProtection, 0x0102030405060708UL, 0UL), (m.MajorVersion, m.MinorVersion, m.ExchangeType, m.InitiatorSpi, m.ResponderSpi));
        Assert.Equal(1, m.Payloads.Count);
        Assert.Equal(IkeCodec.V1Sa, m.Payloads[0]);
    }

    [Fact]
    public void V2_sa_init_request_parses_with_sa_ke_and_nonce()
    {
        Assert.Equal(OperationStatus.Done, IkeCodec.TryParse(V2Request(), out var m, out _));
        Assert.Equal((2, (byte)IkeExchange.V2IkeSaInit, IkeMessage.V2Initiator, 0u), (m.MajorVersion, m.ExchangeType, m.Flags, m.MessageId));
        Assert.Equal([IkeCodec.V2Sa, IkeCodec.V2Ke, IkeCodec.V2Nonce], Enumerable.Range(0, m.Payloads.Count).Select(i => m.Payloads[i]));
        Assert.False(m.IsV2Response);
    }

    [Fact]
    public void V1_notify_is_an_informational_exchange_with_doi_ipsec_and_protocol_isakmp()
    {
        var b = new byte[64];
        var n = IkeCodec.WriteV1Notify(b, 0xAA, 0xBB, 7, IkeNotify.NoProposalChosen);
        Assert.Equal(
            "00000000000000AA" + "00000000000000BB" + "0B" + "10" + "05" + "00" + "00000007" + "00000028"
            + "0000000C" + "00000001" + "01" + "00" + "000E",
            Convert.ToHexString(b, 0, n));
        Assert.Equal((ushort)14, IkeCodec.FirstNotifyType(b.AsSpan(0, n)));
    }

    [Fact]
    public void V2_notify_is_a_response_with_zero_responder_spi()
    {
        var b = new byte[64];
        var n = IkeCodec.WriteV2Notify(b, 0xAA, 0, IkeExchange.V2IkeSaInit, 0, IkeNotify.NoProposalChosen);
        Assert.Equal(
            "00000000000000AA" + "0000000000000000" + "29" + "20" + "22" + "20" + "00000000" + "00000024"
            + "00000008" + "00" + "00" + "000E",
            Convert.ToHexString(b, 0, n));
        Assert.Equal(OperationStatus.Done, IkeCodec.TryParse(b.AsSpan(0, n), out var m, out _));
        Assert.True(m.IsV2Response);
        Assert.Equal((ushort)14, IkeCodec.FirstNotifyType(b.AsSpan(0, n)));
    }

    [Fact]
    public void Every_truncation_is_invalid_never_a_throw()
    {
        foreach (var request in new[] { V1Request(), V2Request() })
        {
            for (var i = 0; i < request.Length; i++)
            {
                Assert.Equal(OperationStatus.InvalidData, IkeCodec.TryParse(request.AsSpan(0, i), out _, out var error));
                Assert.NotNull(error);
                // The same bytes with the length field adjusted: the chain now runs past the end.
                if (i >= IkeCodec.HeaderSize)
                {
                    var cut = request[..i];
                    BinaryPrimitives.WriteUInt32BigEndian(cut.AsSpan(24), (uint)i);
                    var status = IkeCodec.TryParse(cut, out _, out _);
                    Assert.True(i == IkeCodec.HeaderSize || status == OperationStatus.InvalidData);
                }
            }
        }
    }

    [Fact]
    public void Oversized_message_and_too_many_payloads_are_refused()
    {
        var big = new byte[IkeCodec.MaxMessageSize + 1];
        BinaryPrimitives.WriteUInt32BigEndian(big.AsSpan(24), (uint)big.Length);
        Assert.Equal(OperationStatus.InvalidData, IkeCodec.TryParse(big, out _, out var error));
        Assert.Contains("longer", error, StringComparison.Ordinal);

        // 17 empty payloads chained: one more than the codec walks.
        var many = new byte[IkeCodec.HeaderSize + (17 * 4)];
        many[16] = 13;
        many[17] = 0x10;
        for (var i = 0; i < 17; i++)
        {
            var at = IkeCodec.HeaderSize + (i * 4);
            many[at] = (byte)(i < 16 ? 13 : 0);
            many[at + 3] = 4;
        }

        BinaryPrimitives.WriteUInt32BigEndian(many.AsSpan(24), (uint)many.Length);
        Assert.Equal(OperationStatus.InvalidData, IkeCodec.TryParse(many, out _, out error));
        Assert.Contains("payloads", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        foreach (var bytes in Fuzz.RandomAndMutated(500, 5000, 200, V1Request(), V2Request()))
        {
            var status = IkeCodec.TryParse(bytes, out _, out _);
            Assert.True(status is OperationStatus.Done or OperationStatus.InvalidData);
            _ = IkeCodec.FirstNotifyType(bytes);
        }
    }

    [Fact]
    public void Parsing_a_multi_segment_copy_gives_the_same_message()
    {
        var request = V2Request();
        Assert.Equal(OperationStatus.Done, IkeCodec.TryParse(request, out var expected, out _));
        foreach (var sequence in Segments.AllSplits(request))
        {
            Assert.Equal(OperationStatus.Done, IkeCodec.TryParse(sequence.ToArray(), out var m, out _));
            Assert.Equal(expected, m);
        }
    }
}

using System.Buffers;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Sccp;

/// <summary>The messages of a call between two phones: ringing, tones, call information.</summary>
public sealed class SccpCallSignalTests
{
    public static TheoryData<string> Messages() => new(nameof(SccpStartTone), nameof(SccpStopTone), nameof(SccpSetRinger), nameof(SccpCallInfo));

    private static SccpMessage Sample(string name) => name switch
    {
        nameof(SccpStartTone) => new SccpStartTone(SccpStartTone.ReorderTone, 1, 7),
        nameof(SccpStopTone) => new SccpStopTone(1, 7),
        nameof(SccpSetRinger) => new SccpSetRinger(SccpSetRinger.InsideRing, 2, 9),
        nameof(SccpCallInfo) => new SccpCallInfo("SEP001122334455", "729205", "SEP00AABBCCDDEE", "318126", 1, 7, SccpCallInfo.Inbound),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Each_decodes_to_itself_at_every_split_of_three_segments(string name)
    {
        var message = Sample(name);
        foreach (var version in new uint[] { 0, 0x11 })
        {
            var bytes = SccpCodec.Encode(message, version);
            for (var a = 0; a <= bytes.Length; a += 3)
            {
                for (var b = a; b <= bytes.Length; b += 5)
                {
                    var reader = new SequenceReader<byte>(Segments.Of(bytes[..a], bytes[a..b], bytes[b..]));
                    Assert.Equal(OperationStatus.Done, SccpCodec.TryRead(ref reader, SccpFraming.DefaultMaxDataLength, out var header, out var decoded));
                    Assert.True(reader.End);
                    Assert.Equal(message.Id, header.MessageId);
                    Assert.Equal(message, decoded);
                }
            }

            // Cut short: more data needed, nothing consumed.
            var cut = new SequenceReader<byte>(Segments.Of(bytes[..(bytes.Length / 2)], bytes[(bytes.Length / 2)..^1]));
            Assert.Equal(OperationStatus.NeedMoreData, SccpCodec.TryRead(ref cut, SccpFraming.DefaultMaxDataLength, out _, out _));
            Assert.Equal(0, cut.Consumed);
        }
    }

    [Fact]
    public void Wire_layouts_are_as_chan_sccp_defines_them()
    {
        Assert.Equal("14000000000000008200000025000000000000000100000007000000", Convert.ToHexString(SccpCodec.Encode(new SccpStartTone(SccpStartTone.ReorderTone, 1, 7), 0)));
        Assert.Equal("14000000000000008500000002000000010000000200000009000000", Convert.ToHexString(SccpCodec.Encode(new SccpSetRinger(SccpSetRinger.InsideRing, 2, 9), 0)));
        var info = SccpCodec.Encode(Sample(nameof(SccpCallInfo)), 0x11);
        Assert.Equal(12 + 384, info.Length);
        Assert.Equal("729205", System.Text.Encoding.ASCII.GetString(info, 12 + 40, 6));
        Assert.Equal(0, info[12 + 40 + 6]);
        Assert.Equal("318126", System.Text.Encoding.ASCII.GetString(info, 12 + 104, 6));
        Assert.Equal(1u, BitConverter.ToUInt32(info, 12 + 128));
        Assert.Equal(SccpCallInfo.Inbound, BitConverter.ToUInt32(info, 12 + 136));
    }
}

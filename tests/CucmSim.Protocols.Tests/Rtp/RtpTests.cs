using CucmSim.Protocols.Rtp;

namespace CucmSim.Protocols.Tests.Rtp;

public sealed class RtpTests
{
    [Fact]
    public void Header_round_trips()
    {
        var packet = new byte[172];
        RtpHeader.Write(packet, marker: true, payloadType: 8, sequence: 65535, timestamp: 0xDEADBEEF, ssrc: 0x01020304);
        Assert.True(RtpHeader.TryParse(packet, out var h));
        Assert.True(h.Marker);
        Assert.Equal(8, h.PayloadType);
        Assert.Equal(65535, h.SequenceNumber);
        Assert.Equal(0xDEADBEEFu, h.Timestamp);
        Assert.Equal(0x01020304u, h.Ssrc);
        Assert.Equal(12, h.HeaderLength);
    }

    [Fact]
    public void Truncated_wrong_version_csrc_and_extension_past_the_end_are_refused()
    {
        var packet = new byte[12];
        RtpHeader.Write(packet, false, 0, 1, 1, 1);
        for (var n = 0; n < 12; n++)
        {
            Assert.False(RtpHeader.TryParse(packet.AsSpan(0, n), out _));
        }

        var v1 = (byte[])packet.Clone();
        v1[0] = 0x40;
        Assert.False(RtpHeader.TryParse(v1, out _));

        var csrc = (byte[])packet.Clone();
        csrc[0] = 0x83;
        Assert.False(RtpHeader.TryParse(csrc, out _));

        var ext = new byte[16];
        RtpHeader.Write(ext, false, 0, 1, 1, 1);
        ext[0] |= 0x10;
        ext[14] = 0;
        ext[15] = 5;
        Assert.False(RtpHeader.TryParse(ext, out _));
    }

    [Fact]
    public void The_fixed_header_of_a_packet_read_in_part_is_read_alone()
    {
        // 15 CSRCs and a 5-word extension announced, only the first 20 bytes read: the full parse refuses, the fixed one reads.
        var packet = new byte[20];
        RtpHeader.Write(packet, marker: false, payloadType: 0, sequence: 4242, timestamp: 160, ssrc: 0xCAFEF00D);
        packet[0] |= 0x1F;
        Assert.False(RtpHeader.TryParse(packet, out _));
        Assert.True(RtpHeader.TryParseFixed(packet, out var h));
        Assert.Equal((4242, 160u, 0xCAFEF00Du, 12), (h.SequenceNumber, h.Timestamp, h.Ssrc, h.HeaderLength));

        // Fewer than 12 bytes, another version, RTCP: refused.
        for (var n = 0; n < 12; n++)
        {
            Assert.False(RtpHeader.TryParseFixed(packet.AsSpan(0, n), out _));
        }

        var v1 = (byte[])packet.Clone();
        v1[0] = 0x40;
        Assert.False(RtpHeader.TryParseFixed(v1, out _));
        Assert.False(RtpHeader.TryParseFixed([0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0], out _));

        var random = new Random(11);
        for (var i = 0; i < 10_000; i++)
        {
            var bytes = new byte[random.Next(0, 40)];
            random.NextBytes(bytes);
            if (RtpHeader.TryParseFixed(bytes, out var r))
            {
                Assert.True(bytes.Length >= 12 && r.HeaderLength == 12);
            }
        }
    }

    [Fact]
    public void Rtcp_is_told_apart_from_rtp()
    {
        byte[] sr = [0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0];
        Assert.True(RtpHeader.IsRtcp(sr));
        Assert.False(RtpHeader.TryParse(sr, out _));
    }

    [Fact]
    public void Random_input_never_throws()
    {
        var random = new Random(7);
        for (var i = 0; i < 10_000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (RtpHeader.TryParse(bytes, out var h))
            {
                Assert.InRange(h.HeaderLength, 12, bytes.Length);
            }
        }
    }

    [Fact]
    public void Loss_counts_the_gaps()
    {
        var stats = new RtpReceiverStats();
        ushort seq = 1000;
        uint ts = 0;
        var skipped = new HashSet<int> { 10, 11, 50 };
        for (var i = 0; i < 100; i++)
        {
            if (!skipped.Contains(i))
            {
                stats.Update((ushort)(seq + i), ts + (uint)(i * 160), i * 160);
            }
        }

        Assert.Equal(97, stats.Received);
        Assert.Equal(100, stats.Expected);
        Assert.Equal(3, stats.Lost);
        Assert.Equal(0, stats.Jitter, 3);
    }

    [Fact]
    public void Sequence_wrap_is_followed()
    {
        var stats = new RtpReceiverStats();
        for (var i = 0; i < 200; i++)
        {
            stats.Update((ushort)(65500 + i), (uint)(i * 160), i * 160);
        }

        Assert.Equal(200, stats.Expected);
        Assert.Equal(0, stats.Lost);
        Assert.Equal(65536 + 163, stats.ExtendedHighest);
    }

    [Fact]
    public void Jitter_follows_rfc3550_a8()
    {
        // Packets sent every 160 ticks, arriving alternately 0 and 80 ticks late: |D| = 80 every packet,
        // so J converges to 80 (J += (80 - J) / 16).
        var stats = new RtpReceiverStats();
        for (var i = 0; i < 400; i++)
        {
            stats.Update((ushort)i, (uint)(i * 160), (i * 160) + (i % 2 == 0 ? 0 : 80));
        }

        Assert.InRange(stats.Jitter, 79.0, 80.0);
    }

    [Fact]
    public void Duplicates_and_reordering_are_counted_as_received()
    {
        var stats = new RtpReceiverStats();
        stats.Update(1, 0, 0);
        stats.Update(3, 320, 320);
        stats.Update(2, 160, 330);
        stats.Update(3, 320, 340);
        Assert.Equal(3, stats.Expected);
        Assert.Equal(4, stats.Received);
        Assert.Equal(-1, stats.Lost);
        Assert.Equal(1, stats.Reordered);
    }
}

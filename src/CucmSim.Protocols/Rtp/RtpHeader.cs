using System.Buffers.Binary;

namespace CucmSim.Protocols.Rtp;

/// <summary>The RTP fixed header (RFC 3550 §5.1), all fields big-endian.</summary>
public readonly record struct RtpHeader(bool Marker, byte PayloadType, ushort SequenceNumber, uint Timestamp, uint Ssrc, int HeaderLength)
{
    public const int FixedLength = 12;

    /// <summary>
    /// Parses an RTP header. Returns false for anything that is not RTP version 2, for truncated headers
    /// (CSRC list or extension past the end), and for RTCP (payload types 72-76 with the marker bit, that is
    /// packet types 200-204, RFC 5761 §4).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> packet, out RtpHeader header)
    {
        header = default;
        if (packet.Length < FixedLength || (packet[0] >> 6) != 2)
        {
            return false;
        }

        if (IsRtcp(packet))
        {
            return false;
        }

        var csrcCount = packet[0] & 0x0F;
        var length = FixedLength + (4 * csrcCount);
        if (packet.Length < length)
        {
            return false;
        }

        if ((packet[0] & 0x10) != 0)
        {
            if (packet.Length < length + 4)
            {
                return false;
            }

            var words = BinaryPrimitives.ReadUInt16BigEndian(packet[(length + 2)..]);
            length += 4 + (4 * words);
            if (packet.Length < length)
            {
                return false;
            }
        }

        header = Fixed(packet, length);
        return true;
    }

    /// <summary>
    /// The fixed 12 bytes of an RTP header alone (version 2, not RTCP), for a packet read only in part: the CSRCs and
    /// extension it announces are not checked, and the header length given is 12.
    /// </summary>
    public static bool TryParseFixed(ReadOnlySpan<byte> packet, out RtpHeader header)
    {
        header = default;
        if (packet.Length < FixedLength || (packet[0] >> 6) != 2 || IsRtcp(packet))
        {
            return false;
        }

        header = Fixed(packet, FixedLength);
        return true;
    }

    /// <summary>The fields of the fixed header of a packet of at least 12 bytes.</summary>
    private static RtpHeader Fixed(ReadOnlySpan<byte> packet, int headerLength) => new(
        (packet[1] & 0x80) != 0,
        (byte)(packet[1] & 0x7F),
        BinaryPrimitives.ReadUInt16BigEndian(packet[2..]),
        BinaryPrimitives.ReadUInt32BigEndian(packet[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(packet[8..]),
        headerLength);

    /// <summary>RTCP packet types 200-204 sit where RTP has marker plus payload type (RFC 5761 §4).</summary>
    public static bool IsRtcp(ReadOnlySpan<byte> packet) =>
        packet.Length >= 8 && (packet[0] >> 6) == 2 && packet[1] is >= 200 and <= 204;

    /// <summary>Writes a fixed header (no CSRC, no extension) and returns 12.</summary>
    public static int Write(Span<byte> destination, bool marker, byte payloadType, ushort sequence, uint timestamp, uint ssrc)
    {
        destination[0] = 0x80;
        destination[1] = (byte)((marker ? 0x80 : 0) | (payloadType & 0x7F));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], ssrc);
        return FixedLength;
    }

    /// <summary>The RTP clock rate of the static payload types (RFC 3551 table 4); 8000 for the dynamic ones voice uses.</summary>
    public static int ClockRate(byte payloadType) => payloadType switch
    {
        10 or 11 => 44100,
        14 or 25 or 26 or 28 or 31 or 32 or 33 or 34 => 90000,
        _ => 8000,
    };
}

using System.Buffers;
using System.Buffers.Binary;

namespace CucmSim.Protocols.Sccp;

/// <summary>The 12-byte header of every SCCP message: data length, header version, message id (all LE).</summary>
public readonly record struct SccpHeader(int DataLength, uint Version, uint MessageId)
{
    /// <summary>Length of the body that follows the message id.</summary>
    public int BodyLength => DataLength - 4;

    /// <summary>Bytes of the whole message on the wire.</summary>
    public int FrameLength => DataLength + 8;
}

/// <summary>
/// SCCP framing (Wireshark packet-skinny.c.in, chan-sccp sccp_protocol.h): data_length u32 LE counts the
/// message id and the body, not itself nor the header version; header_version u32 LE is 0 (basic) or
/// 0x0A..0x16; message_id u32 LE. A stream carries messages back to back.
/// </summary>
public static class SccpFraming
{
    /// <summary>data_length + header_version + message_id.</summary>
    public const int HeaderLength = 12;

    /// <summary>Smallest data_length: the message id alone (Wireshark rejects less).</summary>
    public const int MinDataLength = 4;

    /// <summary>Default largest data_length accepted; the largest message handled (SoftKeySetRes) has 784.</summary>
    public const int DefaultMaxDataLength = 2048;

    /// <summary>
    /// True for the header versions a CUCM or phone sends: 0 (basic) and 0x0A..0x16 (V10..V22). Wireshark
    /// names 0x0A, 0x0B, 0x0F..0x16; 0x0C..0x0E are accepted on input as the same family.
    /// </summary>
    public static bool IsValidVersion(uint version) => version == 0 || version is >= 0x0A and <= 0x16;

    /// <summary>
    /// The header version (and so the layout) to use for a negotiated protocol version: 0 below 10, else the
    /// nearest version Wireshark names at or below it (layouts change only at 0x0B, 0x0F, 0x10 and 0x11).
    /// </summary>
    public static uint HeaderVersionFor(int protocolVersion) => protocolVersion switch
    {
        < 10 => 0,
        10 => 0x0A,
        < 15 => 0x0B,
        > 0x16 => 0x16,
        _ => (uint)protocolVersion,
    };

    /// <summary>
    /// Reads one framed message. Done: the reader is past it and <paramref name="body"/> slices the body.
    /// NeedMoreData: not all of it has arrived (reader unchanged). InvalidData: the length is outside
    /// [4, <paramref name="maxDataLength"/>] or the version is unknown; the stream cannot be resynchronised.
    /// Both are decided as soon as their bytes are in, before the rest of the frame is waited for.
    /// </summary>
    public static OperationStatus TryReadFrame(ref SequenceReader<byte> reader, int maxDataLength, out SccpHeader header, out ReadOnlySequence<byte> body)
    {
        header = default;
        body = default;
        Span<byte> head = stackalloc byte[HeaderLength];
        var available = (int)Math.Min(reader.Remaining, HeaderLength);
        if (!reader.TryCopyTo(head[..available]))
        {
            return OperationStatus.NeedMoreData;
        }

        if (available >= 4)
        {
            var length = BinaryPrimitives.ReadUInt32LittleEndian(head);
            if (length < MinDataLength || length > (uint)maxDataLength)
            {
                return OperationStatus.InvalidData;
            }
        }

        if (available >= 8 && !IsValidVersion(BinaryPrimitives.ReadUInt32LittleEndian(head[4..])))
        {
            return OperationStatus.InvalidData;
        }

        if (available < HeaderLength)
        {
            return OperationStatus.NeedMoreData;
        }

        var dataLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (reader.Remaining < dataLength + 8L)
        {
            return OperationStatus.NeedMoreData;
        }

        header = new SccpHeader(dataLength, BinaryPrimitives.ReadUInt32LittleEndian(head[4..]), BinaryPrimitives.ReadUInt32LittleEndian(head[8..]));
        reader.Advance(HeaderLength);
        body = reader.UnreadSequence.Slice(0, dataLength - 4);
        reader.Advance(dataLength - 4);
        return OperationStatus.Done;
    }

    /// <summary>Writes the 12-byte header.</summary>
    public static void WriteHeader(Span<byte> destination, int bodyLength, uint version, uint messageId)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)(bodyLength + 4));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], version);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], messageId);
    }
}

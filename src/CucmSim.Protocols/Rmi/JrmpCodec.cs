using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CucmSim.Protocols.Rmi;

/// <summary>Sub-protocols a JRMP client asks for after the magic and version (Java RMI specification §10.2.1).</summary>
public enum JrmpProtocol : byte
{
    Stream = 0x4B,
    SingleOp = 0x4C,
    Multiplex = 0x4D,
}

/// <summary>The one-byte messages of JRMP (§10.2.2, §10.2.3).</summary>
public enum JrmpMessage : byte
{
    Call = 0x50,
    Ping = 0x52,
    DgcAck = 0x54,
    ProtocolAck = 0x4E,
    ProtocolNotSupported = 0x4F,
    ReturnData = 0x51,
    PingAck = 0x53,
}

/// <summary>
/// The Java Remote Method Protocol framing that precedes any serialized call (Java RMI specification §10.2):
/// the client's header ("JRMI", version, protocol), the server's ProtocolAck with the endpoint the server saw,
/// the client's own endpoint, and the one-byte Ping, PingAck and DgcAck messages. Calls carry Java
/// serialization and are not decoded.
/// </summary>
public static class JrmpCodec
{
    public const int HeaderSize = 7;

    /// <summary>Longest host name accepted in an endpoint identifier (DNS names stop at 253).</summary>
    public const int MaxHostLength = 255;

    /// <summary>A DgcAck carries a java.rmi.server.UID: int unique, long time, short count.</summary>
    public const int UidSize = 14;

    public const ushort Version = 2;

    private static ReadOnlySpan<byte> Magic => "JRMI"u8;

    /// <summary>
    /// Reads the client header. NeedMoreData while the bytes so far could still be one; InvalidData as soon as
    /// the magic or version is wrong. The protocol byte is returned as sent, for the caller to refuse.
    /// </summary>
    public static OperationStatus TryReadHeader(ref SequenceReader<byte> reader, out ushort version, out byte protocol)
    {
        version = 0;
        protocol = 0;
        Span<byte> head = stackalloc byte[HeaderSize];
        var available = (int)Math.Min(reader.Remaining, HeaderSize);
        reader.TryCopyTo(head[..available]);
        var magicPart = Math.Min(available, Magic.Length);
        if (!head[..magicPart].SequenceEqual(Magic[..magicPart]))
        {
            return OperationStatus.InvalidData;
        }

        if (available < HeaderSize)
        {
            return OperationStatus.NeedMoreData;
        }

        version = BinaryPrimitives.ReadUInt16BigEndian(head[4..]);
        if (version is < 1 or > Version)
        {
            return OperationStatus.InvalidData;
        }

        protocol = head[6];
        reader.Advance(HeaderSize);
        return OperationStatus.Done;
    }

    /// <summary>Reads an endpoint identifier: a DataOutput UTF string (u16 length) and an int port.</summary>
    public static OperationStatus TryReadEndpoint(ref SequenceReader<byte> reader, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        // A copy reads ahead, so "need more" leaves the caller's reader where it was.
        var r = reader;
        if (!r.TryReadBigEndian(out short rawLength))
        {
            return OperationStatus.NeedMoreData;
        }

        var length = (ushort)rawLength;
        if (length > MaxHostLength)
        {
            return OperationStatus.InvalidData;
        }

        Span<byte> text = stackalloc byte[length];
        if (!r.TryCopyTo(text))
        {
            return OperationStatus.NeedMoreData;
        }

        r.Advance(length);
        if (!r.TryReadBigEndian(out port))
        {
            port = 0;
            return OperationStatus.NeedMoreData;
        }

        if (port is < 0 or > 65535)
        {
            return OperationStatus.InvalidData;
        }

        reader = r;
        // Modified UTF-8 equals UTF-8 for every character a host name holds.
        host = Encoding.UTF8.GetString(text);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Reads the server's answer to a stream header: ProtocolAck and the endpoint it saw (Done), or
    /// ProtocolNotSupported and anything else (InvalidData, with <paramref name="answer"/> the first byte).
    /// </summary>
    public static OperationStatus TryReadProtocolAck(ref SequenceReader<byte> reader, out byte answer, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        if (!reader.TryPeek(out answer))
        {
            return OperationStatus.NeedMoreData;
        }

        if (answer != (byte)JrmpMessage.ProtocolAck)
        {
            return OperationStatus.InvalidData;
        }

        var r = reader;
        r.Advance(1);
        var status = TryReadEndpoint(ref r, out host, out port);
        if (status == OperationStatus.Done)
        {
            reader = r;
        }

        return status;
    }

    /// <summary>The client header: "JRMI", version 2, the protocol.</summary>
    public static int WriteHeader(Span<byte> destination, JrmpProtocol protocol)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Version);
        destination[6] = (byte)protocol;
        return HeaderSize;
    }

    /// <summary>ProtocolAck followed by the endpoint the server saw the client at (§10.2.3).</summary>
    public static int WriteProtocolAck(Span<byte> destination, string host, int port)
    {
        destination[0] = (byte)JrmpMessage.ProtocolAck;
        return 1 + WriteEndpoint(destination[1..], host, port);
    }

    /// <summary>An endpoint identifier; the buffer needs 6 + the host's UTF-8 length octets.</summary>
    public static int WriteEndpoint(Span<byte> destination, string host, int port)
    {
        ArgumentNullException.ThrowIfNull(host);
        var n = Encoding.UTF8.GetBytes(host, destination[2..]);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, MaxHostLength, nameof(host));
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)n);
        BinaryPrimitives.WriteInt32BigEndian(destination[(2 + n)..], port);
        return 2 + n + 4;
    }
}

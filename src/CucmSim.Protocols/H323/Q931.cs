using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CucmSim.Protocols.H323;

/// <summary>TPKT framing of H.225.0 call signalling on TCP (RFC 1006 §6): version 3, reserved 0, a 16-bit length that counts the header.</summary>
public static class Tpkt
{
    public const int HeaderSize = 4;

    /// <summary>Largest TPKT accepted (a Setup with fast start stays far below; the field allows 65535).</summary>
    public const int DefaultMaxLength = 8192;

    /// <summary>
    /// Reads one TPKT's payload: NeedMoreData until it is complete, InvalidData when the version is not 3 or the length
    /// is impossible or above <paramref name="maxLength"/>. The payload may span segments.
    /// </summary>
    public static OperationStatus TryRead(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> payload, int maxLength = DefaultMaxLength)
    {
        payload = default;
        Span<byte> head = stackalloc byte[HeaderSize];
        var available = (int)Math.Min(reader.Remaining, HeaderSize);
        reader.TryCopyTo(head[..available]);
        if (available >= 1 && head[0] != 3)
        {
            return OperationStatus.InvalidData;
        }

        if (available < HeaderSize)
        {
            return OperationStatus.NeedMoreData;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(head[2..]);
        if (length < HeaderSize + 1 || length > maxLength)
        {
            return OperationStatus.InvalidData;
        }

        if (reader.Remaining < length)
        {
            return OperationStatus.NeedMoreData;
        }

        payload = reader.UnreadSequence.Slice(HeaderSize, length - HeaderSize);
        reader.Advance(length);
        return OperationStatus.Done;
    }

    public static byte[] Wrap(ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderSize + payload.Length];
        frame[0] = 3;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)frame.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }
}

/// <summary>Q.931 message types H.225.0 uses (H.225.0 §7.3, Q.931 Table 4-2).</summary>
public static class Q931Type
{
    public const byte Alerting = 0x01;
    public const byte CallProceeding = 0x02;
    public const byte Progress = 0x03;
    public const byte Setup = 0x05;
    public const byte Connect = 0x07;
    public const byte ReleaseComplete = 0x5A;
    public const byte Facility = 0x62;
    public const byte Notify = 0x6E;
    public const byte StatusEnquiry = 0x75;
    public const byte Information = 0x7B;
    public const byte Status = 0x7D;

    public static string Name(byte type) => type switch
    {
        Alerting => "Alerting",
        CallProceeding => "CallProceeding",
        Progress => "Progress",
        Setup => "Setup",
        Connect => "Connect",
        ReleaseComplete => "ReleaseComplete",
        Facility => "Facility",
        Notify => "Notify",
        StatusEnquiry => "StatusEnquiry",
        Information => "Information",
        Status => "Status",
        _ => "0x" + type.ToString("x2", System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>Q.931 causes this emulator sends (Q.850).</summary>
public static class Q931Cause
{
    public const int UnallocatedNumber = 1;
    public const int NormalClearing = 16;
    public const int NoCircuitAvailable = 34;
    public const int ResponseToStatusEnquiry = 30;
    public const int MessageTypeNonExistent = 97;
    public const int MessageNotCompatibleWithCallState = 98;
    public const int InvalidInformationElementContents = 100;
}

/// <summary>A Q.931 message as H.225.0 carries it, with the information elements this emulator reads and writes.</summary>
public sealed record Q931Message
{
    public required byte Type { get; init; }

    /// <summary>The call reference value (15 bits).</summary>
    public ushort CallReference { get; init; }

    /// <summary>The call reference flag: set in messages sent by the side that did not allocate the reference.</summary>
    public bool FromDestination { get; init; }

    public bool BearerCapability { get; init; }
    public int? Cause { get; init; }
    public int? CallState { get; init; }
    public string? Display { get; init; }
    public string? CallingNumber { get; init; }
    public string? CalledNumber { get; init; }

    /// <summary>The H.323 user-user information, decoded.</summary>
    public H225Uuie? Uuie { get; init; }

    /// <summary>Why the user-user IE did not decode (the message is still usable at the Q.931 level).</summary>
    public string? UuieError { get; init; }

    public string Name => Q931Type.Name(Type);
}

/// <summary>
/// Q.931 (the subset of H.225.0 §7.2-7.3): protocol discriminator 8, a two-octet call reference, the message type,
/// then information elements. Single-octet IEs are read past; the user-user IE has a 16-bit length (H.225.0 §7.2.2.1).
/// </summary>
public static class Q931Codec
{
    public const byte ProtocolDiscriminator = 0x08;

    /// <summary>The user-user IE's protocol discriminator for X.208/X.209 coded information (H.225.0 §7.2.2.1).</summary>
    public const byte UserUserDiscriminator = 0x05;

    public const int MaxInformationElements = 32;

    private const byte IeBearerCapability = 0x04;
    private const byte IeCause = 0x08;
    private const byte IeCallState = 0x14;
    private const byte IeDisplay = 0x28;
    private const byte IeCallingNumber = 0x6C;
    private const byte IeCalledNumber = 0x70;
    private const byte IeUserUser = 0x7E;

    public static OperationStatus TryDecode(in ReadOnlySequence<byte> payload, out Q931Message? message, out string? error)
    {
        if (payload.Length > Tpkt.DefaultMaxLength)
        {
            message = null;
            error = "message too long";
            return OperationStatus.InvalidData;
        }

        return TryDecode(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray(), out message, out error);
    }

    public static OperationStatus TryDecode(ReadOnlySpan<byte> data, out Q931Message? message, out string? error)
    {
        message = null;
        error = null;
        if (data.Length < 5 || data[0] != ProtocolDiscriminator)
        {
            error = data.Length == 0 || data[0] != ProtocolDiscriminator ? "not Q.931 (protocol discriminator)" : "truncated";
            return OperationStatus.InvalidData;
        }

        var refLength = data[1] & 0x0F;
        if (refLength > 2 || (data[1] & 0xF0) != 0 || data.Length < 3 + refLength)
        {
            error = "call reference length";
            return OperationStatus.InvalidData;
        }

        ushort callRef = 0;
        var flag = false;
        if (refLength > 0)
        {
            flag = (data[2] & 0x80) != 0;
            callRef = (ushort)(data[2] & 0x7F);
            if (refLength == 2)
            {
                callRef = (ushort)((callRef << 8) | data[3]);
            }
        }

        var pos = 2 + refLength;
        var type = data[pos++];
        if ((type & 0x80) != 0)
        {
            error = "message type";
            return OperationStatus.InvalidData;
        }

        var m = new Q931Message { Type = type, CallReference = callRef, FromDestination = flag };
        var count = 0;
        while (pos < data.Length)
        {
            if (++count > MaxInformationElements)
            {
                error = "too many information elements";
                return OperationStatus.InvalidData;
            }

            var id = data[pos++];
            if ((id & 0x80) != 0)
            {
                continue;
            }

            int length;
            if (id == IeUserUser)
            {
                if (pos + 2 > data.Length)
                {
                    error = "truncated user-user IE";
                    return OperationStatus.InvalidData;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
                pos += 2;
            }
            else
            {
                if (pos >= data.Length)
                {
                    error = "truncated IE";
                    return OperationStatus.InvalidData;
                }

                length = data[pos++];
            }

            if (pos + length > data.Length)
            {
                error = "IE longer than the message";
                return OperationStatus.InvalidData;
            }

            var content = data.Slice(pos, length);
            pos += length;
            m = id switch
            {
                IeBearerCapability => m with { BearerCapability = true },
                IeCause when content.Length >= 2 => m with { Cause = content[(content[0] & 0x80) != 0 ? 1 : Math.Min(2, content.Length - 1)] & 0x7F },
                IeCallState when content.Length >= 1 => m with { CallState = content[0] & 0x3F },
                IeDisplay => m with { Display = Ascii(content) },
                IeCallingNumber when content.Length >= 1 => m with { CallingNumber = Ascii(content[((content[0] & 0x80) != 0 ? 1 : Math.Min(2, content.Length))..]) },
                IeCalledNumber when content.Length >= 1 => m with { CalledNumber = Ascii(content[1..]) },
                IeUserUser => WithUuie(m, content),
                _ => m,
            };
        }

        message = m;
        return OperationStatus.Done;
    }

    private static Q931Message WithUuie(Q931Message m, ReadOnlySpan<byte> content)
    {
        if (content.Length < 2 || content[0] != UserUserDiscriminator)
        {
            return m with { UuieError = "user-user IE is not X.208/X.209 coded" };
        }

        return UuieCodec.TryDecode(content[1..], out var uuie, out var error) == OperationStatus.Done
            ? m with { Uuie = uuie }
            : m with { UuieError = error };
    }

    /// <summary>Encodes a message and wraps it in a TPKT: one frame, to be sent in one TCP segment.</summary>
    public static byte[] Encode(Q931Message m, byte[]? uuie)
    {
        ArgumentNullException.ThrowIfNull(m);
        var b = new List<byte>(64) { ProtocolDiscriminator, 2, (byte)((m.FromDestination ? 0x80 : 0) | ((m.CallReference >> 8) & 0x7F)), (byte)m.CallReference, m.Type };
        if (m.BearerCapability)
        {
            // Information transfer capability: unrestricted digital; circuit mode, 64 kbit/s; layer 1: H.221/H.242 (Q.931 §4.5.5, as H.323 endpoints send).
            b.AddRange([IeBearerCapability, 3, 0x88, 0x90, 0xA5]);
        }

        if (m.Cause is { } cause)
        {
            // Coding standard CCITT, location user (Q.850 §2.2.5), as H.323 endpoints send it.
            b.AddRange([IeCause, 2, 0x80, (byte)(0x80 | cause)]);
        }

        if (m.CallState is { } state)
        {
            b.AddRange([IeCallState, 1, (byte)state]);
        }

        if (m.Display is { } display)
        {
            var text = Encoding.ASCII.GetBytes(display.Length > 80 ? display[..80] : display);
            b.Add(IeDisplay);
            b.Add((byte)text.Length);
            b.AddRange(text);
        }

        if (m.CallingNumber is { } calling)
        {
            var digits = Encoding.ASCII.GetBytes(calling);
            b.AddRange([IeCallingNumber, (byte)(digits.Length + 2), 0x00, 0x80]);
            b.AddRange(digits);
        }

        if (m.CalledNumber is { } called)
        {
            var digits = Encoding.ASCII.GetBytes(called);
            // Type of number unknown, numbering plan ISDN/telephony (E.164).
            b.AddRange([IeCalledNumber, (byte)(digits.Length + 1), 0x81]);
            b.AddRange(digits);
        }

        if (uuie is not null)
        {
            var length = uuie.Length + 1;
            b.AddRange([IeUserUser, (byte)(length >> 8), (byte)length, UserUserDiscriminator]);
            b.AddRange(uuie);
        }

        return Tpkt.Wrap(b.ToArray());
    }

    private static string Ascii(ReadOnlySpan<byte> content)
    {
        var chars = new char[Math.Min(content.Length, 128)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = content[i] is >= 0x20 and < 0x7F ? (char)content[i] : '?';
        }

        return new string(chars);
    }
}

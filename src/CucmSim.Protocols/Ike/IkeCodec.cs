using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CucmSim.Protocols.Ike;

/// <summary>Exchange types of IKEv1 (RFC 2408 §3.1) and IKEv2 (RFC 7296 §3.1) that the codec names.</summary>
public enum IkeExchange : byte
{
    V1IdentityProtection = 2,
    V1Aggressive = 4,
    V1Informational = 5,
    V2IkeSaInit = 34,
    V2IkeAuth = 35,
    V2CreateChildSa = 36,
    V2Informational = 37,
}

/// <summary>Notify message types used here: IKEv1 (RFC 2408 §3.14.1) and IKEv2 (RFC 7296 §3.10.1) share the numbers.</summary>
public enum IkeNotify : ushort
{
    InvalidPayloadType = 1,
    InvalidCookieOrSpi = 4,
    InvalidMajorVersion = 5,

    /// <summary>IKEv2 INVALID_SYNTAX; the same number is IKEv1's INVALID-EXCHANGE-TYPE.</summary>
    InvalidSyntax = 7,
    NoProposalChosen = 14,
    PayloadMalformed = 16,
    UnsupportedExchangeType = 29,
}

/// <summary>One parsed IKE message: the fixed header and the chain of payload types (the bodies are not kept).</summary>
public readonly record struct IkeMessage(
    ulong InitiatorSpi,
    ulong ResponderSpi,
    byte MajorVersion,
    byte MinorVersion,
    byte ExchangeType,
    byte Flags,
    uint MessageId,
    int Length,
    IkePayloads Payloads)
{
    /// <summary>IKEv2 flags (RFC 7296 §3.1).</summary>
    public const byte V2Initiator = 0x08;
    public const byte V2Response = 0x20;

    /// <summary>IKEv1 flag (RFC 2408 §3.1): the payloads after the header are encrypted.</summary>
    public const byte V1Encrypted = 0x01;

    public bool IsV2Response => MajorVersion == 2 && (Flags & V2Response) != 0;
}

/// <summary>Up to <see cref="IkeCodec.MaxPayloads"/> payload types in wire order, kept without allocating.</summary>
public readonly struct IkePayloads
{
    private readonly ulong _low;
    private readonly ulong _high;

    private IkePayloads(ulong low, ulong high, int count)
    {
        _low = low;
        _high = high;
        Count = count;
    }

    public int Count { get; }

    public byte this[int index] => (uint)index >= (uint)Count ? throw new ArgumentOutOfRangeException(nameof(index)) : (byte)((index < 8 ? _low : _high) >> ((index % 8) * 8));

    public bool Contains(byte type)
    {
        for (var i = 0; i < Count; i++)
        {
            if (this[i] == type)
            {
                return true;
            }
        }

        return false;
    }

    internal IkePayloads Add(byte type) => Count < 8
        ? new(_low | ((ulong)type << (Count * 8)), _high, Count + 1)
        : new(_low, _high | ((ulong)type << ((Count - 8) * 8)), Count + 1);
}

/// <summary>
/// The ISAKMP/IKE header and payload chain (RFC 2408 §3.1-3.2, RFC 7296 §3.1-3.2), and the few messages a
/// responder that refuses every proposal sends: NO_PROPOSAL_CHOSEN and the other unprotected notifies.
/// </summary>
public static class IkeCodec
{
    public const int HeaderSize = 28;

    /// <summary>Longest message parsed; larger ones are refused before the payload chain is walked.</summary>
    public const int MaxMessageSize = 16384;

    /// <summary>Most payloads walked in one message (a real first message has five or six).</summary>
    public const int MaxPayloads = 16;

    // Payload types: IKEv1 (RFC 2408 §3.1) and IKEv2 (RFC 7296 §3.2).
    public const byte V1Sa = 1;
    public const byte V1Notification = 11;
    public const byte V2Sa = 33;
    public const byte V2Ke = 34;
    public const byte V2Nonce = 40;
    public const byte V2Notify = 41;

    /// <summary>
    /// Parses a datagram (on 500/udp: no non-ESP marker). InvalidData for a short header, a length field that is
    /// not the datagram's length, a broken payload chain, or a message larger than <see cref="MaxMessageSize"/>.
    /// The version is returned even for InvalidData when the header was read.
    /// </summary>
    public static OperationStatus TryParse(ReadOnlySpan<byte> datagram, out IkeMessage message, out string? error)
    {
        message = default;
        if (datagram.Length < HeaderSize)
        {
            error = "shorter than the 28-octet header";
            return OperationStatus.InvalidData;
        }

        if (datagram.Length > MaxMessageSize)
        {
            error = $"longer than {MaxMessageSize} octets";
            return OperationStatus.InvalidData;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(datagram[24..]);
        message = new IkeMessage(
            BinaryPrimitives.ReadUInt64BigEndian(datagram),
            BinaryPrimitives.ReadUInt64BigEndian(datagram[8..]),
            (byte)(datagram[17] >> 4),
            (byte)(datagram[17] & 0x0F),
            datagram[18],
            datagram[19],
            BinaryPrimitives.ReadUInt32BigEndian(datagram[20..]),
            (int)Math.Min(length, int.MaxValue),
            default);
        if (length != (uint)datagram.Length)
        {
            error = "length field is not the datagram's length";
            return OperationStatus.InvalidData;
        }

        var payloads = default(IkePayloads);
        var next = datagram[16];
        var offset = HeaderSize;
        // An encrypted IKEv1 message hides its chain after the first payload type; IKEv2's SK payload is one payload.
        var opaque = message.MajorVersion == 1 && (message.Flags & IkeMessage.V1Encrypted) != 0;
        while (next != 0 && !opaque)
        {
            if (payloads.Count == MaxPayloads)
            {
                error = $"more than {MaxPayloads} payloads";
                return OperationStatus.InvalidData;
            }

            if (datagram.Length - offset < 4)
            {
                error = "payload header truncated";
                return OperationStatus.InvalidData;
            }

            var payloadLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[(offset + 2)..]);
            if (payloadLength < 4 || payloadLength > datagram.Length - offset)
            {
                error = "payload length outside the message";
                return OperationStatus.InvalidData;
            }

            payloads = payloads.Add(next);
            next = datagram[offset];
            offset += payloadLength;
        }

        if (!opaque && offset != datagram.Length)
        {
            error = "octets after the last payload";
            return OperationStatus.InvalidData;
        }

        message = message with { Payloads = opaque ? payloads.Add(next) : payloads };
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>
    /// An unencrypted IKEv1 Informational exchange carrying one Notification payload (RFC 2408 §3.14, §4.8):
    /// DOI IPsec, protocol ISAKMP, no SPI. Returns the bytes written.
    /// </summary>
    public static int WriteV1Notify(Span<byte> destination, ulong initiatorCookie, ulong responderCookie, uint messageId, IkeNotify type)
    {
        const int payloadLength = 12;
        WriteHeader(destination, initiatorCookie, responderCookie, V1Notification, 0x10, (byte)IkeExchange.V1Informational, 0, messageId, HeaderSize + payloadLength);
        var p = destination[HeaderSize..];
        p[0] = 0; // next payload: none
        p[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], payloadLength);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], 1); // DOI: IPsec (RFC 2407 §4.2)
        p[8] = 1; // protocol: PROTO_ISAKMP
        p[9] = 0; // SPI size
        BinaryPrimitives.WriteUInt16BigEndian(p[10..], (ushort)type);
        return HeaderSize + payloadLength;
    }

    /// <summary>
    /// An unprotected IKEv2 response carrying one Notify payload with no SPI (RFC 7296 §3.10): NO_PROPOSAL_CHOSEN
    /// in IKE_SA_INIT (responder SPI zero, §2.6), INVALID_IKE_SPI outside an SA (§2.21.4), and the like.
    /// </summary>
    public static int WriteV2Notify(Span<byte> destination, ulong initiatorSpi, ulong responderSpi, IkeExchange exchange, uint messageId, IkeNotify type)
    {
        const int payloadLength = 8;
        WriteHeader(destination, initiatorSpi, responderSpi, V2Notify, 0x20, (byte)exchange, IkeMessage.V2Response, messageId, HeaderSize + payloadLength);
        var p = destination[HeaderSize..];
        p[0] = 0; // next payload: none
        p[1] = 0; // not critical
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], payloadLength);
        p[4] = 0; // protocol: none, the SPI is empty
        p[5] = 0; // SPI size
        BinaryPrimitives.WriteUInt16BigEndian(p[6..], (ushort)type);
        return HeaderSize + payloadLength;
    }

    /// <summary>
    /// An IKEv1 Main Mode first message: one SA payload (DOI IPsec, SIT_IDENTITY_ONLY) with one ISAKMP proposal
    /// of one transform (KEY_IKE: AES-128-CBC, SHA1, pre-shared key, MODP group 14, 28,800 s).
    /// </summary>
    public static int WriteV1MainModeRequest(Span<byte> destination, ulong initiatorCookie)
    {
        ReadOnlySpan<byte> attributes =
        [
            0x80, 0x01, 0x00, 0x07, // encryption: AES-CBC
            0x80, 0x0E, 0x00, 0x80, // key length: 128
            0x80, 0x02, 0x00, 0x02, // hash: SHA
            0x80, 0x03, 0x00, 0x01, // authentication: pre-shared key
            0x80, 0x04, 0x00, 0x0E, // group: 14
            0x80, 0x0B, 0x00, 0x01, // life type: seconds
            0x80, 0x0C, 0x70, 0x80, // life duration: 28,800
        ];
        var transformLength = 8 + attributes.Length;
        var proposalLength = 8 + transformLength;
        var saLength = 12 + proposalLength;
        var total = HeaderSize + saLength;
        WriteHeader(destination, initiatorCookie, 0, V1Sa, 0x10, (byte)IkeExchange.V1IdentityProtection, 0, 0, total);
        var p = destination[HeaderSize..total];
        p.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)saLength);
        BinaryPrimitives.WriteUInt32BigEndian(p[4..], 1); // DOI IPsec
        BinaryPrimitives.WriteUInt32BigEndian(p[8..], 1); // SIT_IDENTITY_ONLY
        var q = p[12..];
        BinaryPrimitives.WriteUInt16BigEndian(q[2..], (ushort)proposalLength);
        q[4] = 1; // proposal #1
        q[5] = 1; // PROTO_ISAKMP
        q[6] = 0; // SPI size
        q[7] = 1; // one transform
        var t = q[8..];
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], (ushort)transformLength);
        t[4] = 1; // transform #1
        t[5] = 1; // KEY_IKE
        attributes.CopyTo(t[8..]);
        return total;
    }

    /// <summary>
    /// An IKEv2 IKE_SA_INIT request: SA (one IKE proposal: AES-CBC-128, PRF-HMAC-SHA1, HMAC-SHA1-96, MODP 2048),
    /// KE for group 14 (random octets: nobody will compute with it), Nonce.
    /// </summary>
    public static int WriteV2SaInitRequest(Span<byte> destination, ulong initiatorSpi)
    {
        ReadOnlySpan<byte> transforms =
        [
            3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0E, 0x00, 0x80, // ENCR_AES_CBC, key length 128
            3, 0, 0, 8, 2, 0, 0, 2, // PRF_HMAC_SHA1
            3, 0, 0, 8, 3, 0, 0, 2, // AUTH_HMAC_SHA1_96
            0, 0, 0, 8, 4, 0, 0, 14, // D-H group 14
        ];
        const int keyExchangeLength = 256;
        const int nonceLength = 32;
        var proposalLength = 8 + transforms.Length;
        var saLength = 4 + proposalLength;
        var keLength = 8 + keyExchangeLength;
        var nonceTotal = 4 + nonceLength;
        var total = HeaderSize + saLength + keLength + nonceTotal;
        WriteHeader(destination, initiatorSpi, 0, V2Sa, 0x20, (byte)IkeExchange.V2IkeSaInit, IkeMessage.V2Initiator, 0, total);
        var p = destination[HeaderSize..total];
        p.Clear();
        p[0] = V2Ke;
        BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)saLength);
        var q = p[4..];
        BinaryPrimitives.WriteUInt16BigEndian(q[2..], (ushort)proposalLength);
        q[4] = 1; // proposal #1
        q[5] = 1; // IKE
        q[6] = 0; // SPI size
        q[7] = 4; // transforms
        transforms.CopyTo(q[8..]);
        var ke = p[saLength..];
        ke[0] = V2Nonce;
        BinaryPrimitives.WriteUInt16BigEndian(ke[2..], (ushort)keLength);
        BinaryPrimitives.WriteUInt16BigEndian(ke[4..], 14);
        RandomNumberGenerator.Fill(ke.Slice(8, keyExchangeLength));
        var nonce = ke[keLength..];
        BinaryPrimitives.WriteUInt16BigEndian(nonce[2..], (ushort)nonceTotal);
        RandomNumberGenerator.Fill(nonce.Slice(4, nonceLength));
        return total;
    }

    /// <summary>The first Notify type in an unencrypted message (IKEv1 Notification or IKEv2 Notify), or null.</summary>
    public static ushort? FirstNotifyType(ReadOnlySpan<byte> datagram)
    {
        if (TryParse(datagram, out var message, out _) != OperationStatus.Done)
        {
            return null;
        }

        var type = message.MajorVersion == 1 ? V1Notification : V2Notify;
        var next = datagram[16];
        var offset = HeaderSize;
        for (var i = 0; i < message.Payloads.Count; i++)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(datagram[(offset + 2)..]);
            if (next == type)
            {
                // The type follows DOI, protocol and SPI size in IKEv1, protocol and SPI size in IKEv2.
                var at = message.MajorVersion == 1 ? 10 : 6;
                return length >= at + 2 ? BinaryPrimitives.ReadUInt16BigEndian(datagram[(offset + at)..]) : null;
            }

            next = datagram[offset];
            offset += length;
        }

        return null;
    }

    private static void WriteHeader(Span<byte> d, ulong initiatorSpi, ulong responderSpi, byte nextPayload, byte version, byte exchange, byte flags, uint messageId, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(d, initiatorSpi);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], responderSpi);
        d[16] = nextPayload;
        d[17] = version;
        d[18] = exchange;
        d[19] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(d[20..], messageId);
        BinaryPrimitives.WriteUInt32BigEndian(d[24..], (uint)length);
    }
}

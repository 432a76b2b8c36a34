using System.Buffers.Binary;

namespace CucmSim.Protocols.Snmp;

/// <summary>BER tags used by SNMP (X.690 §8; RFC 2578 §7.1 application types; RFC 3416 §3 PDUs and exceptions).</summary>
public static class BerTag
{
    public const byte Integer = 0x02;
    public const byte OctetString = 0x04;
    public const byte Null = 0x05;
    public const byte Oid = 0x06;
    public const byte Sequence = 0x30;
    public const byte IpAddress = 0x40;
    public const byte Counter32 = 0x41;
    public const byte Gauge32 = 0x42;
    public const byte TimeTicks = 0x43;
    public const byte Opaque = 0x44;
    public const byte Counter64 = 0x46;
    public const byte NoSuchObject = 0x80;
    public const byte NoSuchInstance = 0x81;
    public const byte EndOfMibView = 0x82;
}

/// <summary>
/// A strict BER reader over one datagram (X.690 §8.1): definite lengths only, single-byte tags only, every
/// length checked against what remains. Nothing here allocates.
/// </summary>
public ref struct BerReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public BerReader(ReadOnlySpan<byte> data, int offset = 0)
    {
        _data = data;
        _pos = offset;
        End = data.Length;
    }

    private BerReader(ReadOnlySpan<byte> data, int offset, int end)
    {
        _data = data;
        _pos = offset;
        End = end;
    }

    /// <summary>Offset of the next byte in the underlying span.</summary>
    public readonly int Position => _pos;

    /// <summary>Offset one past the last byte this reader may read.</summary>
    public int End { get; }

    public readonly bool AtEnd => _pos >= End;

    /// <summary>Reads a tag and a definite length (X.690 §8.1.2, §8.1.3); content is [Position, Position+length).</summary>
    public bool TryReadHeader(out byte tag, out int length)
    {
        tag = 0;
        length = 0;
        if (_pos >= End)
        {
            return false;
        }

        var t = _data[_pos];
        if ((t & 0x1F) == 0x1F)
        {
            // X.690 §8.1.2.4 high tag numbers: SNMP uses none.
            return false;
        }

        var p = _pos + 1;
        if (p >= End)
        {
            return false;
        }

        int first = _data[p++];
        int len;
        if (first < 0x80)
        {
            len = first;
        }
        else
        {
            var n = first & 0x7F;
            if (n == 0 || n > 3 || p + n > End)
            {
                // 0x80 is the indefinite form (X.690 §8.1.3.6), not allowed in SNMP (RFC 3417 §8); 3 length
                // bytes already exceed any UDP datagram.
                return false;
            }

            len = 0;
            for (var i = 0; i < n; i++)
            {
                len = (len << 8) | _data[p++];
            }
        }

        if (len > End - p)
        {
            return false;
        }

        tag = t;
        length = len;
        _pos = p;
        return true;
    }

    /// <summary>Enters a constructed element with the given tag; the returned reader covers its content only.</summary>
    public bool TryReadSequence(byte expectedTag, out BerReader content)
    {
        content = default;
        var save = _pos;
        if (!TryReadHeader(out var tag, out var length) || tag != expectedTag)
        {
            _pos = save;
            return false;
        }

        content = new BerReader(_data, _pos, _pos + length);
        _pos += length;
        return true;
    }

    /// <summary>Reads any element, returning its tag and the content's range in the underlying span.</summary>
    public bool TryReadElement(out byte tag, out Range content)
    {
        content = default;
        var save = _pos;
        if (!TryReadHeader(out tag, out var length))
        {
            _pos = save;
            return false;
        }

        content = new Range(_pos, _pos + length);
        _pos += length;
        return true;
    }

    /// <summary>Reads an INTEGER that fits in 32 bits (X.690 §8.3): request-id, error-status, version, ...</summary>
    public bool TryReadInt32(out int value)
    {
        value = 0;
        var save = _pos;
        if (!TryReadElement(out var tag, out var range) || tag != BerTag.Integer || !Ber.TryDecodeSigned(_data[range], out var v) || v < int.MinValue || v > int.MaxValue)
        {
            _pos = save;
            return false;
        }

        value = (int)v;
        return true;
    }

    public bool TryReadOctetString(out Range content)
    {
        var save = _pos;
        if (!TryReadElement(out var tag, out content) || tag != BerTag.OctetString)
        {
            _pos = save;
            return false;
        }

        return true;
    }
}

/// <summary>
/// A BER writer into a caller's buffer. Constructed elements reserve one length byte and move their content
/// when the long form is needed, so output is always in the minimal (DER-like) length form. Running out of
/// room sets <see cref="Overflow"/> and further writes are ignored.
/// </summary>
public ref struct BerWriter
{
    private readonly Span<byte> _buffer;
    private int _pos;

    public BerWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _pos = 0;
        Overflow = false;
    }

    public readonly int Length => _pos;

    public bool Overflow { get; private set; }

    public readonly ReadOnlySpan<byte> Written => _buffer[.._pos];

    public readonly Span<byte> Buffer => _buffer;

    /// <summary>Starts a constructed element; pass the returned mark to <see cref="End"/>.</summary>
    public int Begin(byte tag)
    {
        if (!Reserve(2))
        {
            return -1;
        }

        _buffer[_pos++] = tag;
        _buffer[_pos++] = 0;
        return _pos;
    }

    public void End(int mark)
    {
        if (Overflow || mark < 0)
        {
            return;
        }

        var length = _pos - mark;
        if (length < 0x80)
        {
            _buffer[mark - 1] = (byte)length;
            return;
        }

        var extra = length <= 0xFF ? 1 : length <= 0xFFFF ? 2 : 3;
        if (!Reserve(extra))
        {
            return;
        }

        _buffer.Slice(mark, length).CopyTo(_buffer[(mark + extra)..]);
        _buffer[mark - 1] = (byte)(0x80 | extra);
        for (var i = extra - 1; i >= 0; i--)
        {
            _buffer[mark + i] = (byte)length;
            length >>= 8;
        }

        _pos += extra;
    }

    public void WriteHeader(byte tag, int length)
    {
        var n = length < 0x80 ? 1 : length <= 0xFF ? 2 : length <= 0xFFFF ? 3 : 4;
        if (!Reserve(1 + n))
        {
            return;
        }

        _buffer[_pos++] = tag;
        if (n == 1)
        {
            _buffer[_pos++] = (byte)length;
            return;
        }

        _buffer[_pos++] = (byte)(0x80 | (n - 1));
        for (var i = n - 2; i >= 0; i--)
        {
            _buffer[_pos++] = (byte)(length >> (8 * i));
        }
    }

    /// <summary>INTEGER in minimal two's complement (X.690 §8.3.2).</summary>
    public void WriteInteger(long value, byte tag = BerTag.Integer)
    {
        Span<byte> tmp = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(tmp, value);
        var start = 0;
        while (start < 7 && ((tmp[start] == 0 && (tmp[start + 1] & 0x80) == 0) || (tmp[start] == 0xFF && (tmp[start + 1] & 0x80) != 0)))
        {
            start++;
        }

        WriteBytes(tag, tmp[start..]);
    }

    /// <summary>Unsigned application types (Counter32, Gauge32, TimeTicks, Counter64): a leading 00 when the top bit is set.</summary>
    public void WriteUnsigned(byte tag, ulong value)
    {
        Span<byte> tmp = stackalloc byte[9];
        tmp[0] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(tmp[1..], value);
        var start = 0;
        while (start < 8 && tmp[start] == 0 && (tmp[start + 1] & 0x80) == 0)
        {
            start++;
        }

        WriteBytes(tag, tmp[start..]);
    }

    public void WriteBytes(byte tag, scoped ReadOnlySpan<byte> content)
    {
        WriteHeader(tag, content.Length);
        WriteRaw(content);
    }

    public void WriteNull(byte tag = BerTag.Null)
    {
        if (Reserve(2))
        {
            _buffer[_pos++] = tag;
            _buffer[_pos++] = 0;
        }
    }

    public void WriteOid(scoped ReadOnlySpan<uint> oid)
    {
        Span<byte> tmp = stackalloc byte[Ber.MaxOidContent];
        var n = Ber.EncodeOid(oid, tmp);
        if (n < 0)
        {
            Overflow = true;
            return;
        }

        WriteBytes(BerTag.Oid, tmp[..n]);
    }

    public void WriteRaw(scoped ReadOnlySpan<byte> bytes)
    {
        if (Reserve(bytes.Length))
        {
            bytes.CopyTo(_buffer[_pos..]);
            _pos += bytes.Length;
        }
    }

    /// <summary>Forgets everything after <paramref name="length"/> bytes (to undo a varbind that did not fit).</summary>
    public void Truncate(int length)
    {
        _pos = Math.Min(_pos, length);
        Overflow = false;
    }

    private bool Reserve(int n)
    {
        if (Overflow)
        {
            return false;
        }

        if (_buffer.Length - _pos < n)
        {
            Overflow = true;
            return false;
        }

        return true;
    }
}

/// <summary>Primitive encodings shared by the reader and writer.</summary>
public static class Ber
{
    /// <summary>Sub-identifiers per OID (RFC 2578 §3.5 caps OIDs at 128 sub-identifiers).</summary>
    public const int MaxOidLength = 128;

    /// <summary>Bytes of the content of the longest OID we accept (128 sub-identifiers of up to 5 bytes).</summary>
    public const int MaxOidContent = MaxOidLength * 5;

    /// <summary>Decodes a two's complement INTEGER of at most 8 content bytes (X.690 §8.3).</summary>
    public static bool TryDecodeSigned(ReadOnlySpan<byte> content, out long value)
    {
        value = 0;
        if (content.Length is 0 or > 8)
        {
            return false;
        }

        long v = (sbyte)content[0];
        for (var i = 1; i < content.Length; i++)
        {
            v = (v << 8) | content[i];
        }

        value = v;
        return true;
    }

    /// <summary>Decodes an unsigned application value: up to 8 bytes, or 9 with a leading 00 (RFC 2578 §7.1.10).</summary>
    public static bool TryDecodeUnsigned(ReadOnlySpan<byte> content, int maxBits, out ulong value)
    {
        value = 0;
        if (content.Length == 0)
        {
            return false;
        }

        if (content[0] == 0 && content.Length > 1)
        {
            content = content[1..];
        }
        else if ((content[0] & 0x80) != 0)
        {
            // A negative number is not an unsigned value.
            return false;
        }

        if (content.Length > maxBits / 8)
        {
            return false;
        }

        ulong v = 0;
        foreach (var b in content)
        {
            v = (v << 8) | b;
        }

        value = v;
        return true;
    }

    /// <summary>
    /// Decodes OID content (X.690 §8.19) into sub-identifiers; each is an unsigned 32-bit value (RFC 2578 §3.5).
    /// Returns the count, or -1 for an invalid or too long OID.
    /// </summary>
    public static int DecodeOid(ReadOnlySpan<byte> content, Span<uint> destination)
    {
        if (content.Length == 0 || destination.Length < 2)
        {
            return -1;
        }

        var count = 0;
        ulong value = 0;
        var started = false;
        for (var i = 0; i < content.Length; i++)
        {
            var b = content[i];
            if (!started && b == 0x80)
            {
                // X.690 §8.19.2: sub-identifiers are encoded in the fewest octets; a leading 0x80 is invalid.
                return -1;
            }

            started = true;
            value = (value << 7) | (uint)(b & 0x7F);
            if (value > uint.MaxValue + 80UL)
            {
                return -1;
            }

            if ((b & 0x80) != 0)
            {
                continue;
            }

            if (count == 0)
            {
                // X.690 §8.19.4: the first sub-identifier is 40 * X + Y.
                var x = value < 40 ? 0u : value < 80 ? 1u : 2u;
                var y = value - (40 * x);
                if (y > uint.MaxValue)
                {
                    return -1;
                }

                destination[0] = x;
                destination[1] = (uint)y;
                count = 2;
            }
            else
            {
                if (count >= destination.Length || value > uint.MaxValue)
                {
                    return -1;
                }

                destination[count++] = (uint)value;
            }

            value = 0;
            started = false;
        }

        return started ? -1 : count;
    }

    /// <summary>Encodes sub-identifiers as OID content; returns the length or -1 if it does not fit or is invalid.</summary>
    public static int EncodeOid(ReadOnlySpan<uint> oid, Span<byte> destination)
    {
        if (oid.Length < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) || oid.Length > MaxOidLength)
        {
            return -1;
        }

        var pos = 0;
        var first = (40UL * oid[0]) + oid[1];
        if (!WriteSubId(first, destination, ref pos))
        {
            return -1;
        }

        for (var i = 2; i < oid.Length; i++)
        {
            if (!WriteSubId(oid[i], destination, ref pos))
            {
                return -1;
            }
        }

        return pos;
    }

    private static bool WriteSubId(ulong value, Span<byte> destination, ref int pos)
    {
        var n = 1;
        for (var v = value >> 7; v != 0; v >>= 7)
        {
            n++;
        }

        if (pos + n > destination.Length)
        {
            return false;
        }

        for (var i = n - 1; i >= 0; i--)
        {
            var b = (byte)((value >> (7 * i)) & 0x7F);
            destination[pos++] = i == 0 ? b : (byte)(b | 0x80);
        }

        return true;
    }

    /// <summary>Compares OIDs in the lexicographic order of RFC 3416 §4.2.2 (sub-identifier by sub-identifier; a prefix sorts first).</summary>
    public static int Compare(ReadOnlySpan<uint> a, ReadOnlySpan<uint> b)
    {
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                return a[i] < b[i] ? -1 : 1;
            }
        }

        return a.Length.CompareTo(b.Length);
    }

    /// <summary>Parses dotted text ("1.3.6.1.2.1.1.1.0", a leading dot allowed).</summary>
    public static uint[] ParseOid(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.TrimStart('.').Split('.');
        var oid = new uint[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            oid[i] = uint.Parse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
        }

        return oid;
    }

    public static string FormatOid(ReadOnlySpan<uint> oid)
    {
        var sb = new System.Text.StringBuilder(oid.Length * 3);
        for (var i = 0; i < oid.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('.');
            }

            sb.Append(oid[i]);
        }

        return sb.ToString();
    }
}

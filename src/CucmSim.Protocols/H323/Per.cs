using System.Buffers.Binary;
using System.Text;

namespace CucmSim.Protocols.H323;

/// <summary>Input that is not the ASN.1 value it claims to be, or exceeds a limit of this codec.</summary>
public sealed class PerException(string message) : Exception(message);

/// <summary>
/// A reader of ASN.1 aligned PER (ITU-T X.691, the BASIC-PER ALIGNED variant H.225.0 uses) over one contiguous
/// value. Every length is checked against what remains and against the codec's own limits; fragmented lengths
/// (16K and more) are refused. A malformed value throws <see cref="PerException"/>, which the message decoders
/// turn into InvalidData.
/// </summary>
public ref struct PerReader
{
    /// <summary>Most items accepted in any SEQUENCE OF (real messages carry a handful).</summary>
    public const int MaxItems = 64;

    private readonly ReadOnlySpan<byte> _data;
    private long _bit;

    public PerReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _bit = 0;
    }

    /// <summary>Octets consumed so far, the last partial octet included.</summary>
    public readonly int OctetsUsed => (int)((_bit + 7) / 8);

    public readonly bool AtEnd => _bit >= (long)_data.Length * 8;

    public bool ReadBit()
    {
        if (_bit >= (long)_data.Length * 8)
        {
            throw new PerException("truncated");
        }

        var value = (_data[(int)(_bit >> 3)] >> (7 - (int)(_bit & 7))) & 1;
        _bit++;
        return value != 0;
    }

    /// <summary>A bit-field of up to 32 bits, most significant first (X.691 §11.5.7.2, unaligned part).</summary>
    public uint ReadBits(int count)
    {
        uint value = 0;
        for (var i = 0; i < count; i++)
        {
            value = (value << 1) | (ReadBit() ? 1u : 0u);
        }

        return value;
    }

    public void Align() => _bit = (_bit + 7) & ~7L;

    public ReadOnlySpan<byte> ReadOctets(int count)
    {
        Align();
        var start = (int)(_bit >> 3);
        if (count < 0 || start + (long)count > _data.Length)
        {
            throw new PerException("truncated");
        }

        _bit += (long)count * 8;
        return _data.Slice(start, count);
    }

    /// <summary>A constrained whole number lb..ub (X.691 §11.5.7): a bit-field up to 255, one aligned octet at 256, two up to 64K, else length-prefixed octets.</summary>
    public long ReadConstrained(long lb, long ub)
    {
        var range = ub - lb + 1;
        long offset;
        if (range == 1)
        {
            return lb;
        }

        if (range <= 255)
        {
            offset = ReadBits(BitsFor(range));
        }
        else if (range == 256)
        {
            offset = ReadOctets(1)[0];
        }
        else if (range <= 65536)
        {
            offset = BinaryPrimitives.ReadUInt16BigEndian(ReadOctets(2));
        }
        else
        {
            // §11.5.7.4: the octet count as a constrained number 1..(octets of range), then the octets, aligned.
            var lengthBits = BitsFor(OctetsFor(range - 1));
            var octets = (int)ReadBits(lengthBits) + 1;
            offset = 0;
            foreach (var b in ReadOctets(octets))
            {
                offset = (offset << 8) | b;
            }
        }

        if (offset > ub - lb)
        {
            throw new PerException("constrained integer out of range");
        }

        return lb + offset;
    }

    /// <summary>A normally small non-negative whole number (§11.6): extension choice indexes and addition counts.</summary>
    public int ReadSmall()
    {
        if (!ReadBit())
        {
            return (int)ReadBits(6);
        }

        var n = ReadLength();
        if (n is < 1 or > 2)
        {
            throw new PerException("normally small number too large");
        }

        long value = 0;
        foreach (var b in ReadOctets(n))
        {
            value = (value << 8) | b;
        }

        return value > 1024 ? throw new PerException("normally small number too large") : (int)value;
    }

    /// <summary>An unconstrained length determinant (§11.9.3.6-8), aligned; fragments (16K or more) are refused.</summary>
    public int ReadLength()
    {
        Align();
        var first = ReadOctets(1)[0];
        if ((first & 0x80) == 0)
        {
            return first;
        }

        if ((first & 0xC0) == 0x80)
        {
            return ((first & 0x3F) << 8) | ReadOctets(1)[0];
        }

        throw new PerException("fragmented length");
    }

    /// <summary>A length with an upper bound below 64K (§11.9.3.3-5): a constrained number, then the caller reads the content.</summary>
    public int ReadConstrainedLength(int lb, int ub) => lb == ub ? lb : (int)ReadConstrained(lb, ub);

    /// <summary>The count of a SEQUENCE OF without a size constraint, within <see cref="MaxItems"/>.</summary>
    public int ReadCount()
    {
        var n = ReadLength();
        return n > MaxItems ? throw new PerException("too many items") : n;
    }

    public bool ReadBoolean() => ReadBit();

    /// <summary>An OBJECT IDENTIFIER (§24): a length octet, then the BER contents, as dotted text.</summary>
    public string ReadObjectIdentifier()
    {
        var n = ReadLength();
        if (n is < 1 or > 32)
        {
            throw new PerException("object identifier length");
        }

        return Oid.Decode(ReadOctets(n));
    }

    /// <summary>An OCTET STRING without a size constraint (length determinant, then the octets).</summary>
    public byte[] ReadOctetString(int max)
    {
        var n = ReadLength();
        return n > max ? throw new PerException("octet string too long") : ReadOctets(n).ToArray();
    }

    /// <summary>A BMPString with SIZE(lb..ub): the length, then 16-bit characters, aligned (X.691 §27.5.7).</summary>
    public string ReadBmpString(int lb, int ub)
    {
        var n = ReadConstrainedLength(lb, ub);
        var raw = ReadOctets(n * 2);
        return Encoding.BigEndianUnicode.GetString(raw);
    }

    /// <summary>
    /// An IA5String with SIZE(lb..ub) and a permitted alphabet (sorted): each character its index in that alphabet
    /// in <paramref name="bitsPerChar"/> bits (X.691 §27.5.4: the values do not fit those bits, so they are indexes).
    /// </summary>
    public string ReadRestrictedString(int lb, int ub, string alphabet, int bitsPerChar)
    {
        var n = ReadConstrainedLength(lb, ub);
        if (ub * bitsPerChar > 16)
        {
            Align();
        }

        var chars = new char[n];
        for (var i = 0; i < n; i++)
        {
            var index = (int)ReadBits(bitsPerChar);
            chars[i] = index < alphabet.Length ? alphabet[index] : throw new PerException("character outside the permitted alphabet");
        }

        return new string(chars);
    }

    /// <summary>An IA5String with SIZE(lb..ub) and no permitted alphabet: 8 bits a character in the aligned variant.</summary>
    public string ReadIa5String(int lb, int ub)
    {
        var n = ReadConstrainedLength(lb, ub);
        var raw = ReadOctets(n);
        foreach (var b in raw)
        {
            if (b > 0x7F)
            {
                throw new PerException("not IA5");
            }
        }

        return Encoding.ASCII.GetString(raw);
    }

    /// <summary>An open type (§11.2): a length, then a value of its own; the content for a nested reader.</summary>
    public ReadOnlySpan<byte> ReadOpenType() => ReadOctets(ReadLength());

    /// <summary>
    /// The extension additions of a SEQUENCE whose extension bit was set (§19.7-8): the presence bitmap, then one
    /// open type per present addition. Keeps where the first additions' contents are (for the caller to decode
    /// those it knows); the rest, known or not, are skipped.
    /// </summary>
    public ExtensionAdditions ReadExtensions()
    {
        var count = ReadSmall() + 1;
        if (count > 64)
        {
            throw new PerException("too many extension additions");
        }

        ulong present = 0;
        for (var i = 0; i < count; i++)
        {
            if (ReadBit())
            {
                present |= 1UL << i;
            }
        }

        var additions = new ExtensionAdditions(count, present);
        for (var i = 0; i < count; i++)
        {
            if ((present & (1UL << i)) != 0)
            {
                var n = ReadLength();
                var start = (int)(_bit >> 3);
                ReadOctets(n);
                if (i < ExtensionAdditions.Kept)
                {
                    additions.Keep(i, start, n);
                }
            }
        }

        return additions;
    }

    /// <summary>Skips the extension additions when <paramref name="extended"/> (the SEQUENCE's extension bit) is set.</summary>
    public void SkipExtensions(bool extended)
    {
        if (extended)
        {
            ReadExtensions();
        }
    }

    /// <summary>The number of bits a constrained whole number of <paramref name="range"/> values takes (range 2..255).</summary>
    public static int BitsFor(long range)
    {
        var bits = 0;
        while ((1L << bits) < range)
        {
            bits++;
        }

        return bits;
    }

    private static int OctetsFor(long value)
    {
        var n = 1;
        while (value > 0xFF)
        {
            value >>= 8;
            n++;
        }

        return n;
    }
}

/// <summary>Where in the input the contents of a SEQUENCE's first extension additions are (offsets into the outer value).</summary>
public readonly struct ExtensionAdditions
{
    /// <summary>Additions whose contents are kept for decoding (the later ones are only skipped).</summary>
    public const int Kept = 24;

    private readonly (int Start, int Length)[] _spans;

    public ExtensionAdditions(int count, ulong present)
    {
        Count = count;
        Present = present;
        _spans = new (int, int)[Kept];
    }

    public int Count { get; }

    public ulong Present { get; }

    public bool Has(int index) => (Present & (1UL << index)) != 0;

    internal void Keep(int index, int start, int length) => _spans[index] = (start, length);

    /// <summary>The content of addition <paramref name="index"/> within <paramref name="outer"/>, the span the reader was made over.</summary>
    public ReadOnlySpan<byte> Content(ReadOnlySpan<byte> outer, int index) =>
        index < Kept && Has(index) ? outer.Slice(_spans[index].Start, _spans[index].Length) : default;
}

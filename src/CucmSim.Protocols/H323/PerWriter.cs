using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.H323;

/// <summary>
/// A writer of aligned PER (X.691) for the values this codec sends. Bits are appended most significant first;
/// <see cref="Align"/> pads with zero bits. The output is bounded by <see cref="MaxOctets"/>.
/// </summary>
public sealed class PerWriter
{
    public const int MaxOctets = 8192;

    private byte[] _buffer = new byte[256];
    private long _bit;

    public int Length => (int)((_bit + 7) / 8);

    public void WriteBit(bool value)
    {
        var index = (int)(_bit >> 3);
        if (index >= _buffer.Length)
        {
            if (_buffer.Length >= MaxOctets)
            {
                throw new InvalidOperationException("PER value larger than " + MaxOctets.ToString(CultureInfo.InvariantCulture) + " octets");
            }

            Array.Resize(ref _buffer, Math.Min(MaxOctets, _buffer.Length * 2));
        }

        if (value)
        {
            _buffer[index] |= (byte)(0x80 >> (int)(_bit & 7));
        }

        _bit++;
    }

    public void WriteBits(uint value, int count)
    {
        for (var i = count - 1; i >= 0; i--)
        {
            WriteBit(((value >> i) & 1) != 0);
        }
    }

    public void Align()
    {
        while ((_bit & 7) != 0)
        {
            WriteBit(false);
        }
    }

    public void WriteOctets(ReadOnlySpan<byte> octets)
    {
        Align();
        foreach (var b in octets)
        {
            WriteBits(b, 8);
        }
    }

    public void WriteConstrained(long value, long lb, long ub)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, lb);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, ub);
        var range = ub - lb + 1;
        var offset = value - lb;
        if (range == 1)
        {
            return;
        }

        if (range <= 255)
        {
            WriteBits((uint)offset, PerReader.BitsFor(range));
        }
        else if (range == 256)
        {
            WriteOctets([(byte)offset]);
        }
        else if (range <= 65536)
        {
            WriteOctets([(byte)(offset >> 8), (byte)offset]);
        }
        else
        {
            var octets = 1;
            while (octets < 8 && (offset >> (octets * 8)) != 0)
            {
                octets++;
            }

            var maxOctets = 1;
            while (((range - 1) >> (maxOctets * 8)) != 0)
            {
                maxOctets++;
            }

            WriteBits((uint)(octets - 1), PerReader.BitsFor(maxOctets));
            Align();
            for (var i = octets - 1; i >= 0; i--)
            {
                WriteBits((uint)((offset >> (i * 8)) & 0xFF), 8);
            }
        }
    }

    /// <summary>A normally small non-negative whole number below 64 (§11.6.1).</summary>
    public void WriteSmall(int value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 63);
        WriteBit(false);
        WriteBits((uint)value, 6);
    }

    /// <summary>An unconstrained length determinant below 16K, aligned.</summary>
    public void WriteLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 16383);
        Align();
        if (length < 128)
        {
            WriteBits((uint)length, 8);
        }
        else
        {
            WriteBits(0x8000u | (uint)length, 16);
        }
    }

    public void WriteObjectIdentifier(string dotted)
    {
        var contents = Oid.Encode(dotted);
        WriteLength(contents.Length);
        WriteOctets(contents);
    }

    public void WriteOctetString(ReadOnlySpan<byte> value)
    {
        WriteLength(value.Length);
        WriteOctets(value);
    }

    public void WriteBmpString(string value, int lb, int ub)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (lb != ub)
        {
            WriteConstrained(value.Length, lb, ub);
        }

        WriteOctets(Encoding.BigEndianUnicode.GetBytes(value));
    }

    /// <summary>The writing side of <see cref="PerReader.ReadRestrictedString"/>.</summary>
    public void WriteRestrictedString(string value, int lb, int ub, string alphabet, int bitsPerChar)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(alphabet);
        WriteConstrained(value.Length, lb, ub);
        if (ub * bitsPerChar > 16)
        {
            Align();
        }

        foreach (var c in value)
        {
            var index = alphabet.IndexOf(c, StringComparison.Ordinal);
            ArgumentOutOfRangeException.ThrowIfNegative(index, nameof(value));
            WriteBits((uint)index, bitsPerChar);
        }
    }

    /// <summary>Writes a value into an open type: its own encoding (at least one octet, §10.1.3), length first.</summary>
    public void WriteOpenType(Action<PerWriter> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var inner = new PerWriter();
        value(inner);
        var bytes = inner.ToArray();
        WriteOctetString(bytes.Length == 0 ? [0] : bytes);
    }

    /// <summary>
    /// The extension additions of a SEQUENCE (its extension bit was written as 1): the bitmap of <paramref name="count"/>
    /// additions, then each present one as an open type.
    /// </summary>
    public void WriteExtensions(int count, IReadOnlyDictionary<int, Action<PerWriter>> present)
    {
        ArgumentNullException.ThrowIfNull(present);
        WriteSmall(count - 1);
        for (var i = 0; i < count; i++)
        {
            WriteBit(present.ContainsKey(i));
        }

        for (var i = 0; i < count; i++)
        {
            if (present.TryGetValue(i, out var value))
            {
                WriteOpenType(value);
            }
        }
    }

    public byte[] ToArray() => _buffer.AsSpan(0, Length).ToArray();
}

/// <summary>OBJECT IDENTIFIER contents (X.690 §8.19) to and from dotted text.</summary>
public static class Oid
{
    public static string Decode(ReadOnlySpan<byte> contents)
    {
        var arcs = new List<ulong>();
        ulong value = 0;
        var length = 0;
        foreach (var b in contents)
        {
            if (length == 0 && b == 0x80)
            {
                throw new PerException("object identifier arc not minimal");
            }

            if (++length > 9)
            {
                throw new PerException("object identifier arc too large");
            }

            value = (value << 7) | (uint)(b & 0x7F);
            if ((b & 0x80) == 0)
            {
                arcs.Add(value);
                value = 0;
                length = 0;
            }
        }

        if (length != 0 || arcs.Count == 0)
        {
            throw new PerException("object identifier truncated");
        }

        var first = arcs[0];
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Math.Min(first / 40, 2)}.{first - (Math.Min(first / 40, 2) * 40)}");
        foreach (var arc in arcs.Skip(1))
        {
            text.Append(CultureInfo.InvariantCulture, $".{arc}");
        }

        return text.ToString();
    }

    public static byte[] Encode(string dotted)
    {
        ArgumentNullException.ThrowIfNull(dotted);
        var arcs = dotted.Split('.').Select(a => ulong.Parse(a, CultureInfo.InvariantCulture)).ToArray();
        var output = new List<byte>();
        var values = new List<ulong> { (arcs[0] * 40) + arcs[1] };
        values.AddRange(arcs.Skip(2));
        foreach (var v in values)
        {
            var chunk = new Stack<byte>();
            var x = v;
            chunk.Push((byte)(x & 0x7F));
            while ((x >>= 7) != 0)
            {
                chunk.Push((byte)(0x80 | (x & 0x7F)));
            }

            output.AddRange(chunk);
        }

        return [.. output];
    }
}

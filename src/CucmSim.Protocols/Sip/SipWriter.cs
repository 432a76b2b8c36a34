using System.Buffers.Text;
using System.Text;

namespace CucmSim.Protocols.Sip;

/// <summary>Writes ASCII text into a caller's buffer without allocating. <see cref="Overflow"/> is set instead of throwing.</summary>
public ref struct SipWriter
{
    private readonly Span<byte> _buffer;

    public SipWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        Length = 0;
        Overflow = false;
    }

    public int Length { get; private set; }
    public bool Overflow { get; private set; }
    public readonly ReadOnlySpan<byte> Written => _buffer[..Length];

    public void Write(scoped ReadOnlySpan<byte> bytes)
    {
        if (Overflow || !bytes.TryCopyTo(_buffer[Length..]))
        {
            Overflow = true;
            return;
        }

        Length += bytes.Length;
    }

    public void Write(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        if (Overflow || !Encoding.UTF8.TryGetBytes(text, _buffer[Length..], out var n))
        {
            Overflow = true;
            return;
        }

        Length += n;
    }

    public void Write(long value)
    {
        if (Overflow || !Utf8Formatter.TryFormat(value, _buffer[Length..], out var n))
        {
            Overflow = true;
            return;
        }

        Length += n;
    }

    public void Write(byte c)
    {
        if (Overflow || Length >= _buffer.Length)
        {
            Overflow = true;
            return;
        }

        _buffer[Length++] = c;
    }

    public void Crlf() => Write("\r\n"u8);

    /// <summary>name: value CRLF</summary>
    public void Header(scoped ReadOnlySpan<byte> name, scoped ReadOnlySpan<byte> value)
    {
        Write(name);
        Write(": "u8);
        Write(value);
        Crlf();
    }

    /// <summary>Base64 of <paramref name="bytes"/> (RFC 4648 §4), written in place.</summary>
    public void Base64(scoped ReadOnlySpan<byte> bytes)
    {
        var needed = ((bytes.Length + 2) / 3) * 4;
        if (Overflow || _buffer.Length - Length < needed)
        {
            Overflow = true;
            return;
        }

        System.Buffers.Text.Base64.EncodeToUtf8(bytes, _buffer[Length..], out _, out var written);
        Length += written;
    }

    /// <summary>Lower-case hex of <paramref name="bytes"/>.</summary>
    public void Hex(scoped ReadOnlySpan<byte> bytes)
    {
        if (Overflow || _buffer.Length - Length < bytes.Length * 2)
        {
            Overflow = true;
            return;
        }

        foreach (var b in bytes)
        {
            _buffer[Length++] = (byte)"0123456789abcdef"[b >> 4];
            _buffer[Length++] = (byte)"0123456789abcdef"[b & 15];
        }
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CucmSim.Protocols.Ssh;

/// <summary>Message numbers of the SSH transport layer (RFC 4253 §12, RFC 5656 §7.1).</summary>
public enum SshMessage : byte
{
    Disconnect = 1,
    Ignore = 2,
    Unimplemented = 3,
    Debug = 4,
    ServiceRequest = 5,
    KexInit = 20,
    NewKeys = 21,
    KexEcdhInit = 30,
    KexEcdhReply = 31,
}

/// <summary>Reason codes of SSH_MSG_DISCONNECT (RFC 4253 §11.1).</summary>
public enum SshDisconnectReason : uint
{
    ProtocolError = 2,
    KeyExchangeFailed = 3,
    MacError = 5,
    ServiceNotAvailable = 7,
    ProtocolVersionNotSupported = 8,
    HostKeyNotVerifiable = 9,
    ConnectionLost = 10,
    ByApplication = 11,
    NoMoreAuthMethodsAvailable = 14,
}

/// <summary>
/// Reads the data types of RFC 4251 §5 from a message payload: byte, boolean, uint32, string, name-list. Every
/// read is bounded by the caller's limit and fails (false) rather than throw on short or oversized input.
/// </summary>
public ref struct SshSpanReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly int Remaining => _rest.Length;

    public bool TryReadByte(out byte value)
    {
        value = 0;
        if (_rest.IsEmpty)
        {
            return false;
        }

        value = _rest[0];
        _rest = _rest[1..];
        return true;
    }

    public bool TryReadBoolean(out bool value)
    {
        var ok = TryReadByte(out var b);
        value = b != 0;
        return ok;
    }

    public bool TryReadUInt32(out uint value)
    {
        value = 0;
        if (_rest.Length < 4)
        {
            return false;
        }

        value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return true;
    }

    public bool TryReadBytes(int count, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (count < 0 || _rest.Length < count)
        {
            return false;
        }

        value = _rest[..count];
        _rest = _rest[count..];
        return true;
    }

    /// <summary>A string (uint32 length, then the bytes) no longer than <paramref name="maxLength"/>.</summary>
    public bool TryReadString(int maxLength, out ReadOnlySpan<byte> value)
    {
        value = default;
        var copy = this;
        if (!copy.TryReadUInt32(out var length) || length > (uint)maxLength || !copy.TryReadBytes((int)length, out value))
        {
            return false;
        }

        this = copy;
        return true;
    }

    /// <summary>
    /// A name-list: comma-separated names of printable US-ASCII, none empty, none longer than 64 characters
    /// (RFC 4251 §6), at most <paramref name="maxNames"/> of them in at most <paramref name="maxLength"/> bytes.
    /// </summary>
    public bool TryReadNameList(int maxLength, int maxNames, out string[] names)
    {
        names = [];
        if (!TryReadString(maxLength, out var text))
        {
            return false;
        }

        if (text.IsEmpty)
        {
            return true;
        }

        var list = new List<string>();
        foreach (var range in text.Split((byte)','))
        {
            var name = text[range];
            if (name.IsEmpty || name.Length > SshWire.MaxNameLength || list.Count == maxNames || !SshWire.IsPrintableName(name))
            {
                return false;
            }

            list.Add(Encoding.ASCII.GetString(name));
        }

        names = [.. list];
        return true;
    }
}

/// <summary>Writes the data types of RFC 4251 §5 into a buffer.</summary>
public static class SshWire
{
    /// <summary>Algorithm names are at most 64 characters (RFC 4251 §6).</summary>
    public const int MaxNameLength = 64;

    public static bool IsPrintableName(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b is <= 0x20 or >= 0x7F or (byte)',')
            {
                return false;
            }
        }

        return true;
    }

    public static void WriteByte(IBufferWriter<byte> output, byte value)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    public static void WriteBoolean(IBufferWriter<byte> output, bool value) => WriteByte(output, value ? (byte)1 : (byte)0);

    public static void WriteUInt32(IBufferWriter<byte> output, uint value)
    {
        ArgumentNullException.ThrowIfNull(output);
        BinaryPrimitives.WriteUInt32BigEndian(output.GetSpan(4), value);
        output.Advance(4);
    }

    public static void WriteRaw(IBufferWriter<byte> output, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(output);
        data.CopyTo(output.GetSpan(data.Length));
        output.Advance(data.Length);
    }

    public static void WriteString(IBufferWriter<byte> output, ReadOnlySpan<byte> data)
    {
        WriteUInt32(output, (uint)data.Length);
        WriteRaw(output, data);
    }

    public static void WriteString(IBufferWriter<byte> output, string text) => WriteString(output, Encoding.UTF8.GetBytes(text));

    public static void WriteNameList(IBufferWriter<byte> output, IReadOnlyList<string> names) => WriteString(output, string.Join(',', names));

    /// <summary>An mpint (RFC 4251 §5) of a non-negative big-endian magnitude: no leading zeros, a zero byte before a set high bit.</summary>
    public static void WriteMpint(IBufferWriter<byte> output, ReadOnlySpan<byte> magnitude)
    {
        var start = 0;
        while (start < magnitude.Length && magnitude[start] == 0)
        {
            start++;
        }

        var digits = magnitude[start..];
        var pad = !digits.IsEmpty && digits[0] >= 0x80;
        WriteUInt32(output, (uint)(digits.Length + (pad ? 1 : 0)));
        if (pad)
        {
            WriteByte(output, 0);
        }

        WriteRaw(output, digits);
    }
}

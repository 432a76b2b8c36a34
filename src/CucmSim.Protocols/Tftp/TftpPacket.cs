using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.Tftp;

/// <summary>TFTP opcodes (RFC 1350 §5, RFC 2347 §2 for OACK).</summary>
public enum TftpOpcode : ushort
{
    ReadRequest = 1,
    WriteRequest = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    OptionAck = 6,
}

/// <summary>TFTP error codes (RFC 1350 appendix, RFC 2347 §2 for 8).</summary>
public enum TftpErrorCode : ushort
{
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionNegotiationFailed = 8,
}

/// <summary>Transfer modes (RFC 1350 §5). "mail" is obsolete and parsed only to be refused.</summary>
public enum TftpMode
{
    Octet,
    NetAscii,
    Mail,
}

/// <summary>
/// The options of RFC 2348 (blksize), RFC 2349 (timeout, tsize) and RFC 7440 (windowsize) as a request or
/// an OACK carries them. Null means "not present". Unknown options are counted, not kept.
/// </summary>
public readonly record struct TftpOptionSet(int? BlockSize, long? TransferSize, int? Timeout, int? WindowSize)
{
    public bool Any => BlockSize is not null || TransferSize is not null || Timeout is not null || WindowSize is not null;

    /// <summary>"blksize=1428 tsize=0" (for the ledger and logs); empty without options.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Append(sb, "blksize", BlockSize);
        Append(sb, "tsize", TransferSize);
        Append(sb, "timeout", Timeout);
        Append(sb, "windowsize", WindowSize);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, string name, long? value)
    {
        if (value is { } v)
        {
            sb.Append(sb.Length == 0 ? string.Empty : " ").Append(name).Append('=').Append(v.ToString(CultureInfo.InvariantCulture));
        }
    }
}

/// <summary>A parsed RRQ or WRQ.</summary>
public sealed record TftpRequest(TftpOpcode Opcode, string FileName, TftpMode Mode, TftpOptionSet Options, int UnknownOptions);

/// <summary>
/// TFTP packet codec (RFC 1350 §5; RFC 2347-2349; RFC 7440). Datagram based: every parser takes one whole
/// datagram and answers Done or InvalidData (a truncated datagram is invalid, there is no "more data").
/// Writers return the length written, or -1 when the destination is too small.
/// </summary>
public static class TftpPacket
{
    /// <summary>RFC 2347 §2: a request with options must not exceed 512 octets; we hold every request to it.</summary>
    public const int MaxRequestLength = 512;

    /// <summary>Longest file name accepted (the request limit leaves room for the mode and options).</summary>
    public const int MaxFileNameLength = 255;

    /// <summary>Longest option name or value; the longest known name is "windowsize" and values are decimal.</summary>
    public const int MaxOptionLength = 32;

    /// <summary>Options per request before the request is rejected as absurd.</summary>
    public const int MaxOptions = 16;

    /// <summary>Longest error message read or written.</summary>
    public const int MaxErrorMessageLength = 255;

    /// <summary>RFC 1350 §2 default block size.</summary>
    public const int DefaultBlockSize = 512;

    /// <summary>RFC 2348 §2: blksize between 8 and 65464 octets.</summary>
    public const int MinBlockSize = 8;

    public const int MaxBlockSize = 65464;

    /// <summary>RFC 2349 §2: timeout between 1 and 255 seconds.</summary>
    public const int MinTimeout = 1;

    public const int MaxTimeout = 255;

    /// <summary>RFC 7440 §2: windowsize between 1 and 65535 blocks.</summary>
    public const int MinWindowSize = 1;

    public const int MaxWindowSize = 65535;

    public const int HeaderLength = 4;

    public static bool TryReadOpcode(ReadOnlySpan<byte> datagram, out TftpOpcode opcode)
    {
        opcode = default;
        if (datagram.Length < 2)
        {
            return false;
        }

        var value = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        if (value is < 1 or > 6)
        {
            return false;
        }

        opcode = (TftpOpcode)value;
        return true;
    }

    /// <summary>
    /// Parses an RRQ or WRQ: opcode, file name NUL, mode NUL, then option name NUL value NUL pairs
    /// (RFC 1350 §5, RFC 2347 §2). Rejects unterminated strings, empty or oversized names, unknown modes,
    /// malformed or out-of-range known options, duplicates and more than <see cref="MaxOptions"/> options.
    /// Unknown options are ignored as RFC 2347 §2 asks of servers (and counted).
    /// </summary>
    public static OperationStatus TryParseRequest(ReadOnlySpan<byte> datagram, out TftpRequest? request, out string? error)
    {
        request = null;
        if (datagram.Length > MaxRequestLength)
        {
            error = "request longer than 512 octets";
            return OperationStatus.InvalidData;
        }

        if (!TryReadOpcode(datagram, out var opcode) || opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            error = "not a read or write request";
            return OperationStatus.InvalidData;
        }

        var rest = datagram[2..];
        if (!TryTakeString(ref rest, MaxFileNameLength, out var name))
        {
            error = "file name unterminated or too long";
            return OperationStatus.InvalidData;
        }

        if (name.IsEmpty)
        {
            error = "empty file name";
            return OperationStatus.InvalidData;
        }

        foreach (var b in name)
        {
            // File names are netascii (RFC 1350 §5): printable US-ASCII.
            if (b is < 0x20 or > 0x7E)
            {
                error = "file name has a control or non-ASCII byte";
                return OperationStatus.InvalidData;
            }
        }

        if (!TryTakeString(ref rest, MaxOptionLength, out var modeBytes))
        {
            error = "mode unterminated or too long";
            return OperationStatus.InvalidData;
        }

        TftpMode mode;
        if (Ascii.EqualsIgnoreCase(modeBytes, "octet"u8))
        {
            mode = TftpMode.Octet;
        }
        else if (Ascii.EqualsIgnoreCase(modeBytes, "netascii"u8))
        {
            mode = TftpMode.NetAscii;
        }
        else if (Ascii.EqualsIgnoreCase(modeBytes, "mail"u8))
        {
            mode = TftpMode.Mail;
        }
        else
        {
            error = "unknown transfer mode";
            return OperationStatus.InvalidData;
        }

        var status = TryParseOptions(rest, isOack: false, out var options, out var unknown, out error);
        if (status != OperationStatus.Done)
        {
            return status;
        }

        request = new TftpRequest(opcode, Encoding.ASCII.GetString(name), mode, options, unknown);
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>Parses an OACK (RFC 2347 §2): option name NUL value NUL pairs after the opcode.</summary>
    public static OperationStatus TryParseOptionAck(ReadOnlySpan<byte> datagram, out TftpOptionSet options, out string? error)
    {
        options = default;
        if (datagram.Length > MaxRequestLength || !TryReadOpcode(datagram, out var opcode) || opcode != TftpOpcode.OptionAck)
        {
            error = "not an option acknowledgement";
            return OperationStatus.InvalidData;
        }

        return TryParseOptions(datagram[2..], isOack: true, out options, out _, out error);
    }

    private static OperationStatus TryParseOptions(ReadOnlySpan<byte> rest, bool isOack, out TftpOptionSet options, out int unknown, out string? error)
    {
        options = default;
        unknown = 0;
        int? blksize = null, timeout = null, windowsize = null;
        long? tsize = null;
        var count = 0;
        while (!rest.IsEmpty)
        {
            if (++count > MaxOptions)
            {
                error = "too many options";
                return OperationStatus.InvalidData;
            }

            if (!TryTakeString(ref rest, MaxOptionLength, out var optName) || optName.IsEmpty)
            {
                error = "option name empty, unterminated or too long";
                return OperationStatus.InvalidData;
            }

            if (!TryTakeString(ref rest, MaxOptionLength, out var value))
            {
                error = "option value unterminated or too long";
                return OperationStatus.InvalidData;
            }

            if (Ascii.EqualsIgnoreCase(optName, "blksize"u8))
            {
                // RFC 2348 §2.
                if (blksize is not null || !TryParseDecimal(value, MaxBlockSize, out var v) || v < MinBlockSize)
                {
                    error = "blksize must be 8-65464, once";
                    return OperationStatus.InvalidData;
                }

                blksize = (int)v;
            }
            else if (Ascii.EqualsIgnoreCase(optName, "tsize"u8))
            {
                // RFC 2349 §2 (sizes past 2^53 are absurd for a TFTP transfer).
                if (tsize is not null || !TryParseDecimal(value, 1L << 53, out var v))
                {
                    error = "tsize must be a decimal size, once";
                    return OperationStatus.InvalidData;
                }

                tsize = v;
            }
            else if (Ascii.EqualsIgnoreCase(optName, "timeout"u8))
            {
                // RFC 2349 §2.
                if (timeout is not null || !TryParseDecimal(value, MaxTimeout, out var v) || v < MinTimeout)
                {
                    error = "timeout must be 1-255 seconds, once";
                    return OperationStatus.InvalidData;
                }

                timeout = (int)v;
            }
            else if (Ascii.EqualsIgnoreCase(optName, "windowsize"u8))
            {
                // RFC 7440 §2.
                if (windowsize is not null || !TryParseDecimal(value, MaxWindowSize, out var v) || v < MinWindowSize)
                {
                    error = "windowsize must be 1-65535, once";
                    return OperationStatus.InvalidData;
                }

                windowsize = (int)v;
            }
            else if (isOack)
            {
                // RFC 2347 §2: an OACK holds only options the client asked for; we ask only for known ones.
                error = "OACK names an option that was not requested";
                return OperationStatus.InvalidData;
            }
            else
            {
                unknown++;
            }
        }

        options = new TftpOptionSet(blksize, tsize, timeout, windowsize);
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>Takes bytes up to the next NUL (consumed); false when none within <paramref name="max"/> bytes.</summary>
    private static bool TryTakeString(ref ReadOnlySpan<byte> rest, int max, out ReadOnlySpan<byte> value)
    {
        var nul = rest.IndexOf((byte)0);
        if (nul < 0 || nul > max)
        {
            value = default;
            return false;
        }

        value = rest[..nul];
        rest = rest[(nul + 1)..];
        return true;
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> text, long max, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 19)
        {
            return false;
        }

        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (b - '0');
            if (value > max)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>DATA (RFC 1350 §5): block number and 0 to blksize bytes.</summary>
    public static bool TryParseData(ReadOnlySpan<byte> datagram, out ushort block, out ReadOnlySpan<byte> data)
    {
        block = 0;
        data = default;
        if (datagram.Length < HeaderLength || datagram.Length > HeaderLength + MaxBlockSize || BinaryPrimitives.ReadUInt16BigEndian(datagram) != (ushort)TftpOpcode.Data)
        {
            return false;
        }

        block = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        data = datagram[HeaderLength..];
        return true;
    }

    /// <summary>ACK (RFC 1350 §5): exactly four octets.</summary>
    public static bool TryParseAck(ReadOnlySpan<byte> datagram, out ushort block)
    {
        block = 0;
        if (datagram.Length != HeaderLength || BinaryPrimitives.ReadUInt16BigEndian(datagram) != (ushort)TftpOpcode.Ack)
        {
            return false;
        }

        block = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        return true;
    }

    /// <summary>ERROR (RFC 1350 §5): code and a NUL-terminated message (a missing NUL is tolerated on read).</summary>
    public static bool TryParseError(ReadOnlySpan<byte> datagram, out TftpErrorCode code, out string message)
    {
        code = default;
        message = string.Empty;
        if (datagram.Length < HeaderLength || datagram.Length > HeaderLength + MaxErrorMessageLength + 1 || BinaryPrimitives.ReadUInt16BigEndian(datagram) != (ushort)TftpOpcode.Error)
        {
            return false;
        }

        code = (TftpErrorCode)BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        var text = datagram[HeaderLength..];
        var nul = text.IndexOf((byte)0);
        message = Encoding.ASCII.GetString(nul < 0 ? text : text[..nul]);
        return true;
    }

    public static int WriteRequest(Span<byte> destination, TftpOpcode opcode, string fileName, TftpMode mode, TftpOptionSet options)
    {
        if (opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            throw new ArgumentOutOfRangeException(nameof(opcode));
        }

        var w = new Writer(destination);
        w.UInt16((ushort)opcode);
        w.String(fileName);
        w.String(mode switch { TftpMode.NetAscii => "netascii", TftpMode.Mail => "mail", _ => "octet" });
        WriteOptions(ref w, options);
        return w.Result;
    }

    /// <summary>The 4-octet DATA header; the caller puts the block's bytes after it.</summary>
    public static int WriteDataHeader(Span<byte> destination, ushort block)
    {
        if (destination.Length < HeaderLength)
        {
            return -1;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Data);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
        return HeaderLength;
    }

    public static int WriteData(Span<byte> destination, ushort block, ReadOnlySpan<byte> data)
    {
        if (destination.Length < HeaderLength + data.Length)
        {
            return -1;
        }

        WriteDataHeader(destination, block);
        data.CopyTo(destination[HeaderLength..]);
        return HeaderLength + data.Length;
    }

    public static int WriteAck(Span<byte> destination, ushort block)
    {
        if (destination.Length < HeaderLength)
        {
            return -1;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Ack);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
        return HeaderLength;
    }

    /// <summary>ERROR with a message cut to <see cref="MaxErrorMessageLength"/> ASCII characters.</summary>
    public static int WriteError(Span<byte> destination, TftpErrorCode code, string message)
    {
        var w = new Writer(destination);
        w.UInt16((ushort)TftpOpcode.Error);
        w.UInt16((ushort)code);
        w.String(message.Length > MaxErrorMessageLength ? message[..MaxErrorMessageLength] : message);
        return w.Result;
    }

    /// <summary>OACK (RFC 2347 §2) with the accepted options in the order blksize, tsize, timeout, windowsize.</summary>
    public static int WriteOptionAck(Span<byte> destination, TftpOptionSet options)
    {
        var w = new Writer(destination);
        w.UInt16((ushort)TftpOpcode.OptionAck);
        WriteOptions(ref w, options);
        return w.Result;
    }

    private static void WriteOptions(ref Writer w, TftpOptionSet options)
    {
        if (options.BlockSize is { } b)
        {
            w.Option("blksize", b);
        }

        if (options.TransferSize is { } t)
        {
            w.Option("tsize", t);
        }

        if (options.Timeout is { } to)
        {
            w.Option("timeout", to);
        }

        if (options.WindowSize is { } ws)
        {
            w.Option("windowsize", ws);
        }
    }

    private ref struct Writer(Span<byte> destination)
    {
        private readonly Span<byte> _destination = destination;
        private int _position;
        private bool _overflow;

        public readonly int Result => _overflow ? -1 : _position;

        public void UInt16(ushort value)
        {
            if (_overflow || _position + 2 > _destination.Length)
            {
                _overflow = true;
                return;
            }

            BinaryPrimitives.WriteUInt16BigEndian(_destination[_position..], value);
            _position += 2;
        }

        public void String(string value)
        {
            if (_overflow || _position + value.Length + 1 > _destination.Length)
            {
                _overflow = true;
                return;
            }

            foreach (var c in value)
            {
                _destination[_position++] = c is >= ' ' and <= '~' ? (byte)c : (byte)'?';
            }

            _destination[_position++] = 0;
        }

        public void Option(string name, long value)
        {
            String(name);
            String(value.ToString(CultureInfo.InvariantCulture));
        }
    }
}

/// <summary>
/// Netascii (RFC 1350 §5 and RFC 764): end of line as CR LF, a bare CR as CR NUL.
/// </summary>
public static class NetAscii
{
    /// <summary>Length of <paramref name="data"/> once encoded.</summary>
    public static long EncodedLength(ReadOnlySpan<byte> data)
    {
        long extra = data.Count((byte)'\n') + data.Count((byte)'\r');
        return data.Length + extra;
    }

    /// <summary>Encodes LF as CR LF and CR as CR NUL.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> data)
    {
        var result = new byte[EncodedLength(data)];
        var j = 0;
        foreach (var b in data)
        {
            if (b == (byte)'\n')
            {
                result[j++] = (byte)'\r';
                result[j++] = (byte)'\n';
            }
            else if (b == (byte)'\r')
            {
                result[j++] = (byte)'\r';
                result[j++] = 0;
            }
            else
            {
                result[j++] = b;
            }
        }

        return result;
    }

    /// <summary>Decodes CR LF to LF and CR NUL to CR; a CR followed by anything else is kept as is.</summary>
    public static byte[] Decode(ReadOnlySpan<byte> data)
    {
        var result = new byte[data.Length];
        var j = 0;
        for (var i = 0; i < data.Length; i++)
        {
            var b = data[i];
            if (b == (byte)'\r' && i + 1 < data.Length && data[i + 1] is (byte)'\n' or 0)
            {
                result[j++] = data[i + 1] == (byte)'\n' ? (byte)'\n' : (byte)'\r';
                i++;
            }
            else
            {
                result[j++] = b;
            }
        }

        return result.AsSpan(0, j).ToArray();
    }
}

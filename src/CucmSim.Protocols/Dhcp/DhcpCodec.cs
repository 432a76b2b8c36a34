using System.Buffers.Binary;
using System.Net;

namespace CucmSim.Protocols.Dhcp;

/// <summary>DHCP message types (option 53, RFC 2132 §9.6).</summary>
public enum DhcpMessageType : byte
{
    None = 0,
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

/// <summary>Option codes this codec's users read or write (RFC 2132, RFC 3046, RFC 8357; 150 is Cisco's TFTP server address).</summary>
public static class DhcpOption
{
    public const byte Pad = 0;
    public const byte SubnetMask = 1;
    public const byte Router = 3;
    public const byte HostName = 12;
    public const byte RequestedAddress = 50;
    public const byte LeaseTime = 51;
    public const byte Overload = 52;
    public const byte MessageType = 53;
    public const byte ServerIdentifier = 54;
    public const byte ParameterRequestList = 55;
    public const byte Message = 56;
    public const byte MaxMessageSize = 57;
    public const byte RenewalTime = 58;
    public const byte RebindingTime = 59;
    public const byte VendorClass = 60;
    public const byte ClientIdentifier = 61;
    public const byte TftpServerName = 66;
    public const byte RelayAgentInformation = 82;
    public const byte TftpServerAddress = 150;
    public const byte End = 255;

    /// <summary>Relay Agent Information's "relay source port" sub-option (RFC 8357): answer the relay on the port it sent from.</summary>
    public const byte RelaySourcePortSubOption = 19;
}

/// <summary>
/// A DHCP message (RFC 2131 §2): the BOOTP header and the options after the magic cookie. Options that occur
/// more than once are joined (RFC 3396); options overloaded into sname and file (option 52) are read from there.
/// </summary>
public sealed class DhcpMessage
{
    public byte Op { get; set; } = 1;
    public byte HardwareType { get; set; } = 1;
    public byte HardwareLength { get; set; } = 6;
    public byte Hops { get; set; }
    public uint TransactionId { get; set; }
    public ushort Seconds { get; set; }
    public ushort Flags { get; set; }
    public IPAddress ClientAddress { get; set; } = IPAddress.Any;
    public IPAddress YourAddress { get; set; } = IPAddress.Any;
    public IPAddress ServerAddress { get; set; } = IPAddress.Any;
    public IPAddress RelayAddress { get; set; } = IPAddress.Any;

    /// <summary>chaddr: the client's hardware address (<see cref="HardwareLength"/> bytes of it are meaningful).</summary>
    public byte[] ClientHardwareAddress { get; set; } = new byte[16];

    /// <summary>Options in the order read or to be written (each code once; values joined).</summary>
    public List<KeyValuePair<byte, byte[]>> Options { get; } = [];

    public bool Broadcast
    {
        get => (Flags & 0x8000) != 0;
        set => Flags = (ushort)(value ? Flags | 0x8000 : Flags & 0x7FFF);
    }

    public DhcpMessageType MessageType => Get(DhcpOption.MessageType) is [var t] ? (DhcpMessageType)t : DhcpMessageType.None;

    /// <summary>The client's hardware address as text (aa:bb:cc:dd:ee:ff).</summary>
    public string HardwareAddressText =>
        string.Join(':', ClientHardwareAddress.Take(Math.Min((int)HardwareLength, 16)).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    public byte[]? Get(byte code) => Options.FirstOrDefault(o => o.Key == code).Value;

    /// <summary>A four-byte option as an address, or null.</summary>
    public IPAddress? GetAddress(byte code) => Get(code) is { Length: 4 } v ? new IPAddress(v) : null;

    public void Set(byte code, byte[] value)
    {
        Options.RemoveAll(o => o.Key == code);
        Options.Add(new KeyValuePair<byte, byte[]>(code, value));
    }

    public void Set(byte code, IPAddress address) => Set(code, address.GetAddressBytes());

    public void Set(byte code, uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        Set(code, bytes);
    }
}

/// <summary>
/// Reads and writes DHCP messages. Reading checks every length against the datagram: a message shorter than the
/// BOOTP header or without the magic cookie, an option running past its field, an hlen over 16, or more than
/// <see cref="MaxOptions"/> options is refused with a reason. Nothing is read twice (overload applies once).
/// </summary>
public static class DhcpCodec
{
    /// <summary>op .. file: the fixed BOOTP header (RFC 951, RFC 2131 §2).</summary>
    public const int HeaderSize = 236;

    /// <summary>The magic cookie 99.130.83.99 (RFC 2132 §2).</summary>
    public const uint MagicCookie = 0x63825363;

    /// <summary>BOOTP's minimum message, which some clients and relays still insist on (RFC 1542 §3.2.1).</summary>
    public const int MinimumSize = 300;

    /// <summary>What every DHCP client must accept (RFC 2131 §2: 576-byte datagrams): the size a reply is kept within.</summary>
    public const int MaxReplySize = 576 - 28;

    /// <summary>Distinct options one message may carry.</summary>
    public const int MaxOptions = 128;

    private const int SnameOffset = 44;
    private const int FileOffset = 108;

    public static bool TryRead(ReadOnlySpan<byte> data, out DhcpMessage message, out string? error)
    {
        message = new DhcpMessage();
        error = null;
        if (data.Length < HeaderSize + 4)
        {
            error = $"{data.Length} bytes: shorter than the BOOTP header and the magic cookie";
            return false;
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(data[HeaderSize..]) != MagicCookie)
        {
            error = "no DHCP magic cookie (a plain BOOTP message)";
            return false;
        }

        message.Op = data[0];
        message.HardwareType = data[1];
        message.HardwareLength = data[2];
        message.Hops = data[3];
        message.TransactionId = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        message.Seconds = BinaryPrimitives.ReadUInt16BigEndian(data[8..]);
        message.Flags = BinaryPrimitives.ReadUInt16BigEndian(data[10..]);
        message.ClientAddress = new IPAddress(data.Slice(12, 4));
        message.YourAddress = new IPAddress(data.Slice(16, 4));
        message.ServerAddress = new IPAddress(data.Slice(20, 4));
        message.RelayAddress = new IPAddress(data.Slice(24, 4));
        message.ClientHardwareAddress = data.Slice(28, 16).ToArray();
        if (message.Op is not (1 or 2))
        {
            error = $"op {message.Op} is neither BOOTREQUEST nor BOOTREPLY";
            return false;
        }

        if (message.HardwareLength > 16)
        {
            error = $"hlen {message.HardwareLength} over 16";
            return false;
        }

        var options = new Dictionary<byte, List<byte>>();
        var order = new List<byte>();
        if (!ReadOptions(data[(HeaderSize + 4)..], options, order, out error))
        {
            return false;
        }

        // Option 52 (RFC 2132 §9.3): further options in file (1), sname (2) or both (3), read once, file first.
        if (options.TryGetValue(DhcpOption.Overload, out var overload) && overload.Count == 1 && overload[0] is >= 1 and <= 3)
        {
            if ((overload[0] & 1) != 0 && !ReadOptions(data.Slice(FileOffset, 128), options, order, out error))
            {
                return false;
            }

            if ((overload[0] & 2) != 0 && !ReadOptions(data.Slice(SnameOffset, 64), options, order, out error))
            {
                return false;
            }
        }

        foreach (var code in order)
        {
            message.Options.Add(new KeyValuePair<byte, byte[]>(code, options[code].ToArray()));
        }

        return true;
    }

    private static bool ReadOptions(ReadOnlySpan<byte> field, Dictionary<byte, List<byte>> options, List<byte> order, out string? error)
    {
        error = null;
        var at = 0;
        while (at < field.Length)
        {
            var code = field[at];
            if (code == DhcpOption.Pad)
            {
                at++;
                continue;
            }

            if (code == DhcpOption.End)
            {
                return true;
            }

            if (at + 1 >= field.Length || at + 2 + field[at + 1] > field.Length)
            {
                error = $"option {code} runs past the end of its field";
                return false;
            }

            var length = field[at + 1];
            if (!options.TryGetValue(code, out var value))
            {
                if (options.Count == MaxOptions)
                {
                    error = $"more than {MaxOptions} options";
                    return false;
                }

                options[code] = value = [];
                order.Add(code);
            }

            // RFC 3396: an option that appears again continues the same value (bounded by the datagram's size).
            value.AddRange(field.Slice(at + 2, length));
            at += 2 + length;
        }

        // Options that reach the end of the field without the end option: accepted (many clients pad instead).
        return true;
    }

    /// <summary>
    /// Writes a message; returns its length, or 0 when the options do not fit in <paramref name="destination"/>
    /// (at most <see cref="MaxReplySize"/> is used). Padded to BOOTP's 300 bytes. Options over 255 bytes are split.
    /// </summary>
    public static int Write(DhcpMessage message, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(message);
        var limit = Math.Min(destination.Length, MaxReplySize);
        if (limit < MinimumSize)
        {
            return 0;
        }

        var d = destination[..limit];
        d.Clear();
        d[0] = message.Op;
        d[1] = message.HardwareType;
        d[2] = message.HardwareLength;
        d[3] = message.Hops;
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], message.TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(d[8..], message.Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(d[10..], message.Flags);
        WriteAddress(d[12..], message.ClientAddress);
        WriteAddress(d[16..], message.YourAddress);
        WriteAddress(d[20..], message.ServerAddress);
        WriteAddress(d[24..], message.RelayAddress);
        message.ClientHardwareAddress.AsSpan(0, Math.Min(16, message.ClientHardwareAddress.Length)).CopyTo(d[28..]);
        BinaryPrimitives.WriteUInt32BigEndian(d[HeaderSize..], MagicCookie);
        var at = HeaderSize + 4;
        foreach (var (code, value) in message.Options)
        {
            var offset = 0;
            do
            {
                var chunk = Math.Min(255, value.Length - offset);
                if (at + 2 + chunk + 1 > d.Length)
                {
                    return 0;
                }

                d[at] = code;
                d[at + 1] = (byte)chunk;
                value.AsSpan(offset, chunk).CopyTo(d[(at + 2)..]);
                at += 2 + chunk;
                offset += chunk;
            }
            while (offset < value.Length);
        }

        d[at++] = DhcpOption.End;
        return Math.Max(at, MinimumSize);
    }

    private static void WriteAddress(Span<byte> destination, IPAddress address)
    {
        var bytes = (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).GetAddressBytes();
        if (bytes.Length == 4)
        {
            bytes.CopyTo(destination);
        }
    }
}

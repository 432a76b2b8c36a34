using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CucmSim.Protocols.Sccp;

/// <summary>Reads a message body: integers LE, addresses BE, fixed NUL-padded strings. Overruns throw nothing: <see cref="Ok"/> turns false.</summary>
internal ref struct SccpBodyReader(ReadOnlySpan<byte> body)
{
    private readonly ReadOnlySpan<byte> _body = body;
    private int _pos;

    public bool Ok { get; private set; } = true;

    public readonly int Remaining => _body.Length - _pos;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (!Ok || _body.Length - _pos < n)
        {
            Ok = false;
            return default;
        }

        var s = _body.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public uint U32() => Take(4) is { Length: 4 } s ? BinaryPrimitives.ReadUInt32LittleEndian(s) : 0;

    public ushort U16() => Take(2) is { Length: 2 } s ? BinaryPrimitives.ReadUInt16LittleEndian(s) : (ushort)0;

    public byte U8() => Take(1) is { Length: 1 } s ? s[0] : (byte)0;

    public void Skip(int n) => Take(n);

    public byte[] Bytes(int n) => Take(n).ToArray();

    public string Text(int size)
    {
        var s = Take(size);
        var end = s.IndexOf((byte)0);
        return Encoding.Latin1.GetString(end < 0 ? s : s[..end]);
    }

    /// <summary>An IPv4 address in 4 bytes, network order.</summary>
    public IPAddress IPv4() => Take(4) is { Length: 4 } s ? new IPAddress(s) : IPAddress.Any;

    /// <summary>
    /// "ipv4or6": before header version 0x11 a 4-byte IPv4 address; from 0x11 on ipAddrType u32 (0 v4, 1 v6)
    /// and a 16-byte area (IPv4 in its first 4 bytes).
    /// </summary>
    public IPAddress Address(uint version)
    {
        if (version < SccpLayout.V17)
        {
            return IPv4();
        }

        var type = U32();
        var area = Take(16);
        if (!Ok)
        {
            return IPAddress.Any;
        }

        if (type > 1)
        {
            Ok = false;
            return IPAddress.Any;
        }

        return type == 1 ? new IPAddress(area) : new IPAddress(area[..4]);
    }
}

/// <summary>Writes a message body into a span sized by the message's BodyLength.</summary>
internal ref struct SccpBodyWriter(Span<byte> body)
{
    private readonly Span<byte> _body = body;
    private int _pos;

    public readonly int Written => _pos;

    public void U32(uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_body[_pos..], v);
        _pos += 4;
    }

    public void U16(ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_body[_pos..], v);
        _pos += 2;
    }

    public void U8(byte v) => _body[_pos++] = v;

    public void Zero(int n)
    {
        _body.Slice(_pos, n).Clear();
        _pos += n;
    }

    public void Bytes(ReadOnlySpan<byte> bytes, int size)
    {
        var area = _body.Slice(_pos, size);
        area.Clear();
        bytes[..Math.Min(bytes.Length, size)].CopyTo(area);
        _pos += size;
    }

    /// <summary>A fixed NUL-padded string; truncated so at least one NUL ends it unless <paramref name="fill"/>.</summary>
    public void Text(string? text, int size, bool fill = false)
    {
        var area = _body.Slice(_pos, size);
        area.Clear();
        if (!string.IsNullOrEmpty(text))
        {
            var n = Math.Min(text.Length, fill ? size : size - 1);
            Encoding.Latin1.GetBytes(text.AsSpan(0, n), area);
        }

        _pos += size;
    }

    public void IPv4(IPAddress? address)
    {
        var area = _body.Slice(_pos, 4);
        area.Clear();
        if (address is not null)
        {
            var v4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            if (v4.AddressFamily == AddressFamily.InterNetwork)
            {
                v4.TryWriteBytes(area, out _);
            }
        }

        _pos += 4;
    }

    public void Address(IPAddress? address, uint version)
    {
        if (version < SccpLayout.V17)
        {
            IPv4(address);
            return;
        }

        var v6 = address is not null && address.AddressFamily == AddressFamily.InterNetworkV6 && !address.IsIPv4MappedToIPv6;
        U32(v6 ? 1u : 0u);
        var area = _body.Slice(_pos, 16);
        area.Clear();
        if (v6)
        {
            address!.TryWriteBytes(area, out _);
            _pos += 16;
        }
        else
        {
            IPv4(address);
            _pos += 12;
        }
    }
}

/// <summary>Header versions at which layouts change (Wireshark packet-skinny.c.in; protocols.md §1.6).</summary>
public static class SccpLayout
{
    /// <summary>Qualifier union with codecParams; OpenReceiveChannel gains mixing mode, direction, source address and port.</summary>
    public const uint V11 = 0x0B;

    /// <summary>StartMediaTransmission gains partyDirection.</summary>
    public const uint V15 = 0x0F;

    /// <summary>OpenReceiveChannel gains requestedIpAddrType.</summary>
    public const uint V16 = 0x10;

    /// <summary>Every address becomes type u32 + 16 bytes (IPv6-capable).</summary>
    public const uint V17 = 0x11;

    /// <summary>Size of an address field in a layout.</summary>
    public static int AddressSize(uint version) => version < V17 ? 4 : 20;
}

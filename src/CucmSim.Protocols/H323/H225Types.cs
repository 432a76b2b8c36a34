using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Protocols.H323;

/// <summary>A TransportAddress of H.225.0: IPv4 or IPv6 with a port; the other alternatives are read and named only.</summary>
public sealed record H225TransportAddress(string Kind, IPEndPoint? EndPoint)
{
    public static H225TransportAddress Ip(IPEndPoint endPoint) => new(endPoint?.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip", endPoint);

    public override string ToString() => EndPoint is null ? Kind : EndPoint.ToString();
}

public enum AliasKind
{
    DialledDigits,
    H323Id,
    Url,
    TransportId,
    Email,
    PartyNumber,
    Other,
}

/// <summary>An AliasAddress: dialled digits, an H.323-ID, a URL or e-mail are read; the other kinds are named only.</summary>
public sealed record H225Alias(AliasKind Kind, string Value)
{
    public static H225Alias Digits(string digits) => new(AliasKind.DialledDigits, digits);

    public static H225Alias H323Id(string id) => new(AliasKind.H323Id, id);

    public override string ToString() => Kind switch
    {
        AliasKind.DialledDigits => Value,
        AliasKind.H323Id => "h323-id:" + Value,
        _ => Kind.ToString().ToLowerInvariant() + ":" + Value,
    };
}

/// <summary>What kind of node an EndpointType names (the first of its optional parts that is present).</summary>
public enum H225EndpointKind
{
    Undefined,
    Terminal,
    Gateway,
    Gatekeeper,
    Mcu,
}

/// <summary>
/// The common types of H.225.0 (H323-MESSAGES, 12/2009) that RAS and call signalling share, in the aligned PER
/// this codec reads and writes. Alternatives and extensions this emulator does not use are skipped by their
/// encoding, never guessed.
/// </summary>
public static class H225Types
{
    /// <summary>H.225.0 version 5 (itu-t recommendation h 2250 version 5), what CUCM announces.</summary>
    public const string ProtocolV5 = "0.0.8.2250.0.5";

    /// <summary>The permitted alphabet of dialledDigits, sorted by value (X.691 §27.5.4: characters are indexes).</summary>
    public const string DigitsAlphabet = "#*,0123456789";

    /// <summary>Cisco's H.221 vendor code: country 181 (United States), extension 0, manufacturer 18.</summary>
    public static readonly (byte Country, byte Extension, ushort Manufacturer) Cisco = (181, 0, 18);

    public static H225TransportAddress ReadTransportAddress(ref PerReader r)
    {
        if (r.ReadBit())
        {
            r.ReadSmall();
            r.ReadOpenType();
            return new H225TransportAddress("extension", null);
        }

        switch (r.ReadBits(3))
        {
            case 0:
            {
                var ip = r.ReadOctets(4);
                var address = new IPAddress(ip);
                return new H225TransportAddress("ip", new IPEndPoint(address, (int)r.ReadConstrained(0, 65535)));
            }

            case 1:
            {
                var extended = r.ReadBit();
                var ip = new IPAddress(r.ReadOctets(4));
                var port = (int)r.ReadConstrained(0, 65535);
                var hops = r.ReadCount();
                for (var i = 0; i < hops; i++)
                {
                    r.ReadOctets(4);
                }

                if (r.ReadBit())
                {
                    r.ReadSmall();
                    r.ReadOpenType();
                }
                else
                {
                    r.ReadBits(1);
                }

                r.SkipExtensions(extended);
                return new H225TransportAddress("ipSourceRoute", new IPEndPoint(ip, port));
            }

            case 2:
                r.ReadOctets(6);
                r.ReadOctets(4);
                r.ReadOctets(2);
                return new H225TransportAddress("ipx", null);
            case 3:
            {
                var extended = r.ReadBit();
                var ip = new IPAddress(r.ReadOctets(16));
                var port = (int)r.ReadConstrained(0, 65535);
                r.SkipExtensions(extended);
                return new H225TransportAddress("ip6", new IPEndPoint(ip, port));
            }

            case 4:
                r.ReadOctets(16);
                return new H225TransportAddress("netBios", null);
            case 5:
                r.ReadOctets(r.ReadConstrainedLength(1, 20));
                return new H225TransportAddress("nsap", null);
            case 6:
                SkipNonStandardParameter(ref r);
                return new H225TransportAddress("nonStandard", null);
            default:
                throw new PerException("TransportAddress alternative");
        }
    }

    public static void WriteTransportAddress(PerWriter w, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(endPoint);
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        w.WriteBit(false);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            w.WriteBits(3, 3);
            w.WriteBit(false);
            w.WriteOctets(address.GetAddressBytes());
        }
        else
        {
            w.WriteBits(0, 3);
            w.WriteOctets(address.GetAddressBytes());
        }

        w.WriteConstrained(endPoint.Port, 0, 65535);
    }

    public static List<H225TransportAddress> ReadTransportAddresses(ref PerReader r) => ReadList(ref r, ReadTransportAddress);

    public static void WriteTransportAddresses(PerWriter w, IReadOnlyList<IPEndPoint> endPoints) => WriteList(w, endPoints, WriteTransportAddress);

    /// <summary>Reads one item of a SEQUENCE OF.</summary>
    public delegate T ItemReader<out T>(ref PerReader r);

    /// <summary>A SEQUENCE OF without a size constraint: the count (within <see cref="PerReader.MaxItems"/>), then the items.</summary>
    public static List<T> ReadList<T>(ref PerReader r, ItemReader<T> item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var n = r.ReadCount();
        var list = new List<T>(n);
        for (var i = 0; i < n; i++)
        {
            list.Add(item(ref r));
        }

        return list;
    }

    public static void WriteList<T>(PerWriter w, IReadOnlyList<T> items, Action<PerWriter, T> item)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(item);
        w.WriteLength(items.Count);
        foreach (var i in items)
        {
            item(w, i);
        }
    }

    public static H225Alias ReadAlias(ref PerReader r)
    {
        if (!r.ReadBit())
        {
            return r.ReadBit()
                ? H225Alias.H323Id(r.ReadBmpString(1, 256))
                : H225Alias.Digits(r.ReadRestrictedString(1, 128, DigitsAlphabet, 4));
        }

        var index = r.ReadSmall();
        var content = r.ReadOpenType();
        var inner = new PerReader(content);
        return index switch
        {
            0 => new H225Alias(AliasKind.Url, inner.ReadIa5String(1, 512)),
            1 => new H225Alias(AliasKind.TransportId, ReadTransportAddress(ref inner).ToString()),
            2 => new H225Alias(AliasKind.Email, inner.ReadIa5String(1, 512)),
            3 => new H225Alias(AliasKind.PartyNumber, string.Empty),
            _ => new H225Alias(AliasKind.Other, index.ToString(CultureInfo.InvariantCulture)),
        };
    }

    public static void WriteAlias(PerWriter w, H225Alias alias)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(alias);
        w.WriteBit(false);
        switch (alias.Kind)
        {
            case AliasKind.DialledDigits:
                w.WriteBit(false);
                w.WriteRestrictedString(alias.Value, 1, 128, DigitsAlphabet, 4);
                break;
            case AliasKind.H323Id:
                w.WriteBit(true);
                w.WriteBmpString(alias.Value, 1, 256);
                break;
            default:
                throw new ArgumentException("only dialled digits and H.323-IDs are written", nameof(alias));
        }
    }

    public static List<H225Alias> ReadAliases(ref PerReader r) => ReadList(ref r, ReadAlias);

    public static void WriteAliases(PerWriter w, IReadOnlyList<H225Alias> aliases) => WriteList(w, aliases, WriteAlias);

    /// <summary>NonStandardParameter: an identifier (OID or H.221 code) and opaque data, skipped.</summary>
    public static void SkipNonStandardParameter(ref PerReader r)
    {
        if (r.ReadBit())
        {
            r.ReadSmall();
            r.ReadOpenType();
        }
        else if (r.ReadBit())
        {
            ReadH221(ref r);
        }
        else
        {
            r.ReadObjectIdentifier();
        }

        r.ReadOctetString(PerWriter.MaxOctets);
    }

    private static (byte, byte, ushort) ReadH221(ref PerReader r)
    {
        var extended = r.ReadBit();
        var country = (byte)r.ReadConstrained(0, 255);
        var extension = (byte)r.ReadConstrained(0, 255);
        var manufacturer = (ushort)r.ReadConstrained(0, 65535);
        r.SkipExtensions(extended);
        return (country, extension, manufacturer);
    }

    /// <summary>VendorIdentifier: the H.221 code and the product and version octets when present.</summary>
    public static string ReadVendor(ref PerReader r)
    {
        var extended = r.ReadBit();
        var hasProduct = r.ReadBit();
        var hasVersion = r.ReadBit();
        var (country, extension, manufacturer) = ReadH221(ref r);
        var text = string.Create(CultureInfo.InvariantCulture, $"{country}/{extension}/{manufacturer}");
        if (hasProduct)
        {
            text += " " + Printable(r.ReadOctets(r.ReadConstrainedLength(1, 256)));
        }

        if (hasVersion)
        {
            text += " " + Printable(r.ReadOctets(r.ReadConstrainedLength(1, 256)));
        }

        r.SkipExtensions(extended);
        return text;
    }

    public static void WriteVendor(PerWriter w, string? product, string? version)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteBit(false);
        w.WriteBit(product is not null);
        w.WriteBit(version is not null);
        w.WriteBit(false);
        w.WriteConstrained(Cisco.Country, 0, 255);
        w.WriteConstrained(Cisco.Extension, 0, 255);
        w.WriteConstrained(Cisco.Manufacturer, 0, 65535);
        foreach (var s in new[] { product, version })
        {
            if (s is not null)
            {
                var bytes = System.Text.Encoding.ASCII.GetBytes(s);
                w.WriteConstrained(bytes.Length, 1, 256);
                w.WriteOctets(bytes);
            }
        }
    }

    /// <summary>EndpointType: the kind of node and its vendor; everything else is read past.</summary>
    public static (H225EndpointKind Kind, string? Vendor) ReadEndpointType(ref PerReader r)
    {
        var extended = r.ReadBit();
        var present = r.ReadBits(6);
        string? vendor = null;
        var kind = H225EndpointKind.Undefined;
        if ((present & 0x20) != 0)
        {
            SkipNonStandardParameter(ref r);
        }

        if ((present & 0x10) != 0)
        {
            vendor = ReadVendor(ref r);
        }

        if ((present & 0x08) != 0)
        {
            SkipInfo(ref r);
            kind = H225EndpointKind.Gatekeeper;
        }

        if ((present & 0x04) != 0)
        {
            // GatewayInfo: protocol SEQUENCE OF SupportedProtocols, nonStandardData.
            var gwExtended = r.ReadBit();
            var hasProtocols = r.ReadBit();
            var hasNonStandard = r.ReadBit();
            if (hasProtocols)
            {
                var n = r.ReadCount();
                for (var i = 0; i < n; i++)
                {
                    SkipSupportedProtocol(ref r);
                }
            }

            if (hasNonStandard)
            {
                SkipNonStandardParameter(ref r);
            }

            r.SkipExtensions(gwExtended);
            kind = kind == H225EndpointKind.Undefined ? H225EndpointKind.Gateway : kind;
        }

        if ((present & 0x02) != 0)
        {
            SkipInfo(ref r);
            kind = kind == H225EndpointKind.Undefined ? H225EndpointKind.Mcu : kind;
        }

        if ((present & 0x01) != 0)
        {
            SkipInfo(ref r);
            kind = kind == H225EndpointKind.Undefined ? H225EndpointKind.Terminal : kind;
        }

        r.ReadBoolean();
        r.ReadBoolean();
        r.SkipExtensions(extended);
        return (kind, vendor);
    }

    /// <summary>An EndpointType of one kind (terminal or gateway), with Cisco's vendor code when a product is named.</summary>
    public static void WriteEndpointType(PerWriter w, H225EndpointKind kind, string? product = null, string? version = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteBit(false);
        w.WriteBit(false);
        w.WriteBit(product is not null);
        w.WriteBit(kind == H225EndpointKind.Gatekeeper);
        w.WriteBit(kind == H225EndpointKind.Gateway);
        w.WriteBit(false);
        w.WriteBit(kind == H225EndpointKind.Terminal);
        if (product is not null)
        {
            WriteVendor(w, product, version);
        }

        if (kind is H225EndpointKind.Gatekeeper or H225EndpointKind.Terminal)
        {
            // GatekeeperInfo / TerminalInfo: no extension, no nonStandardData.
            w.WriteBits(0, 2);
        }
        else if (kind == H225EndpointKind.Gateway)
        {
            // GatewayInfo: no protocol list, no nonStandardData.
            w.WriteBits(0, 3);
        }

        w.WriteBit(false);
        w.WriteBit(false);
    }

    /// <summary>GatekeeperInfo, McuInfo, TerminalInfo and the protocol capabilities: an optional nonStandardData and extensions.</summary>
    private static void SkipInfo(ref PerReader r)
    {
        var extended = r.ReadBit();
        if (r.ReadBit())
        {
            SkipNonStandardParameter(ref r);
        }

        r.SkipExtensions(extended);
    }

    private static void SkipSupportedProtocol(ref PerReader r)
    {
        if (r.ReadBit())
        {
            r.ReadSmall();
            r.ReadOpenType();
            return;
        }

        if (r.ReadBits(4) == 0)
        {
            SkipNonStandardParameter(ref r);
        }
        else
        {
            SkipInfo(ref r);
        }
    }

    /// <summary>A GloballyUniqueID (OCTET STRING SIZE(16)): fixed size above two octets, so aligned and without a length.</summary>
    public static byte[] ReadGuid(ref PerReader r) => r.ReadOctets(16).ToArray();

    /// <summary>CallIdentifier ::= SEQUENCE { guid, ... }.</summary>
    public static byte[] ReadCallIdentifier(ref PerReader r)
    {
        var extended = r.ReadBit();
        var guid = ReadGuid(ref r);
        r.SkipExtensions(extended);
        return guid;
    }

    public static void WriteCallIdentifier(PerWriter w, ReadOnlySpan<byte> guid)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteBit(false);
        w.WriteOctets(guid);
    }

    private static string Printable(ReadOnlySpan<byte> octets)
    {
        var chars = new char[octets.Length];
        for (var i = 0; i < octets.Length; i++)
        {
            chars[i] = octets[i] is >= 0x20 and < 0x7F ? (char)octets[i] : '.';
        }

        return new string(chars).TrimEnd('.');
    }
}

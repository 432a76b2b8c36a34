using System.Buffers.Text;

namespace CucmSim.Protocols.Sip;

/// <summary>A Via value split into its parts (RFC 3261 §20.42, RFC 3581). Ranges are relative to the value.</summary>
public readonly ref struct SipVia
{
    public SipVia(ReadOnlySpan<byte> value, ReadOnlySpan<byte> transport, ReadOnlySpan<byte> host, int port, ReadOnlySpan<byte> parameters)
    {
        Value = value;
        Transport = transport;
        Host = host;
        Port = port;
        Parameters = parameters;
    }

    public ReadOnlySpan<byte> Value { get; }
    public ReadOnlySpan<byte> Transport { get; }
    public ReadOnlySpan<byte> Host { get; }

    /// <summary>The sent-by port; 0 when absent.</summary>
    public int Port { get; }

    /// <summary>Everything from the first ';' (inclusive); empty when there are no parameters.</summary>
    public ReadOnlySpan<byte> Parameters { get; }

    /// <summary>The end of sent-by within <see cref="Value"/>, where parameters start.</summary>
    public int SentByEnd => Value.Length - Parameters.Length;

    public ReadOnlySpan<byte> Branch => SipSyntax.Param(Parameters, "branch"u8, out var v) ? v : default;

    /// <summary>RFC 3581 §4: the client asks for the source port with a bare rport parameter.</summary>
    public bool HasRport => SipSyntax.Param(Parameters, "rport"u8, out _);

    public static bool TryParse(ReadOnlySpan<byte> value, out SipVia via)
    {
        via = default;

        // SIP / 2.0 / transport (LWS allowed around the slashes is rare; tolerate none).
        if (value.Length < 9 || !SipNames.Eq(value[..8], "sip/2.0/"u8))
        {
            return false;
        }

        var rest = value[8..];
        var sp = rest.IndexOfAny((byte)' ', (byte)'\t');
        if (sp <= 0)
        {
            return false;
        }

        var transport = rest[..sp];
        var sentByStart = 8 + sp;
        while (sentByStart < value.Length && value[sentByStart] is (byte)' ' or (byte)'\t')
        {
            sentByStart++;
        }

        var semi = value[sentByStart..].IndexOf((byte)';');
        var sentByEnd = semi < 0 ? value.Length : sentByStart + semi;
        var sentBy = value[sentByStart..sentByEnd].TrimEnd(" \t"u8);
        if (sentBy.Length == 0)
        {
            return false;
        }

        if (!SipSyntax.SplitHostPort(sentBy, out var host, out var port))
        {
            return false;
        }

        via = new SipVia(value, transport, host, port, value[sentByEnd..]);
        return true;
    }
}

/// <summary>Small grammar helpers over header values: parameters, name-addr, URIs (RFC 3261 §19, §20, §25).</summary>
public static class SipSyntax
{
    /// <summary>Finds ;name[=value] in a parameter list (case-insensitive name). A bare flag yields an empty value.</summary>
    public static bool Param(ReadOnlySpan<byte> parameters, ReadOnlySpan<byte> lowerName, out ReadOnlySpan<byte> value)
    {
        value = default;
        while (true)
        {
            var semi = parameters.IndexOf((byte)';');
            if (semi < 0)
            {
                return false;
            }

            parameters = parameters[(semi + 1)..];
            var end = parameters.IndexOfAny((byte)';', (byte)',');
            var item = (end < 0 ? parameters : parameters[..end]).Trim(" \t"u8);
            var eq = item.IndexOf((byte)'=');
            var name = (eq < 0 ? item : item[..eq]).TrimEnd(" \t"u8);
            if (SipNames.Eq(name, lowerName))
            {
                value = eq < 0 ? default : item[(eq + 1)..].Trim(" \t"u8);
                if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
                {
                    value = value[1..^1];
                }

                return true;
            }
        }
    }

    /// <summary>The header parameters of a From/To/Contact value (after the closing '>' of a name-addr, or after the addr-spec).</summary>
    public static ReadOnlySpan<byte> HeaderParams(ReadOnlySpan<byte> value)
    {
        var gt = LastUnquoted(value, (byte)'>');
        if (gt >= 0)
        {
            return value[(gt + 1)..];
        }

        var semi = value.IndexOf((byte)';');
        return semi < 0 ? default : value[semi..];
    }

    /// <summary>The tag parameter of From or To (RFC 3261 §19.3).</summary>
    public static ReadOnlySpan<byte> Tag(ReadOnlySpan<byte> value) => Param(HeaderParams(value), "tag"u8, out var tag) ? tag : default;

    /// <summary>The URI of a name-addr or addr-spec (RFC 3261 §20.10).</summary>
    public static ReadOnlySpan<byte> AddrSpec(ReadOnlySpan<byte> value)
    {
        var lt = FirstUnquoted(value, (byte)'<');
        if (lt >= 0)
        {
            var gt = value[lt..].IndexOf((byte)'>');
            return gt < 0 ? default : value.Slice(lt + 1, gt - 1);
        }

        var semi = value.IndexOf((byte)';');
        return (semi < 0 ? value : value[..semi]).Trim(" \t"u8);
    }

    /// <summary>Splits sip:user@host:port;params into user and host/port (RFC 3261 §19.1.1).</summary>
    public static bool TryParseUri(ReadOnlySpan<byte> uri, out ReadOnlySpan<byte> user, out ReadOnlySpan<byte> host, out int port)
    {
        user = host = default;
        port = 0;
        var colon = uri.IndexOf((byte)':');
        if (colon <= 0)
        {
            return false;
        }

        var rest = uri[(colon + 1)..];
        var end = rest.IndexOfAny((byte)';', (byte)'?', (byte)'>');
        if (end >= 0)
        {
            rest = rest[..end];
        }

        var at = rest.LastIndexOf((byte)'@');
        if (at >= 0)
        {
            user = rest[..at];
            var pw = user.IndexOf((byte)':');
            if (pw >= 0)
            {
                user = user[..pw];
            }

            rest = rest[(at + 1)..];
        }

        return SplitHostPort(rest, out host, out port);
    }

    /// <summary>host[:port] with IPv6 references in brackets (RFC 3261 §25.1 hostport).</summary>
    public static bool SplitHostPort(ReadOnlySpan<byte> hostPort, out ReadOnlySpan<byte> host, out int port)
    {
        port = 0;
        host = hostPort;
        if (hostPort.Length == 0)
        {
            return false;
        }

        ReadOnlySpan<byte> portText = default;
        if (hostPort[0] == '[')
        {
            var close = hostPort.IndexOf((byte)']');
            if (close < 0)
            {
                return false;
            }

            host = hostPort[..(close + 1)];
            if (close + 1 < hostPort.Length)
            {
                if (hostPort[close + 1] != ':')
                {
                    return false;
                }

                portText = hostPort[(close + 2)..];
            }
        }
        else
        {
            var colon = hostPort.IndexOf((byte)':');
            if (colon >= 0)
            {
                host = hostPort[..colon];
                portText = hostPort[(colon + 1)..];
            }
        }

        if (host.Length == 0)
        {
            return false;
        }

        if (!portText.IsEmpty || hostPort.EndsWith(":"u8))
        {
            if (!Utf8Parser.TryParse(portText, out int p, out var used) || used != portText.Length || p is <= 0 or > 65535)
            {
                return false;
            }

            port = p;
        }

        return true;
    }

    private static int FirstUnquoted(ReadOnlySpan<byte> value, byte c)
    {
        var quoted = false;
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '"' && (i == 0 || value[i - 1] != '\\'))
            {
                quoted = !quoted;
            }
            else if (!quoted && value[i] == c)
            {
                return i;
            }
        }

        return -1;
    }

    private static int LastUnquoted(ReadOnlySpan<byte> value, byte c)
    {
        var quoted = false;
        var found = -1;
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '"' && (i == 0 || value[i - 1] != '\\'))
            {
                quoted = !quoted;
            }
            else if (!quoted && value[i] == c)
            {
                found = i;
            }
        }

        return found;
    }
}

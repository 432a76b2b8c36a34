using System.Globalization;
using System.Net;
using System.Text;

namespace CucmSim.Protocols.Sip;

/// <summary>One m= section (RFC 4566 §5.14) with its rtpmap, ptime and connection line.</summary>
public sealed class SdpMedia
{
    public string Media { get; set; } = "audio";
    public int Port { get; set; }
    public string Protocol { get; set; } = "RTP/AVP";
    public List<int> Formats { get; } = [];

    /// <summary>payload type → encoding/clock[/channels] (a=rtpmap, RFC 4566 §6).</summary>
    public Dictionary<int, string> RtpMaps { get; } = [];
    public Dictionary<int, string> Fmtp { get; } = [];
    public int? Ptime { get; set; }

    /// <summary>A c= inside the media section (overrides the session's).</summary>
    public string? ConnectionAddress { get; set; }
    public string? Direction { get; set; }
}

/// <summary>
/// An SDP session description (RFC 4566), the parts an offer/answer exchange (RFC 3264) needs: o=, c=, m=,
/// a=rtpmap, a=fmtp, a=ptime, direction attributes. IPv4 and IPv6 addresses.
/// </summary>
public sealed class SdpSession
{
    public const int MaxSize = 16 * 1024;
    public const int MaxLines = 256;
    public const int MaxMedia = 16;

    public int Version { get; set; }
    public string OriginUser { get; set; } = "-";
    public string SessionId { get; set; } = "0";
    public string SessionVersion { get; set; } = "0";
    public string OriginAddressType { get; set; } = "IP4";
    public string OriginAddress { get; set; } = "0.0.0.0";
    public string SessionName { get; set; } = "-";
    public string? ConnectionAddressType { get; set; }
    public string? ConnectionAddress { get; set; }
    public List<SdpMedia> Media { get; } = [];

    /// <summary>The address RTP goes to for a media section: its own c= or the session's.</summary>
    public string? AddressFor(SdpMedia media) => media.ConnectionAddress ?? ConnectionAddress;

    /// <summary>Parses an SDP body; null (with the reason) when it is not SDP or breaks a limit.</summary>
    public static SdpSession? Parse(ReadOnlySpan<byte> body, out string? error)
    {
        error = null;
        if (body.Length > MaxSize)
        {
            error = "SDP larger than 16 KiB";
            return null;
        }

        var text = Encoding.UTF8.GetString(body);
        var session = new SdpSession();
        SdpMedia? media = null;
        var lines = 0;
        var sawVersion = false;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            if (++lines > MaxLines)
            {
                error = "too many SDP lines";
                return null;
            }

            if (line.Length < 2 || line[1] != '=')
            {
                error = $"not an SDP line: {Truncate(line)}";
                return null;
            }

            var value = line[2..];
            switch (line[0])
            {
                case 'v':
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                    {
                        error = "bad v= line";
                        return null;
                    }

                    session.Version = v;
                    sawVersion = true;
                    break;
                case 'o':
                    var o = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (o.Length != 6 || o[3] != "IN")
                    {
                        error = "bad o= line";
                        return null;
                    }

                    (session.OriginUser, session.SessionId, session.SessionVersion, session.OriginAddressType, session.OriginAddress) = (o[0], o[1], o[2], o[4], o[5]);
                    break;
                case 's':
                    session.SessionName = value;
                    break;
                case 'c':
                    var c = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (c.Length != 3 || c[0] != "IN" || c[1] is not ("IP4" or "IP6"))
                    {
                        error = "bad c= line";
                        return null;
                    }

                    var address = c[2].Split('/')[0];
                    if (media is null)
                    {
                        session.ConnectionAddressType = c[1];
                        session.ConnectionAddress = address;
                    }
                    else
                    {
                        media.ConnectionAddress = address;
                    }

                    break;
                case 'm':
                    var m = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (m.Length < 3 || !int.TryParse(m[1].Split('/')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                    {
                        error = "bad m= line";
                        return null;
                    }

                    if (session.Media.Count == MaxMedia)
                    {
                        error = "too many m= lines";
                        return null;
                    }

                    media = new SdpMedia { Media = m[0], Port = port, Protocol = m[2] };
                    foreach (var f in m.Skip(3))
                    {
                        if (int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out var pt) && pt <= 127)
                        {
                            media.Formats.Add(pt);
                        }
                    }

                    session.Media.Add(media);
                    break;
                case 'a' when media is not null:
                    ParseAttribute(media, value);
                    break;
                default:
                    break;
            }
        }

        if (!sawVersion)
        {
            error = "no v= line";
            return null;
        }

        return session;
    }

    private static void ParseAttribute(SdpMedia media, string value)
    {
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? value : value[..colon];
        var arg = colon < 0 ? string.Empty : value[(colon + 1)..];
        switch (name)
        {
            case "rtpmap" or "fmtp":
                var sp = arg.IndexOf(' ', StringComparison.Ordinal);
                if (sp > 0 && int.TryParse(arg[..sp], NumberStyles.None, CultureInfo.InvariantCulture, out var pt))
                {
                    (name == "rtpmap" ? media.RtpMaps : media.Fmtp)[pt] = arg[(sp + 1)..].Trim();
                }

                break;
            case "ptime" when int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out var ptime):
                media.Ptime = ptime;
                break;
            case "sendrecv" or "sendonly" or "recvonly" or "inactive":
                media.Direction = name;
                break;
            default:
                break;
        }
    }

    /// <summary>The SDP text (CRLF line ends, RFC 4566 §5).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(256);
        sb.Append("v=").Append(Version).Append("\r\n");
        sb.Append("o=").Append(OriginUser).Append(' ').Append(SessionId).Append(' ').Append(SessionVersion).Append(" IN ").Append(OriginAddressType).Append(' ').Append(OriginAddress).Append("\r\n");
        sb.Append("s=").Append(SessionName).Append("\r\n");
        if (ConnectionAddress is not null)
        {
            sb.Append("c=IN ").Append(ConnectionAddressType ?? AddressType(ConnectionAddress)).Append(' ').Append(ConnectionAddress).Append("\r\n");
        }

        sb.Append("t=0 0\r\n");
        foreach (var m in Media)
        {
            sb.Append("m=").Append(m.Media).Append(' ').Append(m.Port).Append(' ').Append(m.Protocol);
            foreach (var f in m.Formats)
            {
                sb.Append(' ').Append(f);
            }

            sb.Append("\r\n");
            if (m.ConnectionAddress is not null)
            {
                sb.Append("c=IN ").Append(AddressType(m.ConnectionAddress)).Append(' ').Append(m.ConnectionAddress).Append("\r\n");
            }

            foreach (var f in m.Formats)
            {
                if (m.RtpMaps.TryGetValue(f, out var map))
                {
                    sb.Append("a=rtpmap:").Append(f).Append(' ').Append(map).Append("\r\n");
                }

                if (m.Fmtp.TryGetValue(f, out var fmtp))
                {
                    sb.Append("a=fmtp:").Append(f).Append(' ').Append(fmtp).Append("\r\n");
                }
            }

            if (m.Ptime is { } ptime)
            {
                sb.Append("a=ptime:").Append(ptime).Append("\r\n");
            }

            if (m.Direction is not null)
            {
                sb.Append("a=").Append(m.Direction).Append("\r\n");
            }
        }

        return sb.ToString();
    }

    public static string AddressType(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "IP6" : "IP4";

    /// <summary>
    /// An answer to an offer (RFC 3264 §6): the first audio stream on <paramref name="port"/>, keeping the offered
    /// payload types this side knows (PCMU, PCMA, G722, G729, telephone-event); PCMU when none is offered.
    /// </summary>
    public static SdpSession Answer(SdpSession? offer, string user, string address, int port, long sessionId)
    {
        var answer = new SdpSession
        {
            OriginUser = user,
            SessionId = sessionId.ToString(CultureInfo.InvariantCulture),
            SessionVersion = "1",
            OriginAddressType = AddressType(address),
            OriginAddress = address,
            SessionName = "SIP Call",
            ConnectionAddressType = AddressType(address),
            ConnectionAddress = address,
        };
        var media = new SdpMedia { Port = port, Ptime = 20 };
        var offered = offer?.Media.FirstOrDefault(m => m.Media == "audio");
        foreach (var pt in offered?.Formats ?? [])
        {
            var map = offered!.RtpMaps.TryGetValue(pt, out var m) ? m : StaticMap(pt);
            if (map is null || !Known(map))
            {
                continue;
            }

            media.Formats.Add(pt);
            media.RtpMaps[pt] = map;
            if (offered.Fmtp.TryGetValue(pt, out var fmtp))
            {
                media.Fmtp[pt] = fmtp;
            }
        }

        if (media.Formats.Count == 0 || media.Formats.All(f => media.RtpMaps[f].StartsWith("telephone-event", StringComparison.OrdinalIgnoreCase)))
        {
            media.Formats.Insert(0, 0);
            media.RtpMaps[0] = "PCMU/8000";
        }

        if (offered?.Direction is "sendonly")
        {
            media.Direction = "recvonly";
        }
        else if (offered?.Direction is "recvonly")
        {
            media.Direction = "sendonly";
        }

        answer.Media.Add(media);
        return answer;
    }

    private static string? StaticMap(int pt) => pt switch
    {
        0 => "PCMU/8000",
        8 => "PCMA/8000",
        9 => "G722/8000",
        18 => "G729/8000",
        _ => null,
    };

    private static bool Known(string map)
    {
        var name = map.Split('/')[0];
        return name.Equals("PCMU", StringComparison.OrdinalIgnoreCase) || name.Equals("PCMA", StringComparison.OrdinalIgnoreCase)
            || name.Equals("G722", StringComparison.OrdinalIgnoreCase) || name.Equals("G729", StringComparison.OrdinalIgnoreCase)
            || name.Equals("telephone-event", StringComparison.OrdinalIgnoreCase);
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "..." : s;
}

using System.Buffers;
using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.Syslog;

/// <summary>Which syslog format a message was written in.</summary>
public enum SyslogFormat
{
    /// <summary>BSD syslog (RFC 3164): &lt;PRI&gt;Mmm dd hh:mm:ss HOST TAG[PID]: MSG.</summary>
    Rfc3164,

    /// <summary>The syslog protocol (RFC 5424): &lt;PRI&gt;1 TIMESTAMP HOST APP PROCID MSGID SD [MSG].</summary>
    Rfc5424,
}

/// <summary>
/// One syslog message. Fields a format leaves out ("-" in RFC 5424, no header in RFC 3164) are null.
/// </summary>
public sealed record SyslogMessage(
    SyslogFormat Format,
    int Facility,
    int Severity,
    string? Timestamp,
    string? Host,
    string? App,
    string? ProcId,
    string? MsgId,
    string? StructuredData,
    string Message)
{
    public string FacilityName => SyslogCodec.FacilityName(Facility);

    public string SeverityName => SyslogCodec.SeverityName(Severity);
}

/// <summary>
/// Parses and writes syslog datagrams (RFC 3164 §4, RFC 5424 §6, transport per RFC 5426). Parsing is
/// strict about the PRI and, for RFC 5424, the header fields; an RFC 3164 message without a timestamp keeps
/// the rest as its text (RFC 3164 §4.3.2).
/// </summary>
public static class SyslogCodec
{
    /// <summary>Longest datagram parsed (RFC 5426 §3.2 asks receivers for 2048 octets at least; IPv4 UDP allows 65,507).</summary>
    public const int MaxMessageSize = 8192;

    private const int MaxPri = 191;
    private static readonly string TooLong = $"longer than {MaxMessageSize} octets";
    private const int MaxHostName = 255;
    private const int MaxAppName = 48;
    private const int MaxProcId = 128;
    private const int MaxMsgId = 32;
    private const int MaxTag = 32;

    private static readonly string[] Facilities =
    [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ];

    private static readonly string[] Severities = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    public static string FacilityName(int facility) => (uint)facility < Facilities.Length ? Facilities[facility] : facility.ToString(CultureInfo.InvariantCulture);

    public static string SeverityName(int severity) => (uint)severity < Severities.Length ? Severities[severity] : severity.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses a datagram spread over any number of segments (a copy is made only when it spans several).</summary>
    public static OperationStatus TryParse(in ReadOnlySequence<byte> datagram, out SyslogMessage? message, out string? error)
    {
        if (datagram.Length > MaxMessageSize)
        {
            message = null;
            error = TooLong;
            return OperationStatus.InvalidData;
        }

        return TryParse(datagram.IsSingleSegment ? datagram.FirstSpan : datagram.ToArray(), out message, out error);
    }

    /// <summary>Parses one datagram: Done with the message, or InvalidData with the reason.</summary>
    public static OperationStatus TryParse(ReadOnlySpan<byte> datagram, out SyslogMessage? message, out string? error)
    {
        message = null;
        if (datagram.Length > MaxMessageSize)
        {
            error = TooLong;
            return OperationStatus.InvalidData;
        }

        // Trailing newlines and NULs are framing some senders add, not text.
        datagram = datagram.TrimEnd("\r\n\0"u8);
        if (!TryParsePri(datagram, out var pri, out var rest))
        {
            error = "no <PRI> (RFC 3164 §4.1.1, RFC 5424 §6.2.1)";
            return OperationStatus.InvalidData;
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(rest);
        }
        catch (DecoderFallbackException)
        {
            // RFC 3164 text is 7-bit in principle; anything else keeps its bytes as Latin-1.
            text = Encoding.Latin1.GetString(rest);
        }

        var facility = pri / 8;
        var severity = pri % 8;
        if (text.StartsWith("1 ", StringComparison.Ordinal))
        {
            return Parse5424(text[2..], facility, severity, out message, out error);
        }

        message = Parse3164(text, facility, severity);
        error = null;
        return OperationStatus.Done;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static bool TryParsePri(ReadOnlySpan<byte> data, out int pri, out ReadOnlySpan<byte> rest)
    {
        pri = 0;
        rest = default;
        if (data.Length < 3 || data[0] != (byte)'<')
        {
            return false;
        }

        var i = 1;
        while (i < data.Length && i <= 4 && data[i] is >= (byte)'0' and <= (byte)'9')
        {
            pri = (pri * 10) + (data[i] - '0');
            i++;
        }

        var digits = i - 1;
        // RFC 5424 §6.2.1: 1-3 digits, no leading zero except "<0>".
        if (digits is < 1 or > 3 || i >= data.Length || data[i] != (byte)'>' || pri > MaxPri || (digits > 1 && data[1] == (byte)'0'))
        {
            return false;
        }

        rest = data[(i + 1)..];
        return true;
    }

    private static OperationStatus Parse5424(string text, int facility, int severity, out SyslogMessage? message, out string? error)
    {
        message = null;
        var pos = 0;
        if (!NextField(text, ref pos, 64, out var timestamp)
            || !NextField(text, ref pos, MaxHostName, out var host)
            || !NextField(text, ref pos, MaxAppName, out var app)
            || !NextField(text, ref pos, MaxProcId, out var procId)
            || !NextField(text, ref pos, MaxMsgId, out var msgId))
        {
            error = "RFC 5424 header fields missing or too long (§6.2)";
            return OperationStatus.InvalidData;
        }

        if (timestamp is not null && !DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            error = "RFC 5424 TIMESTAMP is not RFC 3339 (§6.2.3)";
            return OperationStatus.InvalidData;
        }

        if (!TryStructuredData(text, ref pos, out var sd))
        {
            error = "RFC 5424 STRUCTURED-DATA malformed (§6.3)";
            return OperationStatus.InvalidData;
        }

        string body;
        if (pos >= text.Length)
        {
            body = string.Empty;
        }
        else if (text[pos] == ' ')
        {
            body = text[(pos + 1)..];
            // §6.4: a UTF-8 MSG starts with a BOM.
            body = body.TrimStart('\uFEFF');
        }
        else
        {
            error = "RFC 5424 STRUCTURED-DATA not followed by a space (§6)";
            return OperationStatus.InvalidData;
        }

        message = new SyslogMessage(SyslogFormat.Rfc5424, facility, severity, timestamp, host, app, procId, msgId, sd, body);
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>One space-terminated header field; "-" is the nil value (null).</summary>
    private static bool NextField(string text, ref int pos, int max, out string? value)
    {
        value = null;
        var end = text.IndexOf(' ', pos);
        if (end < 0 || end == pos || end - pos > max)
        {
            return false;
        }

        for (var i = pos; i < end; i++)
        {
            // PRINTUSASCII (§6).
            if (text[i] is < '!' or > '~')
            {
                return false;
            }
        }

        var field = text[pos..end];
        pos = end + 1;
        value = field == "-" ? null : field;
        return true;
    }

    /// <summary>"-" or one or more [SD-ID param="value" ...] elements, with \" \\ \] escapes inside values.</summary>
    private static bool TryStructuredData(string text, ref int pos, out string? sd)
    {
        sd = null;
        if (pos >= text.Length)
        {
            return false;
        }

        if (text[pos] == '-')
        {
            pos++;
            return true;
        }

        var start = pos;
        while (pos < text.Length && text[pos] == '[')
        {
            var quoted = false;
            pos++;
            while (true)
            {
                if (pos >= text.Length)
                {
                    return false;
                }

                var c = text[pos];
                if (quoted && c == '\\' && pos + 1 < text.Length)
                {
                    pos += 2;
                    continue;
                }

                if (c == '"')
                {
                    quoted = !quoted;
                }
                else if (c == ']' && !quoted)
                {
                    pos++;
                    break;
                }

                pos++;
            }
        }

        if (pos == start)
        {
            return false;
        }

        sd = text[start..pos];
        return true;
    }

    private static SyslogMessage Parse3164(string text, int facility, int severity)
    {
        // §4.1.2: TIMESTAMP "Mmm dd hh:mm:ss" (day space-padded), then HOSTNAME and a space.
        if (text.Length < 16 || !IsTimestamp3164(text.AsSpan(0, 15)) || text[15] != ' ')
        {
            return new SyslogMessage(SyslogFormat.Rfc3164, facility, severity, null, null, null, null, null, null, text);
        }

        var timestamp = text[..15];
        var pos = 16;
        string? host = null;
        var hostEnd = text.IndexOf(' ', pos);
        if (hostEnd > pos && hostEnd - pos <= MaxHostName && !text.AsSpan(pos, hostEnd - pos).Contains(':'))
        {
            host = text[pos..hostEnd];
            pos = hostEnd + 1;
        }

        // §4.1.3: TAG is up to 32 alphanumerics, ended by the first other character ('[', ':' or space).
        string? app = null;
        string? procId = null;
        var tagEnd = pos;
        while (tagEnd < text.Length && tagEnd - pos <= MaxTag && text[tagEnd] is not ('[' or ':' or ' '))
        {
            tagEnd++;
        }

        if (tagEnd > pos && tagEnd < text.Length && tagEnd - pos <= MaxTag)
        {
            var content = tagEnd;
            if (text[content] == '[')
            {
                var close = text.IndexOf(']', content);
                if (close > content && close - content <= MaxProcId)
                {
                    procId = text[(content + 1)..close];
                    content = close + 1;
                }
            }

            if (content < text.Length && text[content] == ':')
            {
                app = text[pos..tagEnd];
                pos = content + 1;
                if (pos < text.Length && text[pos] == ' ')
                {
                    pos++;
                }
            }
            else
            {
                procId = null;
            }
        }

        return new SyslogMessage(SyslogFormat.Rfc3164, facility, severity, timestamp, host, app, procId, null, null, text[pos..]);
    }

    private static bool IsTimestamp3164(ReadOnlySpan<char> t) =>
        Array.IndexOf(Months, t[..3].ToString()) >= 0
        && t[3] == ' '
        && (t[4] == ' ' || char.IsAsciiDigit(t[4])) && char.IsAsciiDigit(t[5])
        && t[6] == ' '
        && char.IsAsciiDigit(t[7]) && char.IsAsciiDigit(t[8]) && t[9] == ':'
        && char.IsAsciiDigit(t[10]) && char.IsAsciiDigit(t[11]) && t[12] == ':'
        && char.IsAsciiDigit(t[13]) && char.IsAsciiDigit(t[14]);

    /// <summary>Writes an RFC 3164 message: &lt;PRI&gt;Mmm dd hh:mm:ss HOST TAG: MSG.</summary>
    public static string Format3164(int facility, int severity, DateTimeOffset time, string host, string tag, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"<{Pri(facility, severity)}>{Months[time.Month - 1]} {time.Day,2} {time:HH:mm:ss} {host} {tag}: {text}");

    /// <summary>Writes an RFC 5424 message without structured data: &lt;PRI&gt;1 TIMESTAMP HOST APP PROCID MSGID - MSG.</summary>
    public static string Format5424(int facility, int severity, DateTimeOffset time, string? host, string? app, string? procId, string? msgId, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"<{Pri(facility, severity)}>1 {time:yyyy-MM-ddTHH:mm:ss.ffffffzzz} {host ?? "-"} {app ?? "-"} {procId ?? "-"} {msgId ?? "-"} - {text}");

    private static int Pri(int facility, int severity)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)facility, 23u, nameof(facility));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)severity, 7u, nameof(severity));
        return (facility * 8) + severity;
    }
}

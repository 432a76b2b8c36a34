using System.Buffers;
using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.Mgcp;

/// <summary>
/// One MGCP message (RFC 3435 §3): a command (verb, transaction id, endpoint, version) or a response (code,
/// transaction id, commentary), its parameter lines in order, and the session description after the empty line.
/// </summary>
public sealed record MgcpMessage
{
    public bool IsResponse { get; init; }

    /// <summary>The command verb ("RSIP", "NTFY", ...); empty for a response.</summary>
    public string Verb { get; init; } = string.Empty;

    /// <summary>The response code (000-999); 0 for a command.</summary>
    public int Code { get; init; }

    public uint TransactionId { get; init; }

    /// <summary>The endpoint name (local@domain); empty for a response.</summary>
    public string Endpoint { get; init; } = string.Empty;

    /// <summary>The protocol version after "MGCP" ("1.0", or "0.1" as Cisco IOS and CUCM speak it); empty for a response.</summary>
    public string Version { get; init; } = string.Empty;

    /// <summary>A response's commentary ("OK"); may be empty.</summary>
    public string Commentary { get; init; } = string.Empty;

    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];

    /// <summary>The session description (RFC 4566) after the empty line, or null.</summary>
    public string? Sdp { get; init; }

    /// <summary>The first value of a parameter (names are case-insensitive, §3.2.2), or null.</summary>
    public string? this[string name] => Parameters.FirstOrDefault(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public static MgcpMessage Command(string verb, uint transactionId, string endpoint, string version = "1.0", IReadOnlyList<KeyValuePair<string, string>>? parameters = null, string? sdp = null) =>
        new() { Verb = verb, TransactionId = transactionId, Endpoint = endpoint, Version = version, Parameters = parameters ?? [], Sdp = sdp };

    public static MgcpMessage Response(int code, uint transactionId, string commentary, IReadOnlyList<KeyValuePair<string, string>>? parameters = null, string? sdp = null) =>
        new() { IsResponse = true, Code = code, TransactionId = transactionId, Commentary = commentary, Parameters = parameters ?? [], Sdp = sdp };
}

/// <summary>Return codes used here (RFC 3435 §2.4).</summary>
public static class MgcpCodes
{
    public const int Ok = 200;
    public const int ProtocolError = 510;
    public const int UnknownCommand = 504;
    public const int UnsupportedRestartMethod = 536;
    public const int IncompatibleVersion = 528;
    public const int InvalidParameter = 539;
}

/// <summary>
/// Parses and writes MGCP datagrams (RFC 3435 §3.1-3.3). Lines end in CRLF or LF. A piggybacked message after a
/// "." line (§3.5.5) is not parsed: only the first message of a datagram counts.
/// </summary>
public static class MgcpCodec
{
    /// <summary>Longest datagram parsed (an MGCP message with SDP is a few hundred octets).</summary>
    public const int MaxMessageSize = 4096;

    public const int MaxParameters = 32;

    public const int MaxEndpointLength = 255;

    /// <summary>Highest transaction id (§3.2.1.2: 1 to 999,999,999).</summary>
    public const uint MaxTransactionId = 999_999_999;

    private const int MaxParameterName = 32;

    /// <summary>
    /// Parses one datagram. InvalidData with a reason, and the transaction id when the first line showed one
    /// (so an error response can name it), for anything that is not a well-formed command or response.
    /// </summary>
    public static OperationStatus TryParse(ReadOnlySpan<byte> datagram, out MgcpMessage? message, out uint transactionId, out string? error)
    {
        message = null;
        transactionId = 0;
        if (datagram.Length > MaxMessageSize)
        {
            error = $"longer than {MaxMessageSize} octets";
            return OperationStatus.InvalidData;
        }

        foreach (var b in datagram)
        {
            if ((b < 0x20 && b is not ((byte)'\r' or (byte)'\n' or (byte)'\t')) || b == 0x7F)
            {
                error = "control characters";
                return OperationStatus.InvalidData;
            }
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(datagram);
        }
        catch (DecoderFallbackException)
        {
            error = "not UTF-8 text";
            return OperationStatus.InvalidData;
        }

        var lines = new LineReader(text);
        if (!lines.Next(out var first) || first.Length == 0)
        {
            error = "no first line";
            return OperationStatus.InvalidData;
        }

        var parts = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            error = "no first line";
            return OperationStatus.InvalidData;
        }

        var isResponse = parts[0].Length == 3 && parts[0].All(char.IsAsciiDigit);
        if (parts.Length < 2 || !TryTransactionId(parts[1], out transactionId))
        {
            error = "no transaction id on the first line";
            return OperationStatus.InvalidData;
        }

        MgcpMessage header;
        if (isResponse)
        {
            var commentary = parts.Length > 2 ? first[(first.IndexOf(parts[1], StringComparison.Ordinal) + parts[1].Length)..].Trim() : string.Empty;
            header = MgcpMessage.Response(int.Parse(parts[0], CultureInfo.InvariantCulture), transactionId, commentary);
        }
        else
        {
            if (parts.Length != 5 || parts[0].Length != 4 || !parts[0].All(char.IsAsciiLetterOrDigit) || parts[3] != "MGCP")
            {
                error = "command line is not VERB TID ENDPOINT MGCP VERSION (§3.2.1)";
                return OperationStatus.InvalidData;
            }

            if (parts[2].Length > MaxEndpointLength || !parts[2].Contains('@'))
            {
                error = "endpoint is not local@domain or is too long (§2.1.1)";
                return OperationStatus.InvalidData;
            }

            header = MgcpMessage.Command(parts[0].ToUpperInvariant(), transactionId, parts[2], parts[4]);
        }

        var parameters = new List<KeyValuePair<string, string>>();
        string? sdp = null;
        while (lines.Next(out var line))
        {
            if (line == ".")
            {
                break;
            }

            if (line.Length == 0)
            {
                sdp = lines.Rest();
                var dot = sdp.IndexOf("\n.\n", StringComparison.Ordinal) is var i and >= 0 ? i : sdp.IndexOf("\r\n.\r\n", StringComparison.Ordinal);
                sdp = dot >= 0 ? sdp[..(dot + 1)] : sdp;
                sdp = sdp.Length == 0 ? null : sdp;
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 1 || colon > MaxParameterName || line.AsSpan(0, colon).ContainsAny(' ', '\t'))
            {
                error = "parameter line is not NAME: value (§3.2.2)";
                return OperationStatus.InvalidData;
            }

            if (parameters.Count == MaxParameters)
            {
                error = $"more than {MaxParameters} parameters";
                return OperationStatus.InvalidData;
            }

            parameters.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }

        message = header with { Parameters = parameters, Sdp = sdp };
        error = null;
        return OperationStatus.Done;
    }

    /// <summary>The message as it goes on the wire, lines ended by CRLF (SDP as given).</summary>
    public static string Format(MgcpMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var sb = new StringBuilder(256);
        var tid = message.TransactionId.ToString(CultureInfo.InvariantCulture);
        if (message.IsResponse)
        {
            sb.Append(message.Code.ToString("000", CultureInfo.InvariantCulture)).Append(' ').Append(tid);
            if (message.Commentary.Length > 0)
            {
                sb.Append(' ').Append(message.Commentary);
            }
        }
        else
        {
            sb.Append(message.Verb).Append(' ').Append(tid).Append(' ').Append(message.Endpoint).Append(" MGCP ").Append(message.Version);
        }

        sb.Append("\r\n");
        foreach (var (name, value) in message.Parameters)
        {
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (message.Sdp is not null)
        {
            sb.Append("\r\n").Append(message.Sdp);
        }

        return sb.ToString();
    }

    public static byte[] Encode(MgcpMessage message) => Encoding.UTF8.GetBytes(Format(message));

    private static bool TryTransactionId(string text, out uint id)
    {
        id = 0;
        return text.Length <= 9 && text.All(char.IsAsciiDigit) && uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id is >= 1 and <= MaxTransactionId;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private struct LineReader(string text)
    {
        private int _pos;

        public bool Next(out string line)
        {
            if (_pos >= text.Length)
            {
                line = string.Empty;
                return false;
            }

            var end = text.IndexOf('\n', _pos);
            var stop = end < 0 ? text.Length : end;
            line = text[_pos..(stop > _pos && text[stop - 1] == '\r' ? stop - 1 : stop)];
            _pos = end < 0 ? text.Length : end + 1;
            return true;
        }

        public readonly string Rest() => _pos >= text.Length ? string.Empty : text[_pos..];
    }
}

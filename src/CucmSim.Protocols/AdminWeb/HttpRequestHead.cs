using System.Buffers;
using System.Text;

namespace CucmSim.Protocols.AdminWeb;

/// <summary>Why a request head could not be read: the status to answer with before closing.</summary>
public enum HttpHeadStatus
{
    Done,
    NeedMoreData,
    BadRequest,
    TooLarge,
}

/// <summary>The request line and headers of one HTTP/1.x request (header names compared case-insensitively).</summary>
public sealed class HttpRequestHead
{
    /// <summary>The longest request head accepted (request line and headers); longer gets 431.</summary>
    public const int MaxHeadBytes = 16 * 1024;

    /// <summary>The most header lines accepted.</summary>
    public const int MaxHeaders = 100;

    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    private HttpRequestHead(string method, string target, string version, List<KeyValuePair<string, string>> headers)
    {
        Method = method;
        Target = target;
        Version = version;
        Headers = headers;
        var query = target.IndexOf('?', StringComparison.Ordinal);
        Path = query < 0 ? target : target[..query];
        Query = query < 0 ? string.Empty : target[(query + 1)..];
    }

    public string Method { get; }
    public string Target { get; }
    public string Path { get; }
    public string Query { get; }
    public string Version { get; }
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The first value of a header, or null.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>True when the connection stays open after the answer (HTTP/1.1 unless "close"; HTTP/1.0 only with keep-alive).</summary>
    public bool KeepAlive
    {
        get
        {
            var connection = Header("Connection");
            return Version == "HTTP/1.1"
                ? !string.Equals(connection, "close", StringComparison.OrdinalIgnoreCase)
                : string.Equals(connection, "keep-alive", StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>The declared body length: 0 without Content-Length, -1 when it is invalid or the body is chunked.</summary>
    public long ContentLength
    {
        get
        {
            if (Header("Transfer-Encoding") is not null)
            {
                return -1;
            }

            var text = Header("Content-Length");
            return text is null ? 0 : long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : -1;
        }
    }

    /// <summary>The value of one query parameter (URL-decoded), or null.</summary>
    public string? QueryValue(string name)
    {
        foreach (var part in Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString((eq < 0 ? part : part[..eq]).Replace('+', ' '));
            if (key == name)
            {
                return eq < 0 ? string.Empty : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
            }
        }

        return null;
    }

    /// <summary>
    /// Reads a request head from the start of <paramref name="buffer"/>. On <see cref="HttpHeadStatus.Done"/>,
    /// <paramref name="consumed"/> is where the body starts.
    /// </summary>
    public static HttpHeadStatus TryRead(in ReadOnlySequence<byte> buffer, out HttpRequestHead? head, out SequencePosition consumed)
    {
        head = null;
        consumed = buffer.Start;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> raw, HeadEnd, advancePastDelimiter: true))
        {
            return buffer.Length > MaxHeadBytes ? HttpHeadStatus.TooLarge : HttpHeadStatus.NeedMoreData;
        }

        if (raw.Length > MaxHeadBytes)
        {
            return HttpHeadStatus.TooLarge;
        }

        consumed = reader.Position;
        var text = Encoding.Latin1.GetString(raw);
        var lines = text.Split("\r\n");
        var request = lines[0].Split(' ');
        if (request.Length != 3 || request[0].Length == 0 || !request[0].All(char.IsAsciiLetterUpper) ||
            request[1].Length == 0 || request[1][0] != '/' || request[2] is not ("HTTP/1.1" or "HTTP/1.0") || lines.Length - 1 > MaxHeaders)
        {
            return HttpHeadStatus.BadRequest;
        }

        var headers = new List<KeyValuePair<string, string>>(lines.Length - 1);
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line.AsSpan(0, colon).ContainsAny(" \t"))
            {
                return HttpHeadStatus.BadRequest;
            }

            headers.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }

        head = new HttpRequestHead(request[0], request[1], request[2], headers);
        return HttpHeadStatus.Done;
    }
}

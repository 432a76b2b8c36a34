using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.AdminWeb;

/// <summary>
/// One HTTP/1.1 response, formatted byte for byte in the order a CUCM Tomcat writes it: the page's own headers
/// (X-Frame-Options, Set-Cookie), then Content-Type, Content-Length, Date, Connection and an empty Server header.
/// </summary>
public sealed record HttpResponse(int Status, string ContentType, byte[] Body)
{
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public static HttpResponse Text(int status, string contentType, string body) => new(status, contentType, Encoding.UTF8.GetBytes(body));

    public static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    };

    /// <summary>The response's bytes; <paramref name="head"/> leaves the body out (HEAD requests).</summary>
    public byte[] Format(DateTimeOffset now, bool close, bool head = false)
    {
        var sb = new StringBuilder(256);
        sb.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {Status} {Reason(Status)}\r\n");
        foreach (var (name, value) in Headers)
        {
            sb.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        sb.Append("Content-Type: ").Append(ContentType).Append("\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Content-Length: {Body.Length}\r\n");
        sb.Append("Date: ").Append(now.UtcDateTime.ToString("r", CultureInfo.InvariantCulture)).Append("\r\n");
        if (close)
        {
            sb.Append("Connection: close\r\n");
        }

        sb.Append("Server:  \r\n\r\n");
        var headBytes = Encoding.Latin1.GetBytes(sb.ToString());
        if (head || Body.Length == 0)
        {
            return headBytes;
        }

        var all = new byte[headBytes.Length + Body.Length];
        headBytes.CopyTo(all, 0);
        Body.CopyTo(all, headBytes.Length);
        return all;
    }
}

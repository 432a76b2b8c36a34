using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.AdminWeb;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.AdminWeb;

/// <summary>
/// The admin web of the node (the profile's browser HTTP and HTTPS listeners): the Tomcat default page on "/",
/// the ccmadmin login page, AXL SOAP on POST /axl/ and UDS REST under /cucm-uds/ (docs/admin-web.md). It speaks
/// HTTP/1.1 itself rather than through Kestrel's HTTP server so that the default page's headers come out in
/// the order CUCM's Tomcat writes them, which is what nmap -sV recognises.
/// </summary>
internal sealed partial class AdminWebProtocol(AdminWebOptions options) : ITcpProtocol
{
    private const string TextHtml = "text/html;charset=utf-8";
    private const string TextXml = "text/xml;charset=utf-8";
    private static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    public async Task RunAsync(ConnectionContext connection, ListenerRuntime listener, ServeContext context)
    {
        var log = context.Loggers.CreateLogger("CucmSim.AdminWeb");
        var session = connection.Features.Get<TcpSessionFeature>() ?? new TcpSessionFeature();
        session.Verdict = "admin-web";
        var tls = connection.Features.Get<ITlsHandshakeFeature>() is not null;
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var peer = session.PeerText ?? Text.EndPoint(connection.RemoteEndPoint);
        var local = connection.LocalEndPoint as IPEndPoint;
        var requests = 0;
        using var idle = new CancellationTokenSource(context.Limits.IdleTimeout, context.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, context.Stopping);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(linked.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = HttpRequestHead.TryRead(buffer, out var head, out var bodyStart);
                if (status == HttpHeadStatus.NeedMoreData)
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        session.BytesIn += buffer.Length;
                        break;
                    }

                    continue;
                }

                HttpResponse response;
                var close = true;
                string? operation = null;
                string outcome;
                if (status != HttpHeadStatus.Done || head is null)
                {
                    session.BytesIn += buffer.Length;
                    input.AdvanceTo(buffer.End);
                    (response, outcome) = status == HttpHeadStatus.TooLarge
                        ? (Page(431, "Request header fields too large"), "too-large")
                        : (Page(400, "Bad request"), "malformed");
                    Malformed(listener, log, peer, outcome);
                    await WriteAsync(output, response, context, session, close: true, head: false, linked.Token).ConfigureAwait(false);
                    Record(listener, context, peer, null, response.Status, outcome, null);
                    break;
                }

                var length = head.ContentLength;
                var axl = IsAxl(head.Path);
                if (length < 0 || length > options.MaxBodyBytes)
                {
                    // Not read: the rest of the stream is not a request to answer.
                    session.BytesIn += buffer.Length;
                    input.AdvanceTo(buffer.End);
                    outcome = length < 0 ? "no-length" : "too-large";
                    var message = length < 0 ? "request body needs a Content-Length" : $"request body over {options.MaxBodyBytes} bytes";
                    var code = length < 0 ? 411 : 413;
                    response = axl ? Soap(code, AxlMessages.Fault("Client", message)) : Page(code, message);
                    Malformed(listener, log, peer, outcome);
                    await WriteAsync(output, response, context, session, close: true, head: false, linked.Token).ConfigureAwait(false);
                    Record(listener, context, peer, head, response.Status, outcome, null);
                    break;
                }

                session.BytesIn += buffer.Slice(0, bodyStart).Length;
                input.AdvanceTo(bodyStart);
                if (length > 0 && string.Equals(head.Header("Expect"), "100-continue", StringComparison.OrdinalIgnoreCase))
                {
                    session.BytesOut += Continue.Length;
                    await output.WriteAsync(Continue, linked.Token).ConfigureAwait(false);
                }

                var body = await ReadBodyAsync(input, (int)length, linked.Token).ConfigureAwait(false);
                session.BytesIn += body?.Length ?? 0;
                if (body is null)
                {
                    break;
                }

                requests++;
                (response, outcome, operation) = Answer(head, body, tls, local, context, listener, log, peer);
                close = !head.KeepAlive;
                await WriteAsync(output, response, context, session, close, HttpMethodIsHead(head), linked.Token).ConfigureAwait(false);
                Record(listener, context, peer, head, response.Status, outcome, operation);
                idle.CancelAfter(context.Limits.IdleTimeout);
                if (close)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested || context.Stopping.IsCancellationRequested)
        {
        }

        (session.Detail ??= [])["requests"] = requests.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await input.CompleteAsync().ConfigureAwait(false);
        await output.CompleteAsync().ConfigureAwait(false);
    }

    private static bool HttpMethodIsHead(HttpRequestHead head) => head.Method == "HEAD";

    private static bool IsAxl(string path) => path is "/axl" or "/axl/";

    /// <summary>Reads exactly <paramref name="length"/> bytes of body; null when the peer closed first.</summary>
    private static async Task<byte[]?> ReadBodyAsync(PipeReader input, int length, CancellationToken cancellationToken)
    {
        if (length == 0)
        {
            return [];
        }

        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.Buffer.Length >= length)
            {
                var body = result.Buffer.Slice(0, length).ToArray();
                input.AdvanceTo(result.Buffer.GetPosition(length));
                return body;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    private (HttpResponse Response, string Outcome, string? Operation) Answer(HttpRequestHead head, byte[] body, bool tls, IPEndPoint? local, ServeContext context, ListenerRuntime listener, ILogger log, string peer)
    {
        var get = head.Method is "GET" or "HEAD";
        var path = head.Path;
        if (IsAxl(path))
        {
            if (!Authorized(head))
            {
                return (Unauthorized(), "unauthorized", null);
            }

            return head.Method == "POST"
                ? Axl(head, body, context, listener, log, peer)
                : get ? (Page(200, "Cisco CallManager: AXL Web Service", "The AXL Web Service is working and accepting requests. Use HTTP POST to send a request."), "page", null)
                : (Page(405, "Method not allowed"), "method", null);
        }

        if (!get)
        {
            return (Page(405, "Method not allowed"), "method", null);
        }

        if (path == "/")
        {
            return (DefaultPage(tls, context), "page", null);
        }

        if (path == "/ccmadmin" || path.StartsWith("/ccmadmin/", StringComparison.Ordinal))
        {
            return (LoginPage(tls), "page", null);
        }

        if (path.StartsWith("/cucm-uds/", StringComparison.Ordinal))
        {
            return Uds(head, tls, local, context);
        }

        return (Page(404, "Not found", $"cucmsim: {listener.Id} ({listener.Spec.Protocol}) is the admin web of the emulator, with no content at {System.Security.SecurityElement.Escape(path)}"), "not-found", null);
    }

    private (HttpResponse, string, string?) Axl(HttpRequestHead head, byte[] body, ServeContext context, ListenerRuntime listener, ILogger log, string peer)
    {
        var request = AxlMessages.Parse(body, out var error);
        if (request is null)
        {
            Malformed(listener, log, peer, error ?? "malformed");
            return (Soap(500, AxlMessages.Fault("Client", $"malformed SOAP request: {error}")), "malformed", null);
        }

        var action = AxlMessages.ActionOperation(head.Header("SOAPAction"));
        if (action is null || !string.Equals(action, request.Operation, StringComparison.Ordinal))
        {
            var message = action is null ? "SOAPAction header missing" : $"SOAPAction names {action}, the body {request.Operation}";
            return (Soap(500, AxlMessages.Fault("Client", message)), "fault", request.Operation);
        }

        var schema = options.Schema;
        var op = request.Operation;
        switch (op)
        {
            case "getCCMVersion":
                return (Soap(200, AxlMessages.GetCcmVersionResponse(schema, AxlVersion(context.Identity.Version))), "axl", op);
            case "listPhone":
                var pattern = request.Value("searchCriteria/name") ?? "%";
                var phones = context.Devices.Snapshot().Where(d => AxlMessages.Like(d.Name, pattern)).Select(Phone);
                return (Soap(200, AxlMessages.ListPhoneResponse(schema, phones)), "axl", op);
            case "getPhone":
                var name = request.Value("name");
                if (name is not null && context.Devices.TryGet(name, out var device) && device is not null)
                {
                    return (Soap(200, AxlMessages.GetPhoneResponse(schema, Phone(device))), "axl", op);
                }

                return (Soap(500, AxlMessages.Fault("Client", $"Item not valid: The specified {name} was not found", 5007, op)), "fault", op);
            case "executeSQLQuery":
                return (Soap(500, AxlMessages.Fault("Client", "executeSQLQuery is not served by this node: it holds no database", -1, op)), "fault", op);
            default:
                return (Soap(500, AxlMessages.Fault("Client", $"{op} is not an operation this node serves (getCCMVersion, listPhone, getPhone)", 5000, op)), "fault", op);
        }
    }

    private static (HttpResponse, string, string?) Uds(HttpRequestHead head, bool tls, IPEndPoint? local, ServeContext context)
    {
        var version = UdsVersion(context.Identity.Version);
        var host = head.Header("Host") ?? (local is null ? context.Identity.HostName : Text.EndPoint(local));
        var baseUri = $"{(tls ? "https" : "http")}://{host}/cucm-uds";
        var parts = head.Path["/cucm-uds/".Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        var users = context.Devices.Snapshot().Select(d => new UdsUser(d.Name, d.Name, [new UdsDevice(d.Name, d.Type, d.Protocol.ToUpperInvariant())])).ToList();
        switch (parts)
        {
            case ["version"]:
                return (Xml(200, UdsMessages.Version(version, baseUri)), "uds", "version");
            case ["servers"]:
                return (Xml(200, UdsMessages.Servers(version, baseUri, [context.Identity.HostName])), "uds", "servers");
            case ["users"]:
                var name = head.QueryValue("name") ?? head.QueryValue("username") ?? string.Empty;
                var found = users.Where(u => u.UserName.Contains(name.Replace("*", string.Empty, StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase)).ToList();
                return (Xml(200, UdsMessages.Users(version, baseUri, found)), "uds", "users");
            case ["user", var id, "devices"]:
                var user = users.FirstOrDefault(u => string.Equals(u.Id, Uri.UnescapeDataString(id), StringComparison.OrdinalIgnoreCase));
                return user is null
                    ? (Xml(404, UdsMessages.Error($"user {Uri.UnescapeDataString(id)} not found")), "not-found", "devices")
                    : (Xml(200, UdsMessages.Devices(version, baseUri, user)), "uds", "devices");
            default:
                return (Xml(404, UdsMessages.Error("no such resource")), "not-found", null);
        }
    }

    private static AxlPhone Phone(DeviceRecord device) =>
        new(device.Name, device.Type, device.Protocol.ToUpperInvariant(), $"registered from {device.SeenAddress}");

    /// <summary>"14.0.1.13900-155" as AXL writes it: "14.0.1.13900(155)".</summary>
    private static string AxlVersion(string version)
    {
        var dash = version.LastIndexOf('-');
        return dash < 0 ? version : $"{version[..dash]}({version[(dash + 1)..]})";
    }

    /// <summary>"14.0.1.13900-155" as UDS writes it: "14.0.1".</summary>
    private static string UdsVersion(string version) => string.Join('.', version.Split('.', '-').Take(3));

    private bool Authorized(HttpRequestHead head)
    {
        var header = head.Header("Authorization");
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        try
        {
            var given = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim())));
            var expected = Encoding.UTF8.GetBytes($"{options.User}:{options.Password}");
            return CryptographicOperations.FixedTimeEquals(given, expected);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static HttpResponse Unauthorized() => Page(401, "Unauthorized") with
    {
        Headers = [new("WWW-Authenticate", "Basic realm=\"Cisco AXL API\"")],
    };

    /// <summary>The Tomcat default page CUCM serves on "/" (what nmap's http probes name).</summary>
    private static HttpResponse DefaultPage(bool tls, ServeContext context)
    {
        var body = $"""
            <!-- default page when just a URL is entered (e.g. - http://ipaddress) -->
            <!DOCTYPE html>
            <html><head><title>Cisco Unified Communications Manager</title><meta http-equiv="Content-Type" content="text/html; charset=utf-8"/></head>
            <body><h1>Installed Applications</h1><ul>
            <li><a href="/ccmadmin/showHome.do">Cisco Unified Communications Manager</a></li>
            <li><a href="/ccmuser/">Cisco Unified Communications Self Care Portal</a></li>
            <li><a href="/cmplatform/">Cisco Unified OS Administration</a></li>
            <li><a href="/ccmservice/">Cisco Unified Serviceability</a></li>
            </ul><p>Version {System.Security.SecurityElement.Escape(context.Identity.Version)}</p></body></html>

            """;
        return Session(HttpResponse.Text(200, TextHtml, body), tls);
    }

    private static HttpResponse LoginPage(bool tls)
    {
        const string body = """
            <!DOCTYPE html>
            <html><head><title>Cisco Unified CM Console</title><meta http-equiv="Content-Type" content="text/html; charset=utf-8"/></head>
            <body><h1>Cisco Unified Communications Manager Administration</h1>
            <form method="post" action="/ccmadmin/j_security_check" name="logonForm">
            <label for="j_username">Username</label><input type="text" id="j_username" name="j_username"/>
            <label for="j_password">Password</label><input type="password" id="j_password" name="j_password"/>
            <input type="submit" value="Login"/></form></body></html>

            """;
        return Session(HttpResponse.Text(200, TextHtml, body), tls);
    }

    /// <summary>A Tomcat session cookie and the frame option CUCM's pages carry.</summary>
    private static HttpResponse Session(HttpResponse response, bool tls) => response with
    {
        Headers =
        [
            new("X-Frame-Options", "SAMEORIGIN"),
            new("Set-Cookie", $"JSESSIONID={Convert.ToHexString(RandomNumberGenerator.GetBytes(16))}; Path=/;{(tls ? " Secure;" : string.Empty)} HttpOnly"),
        ],
    };

    private static HttpResponse Page(int status, string title, string? text = null) =>
        HttpResponse.Text(status, TextHtml, $"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1>{(text is null ? string.Empty : $"<p>{text}</p>")}</body></html>\n");

    private static HttpResponse Soap(int status, string xml) => HttpResponse.Text(status, TextXml, xml);

    private static HttpResponse Xml(int status, string xml) => HttpResponse.Text(status, "application/xml;charset=utf-8", xml);

    private static async Task WriteAsync(PipeWriter output, HttpResponse response, ServeContext context, TcpSessionFeature session, bool close, bool head, CancellationToken cancellationToken)
    {
        var bytes = response.Format(context.Time.GetUtcNow(), close, head);
        session.BytesOut += bytes.Length;
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    private static void Record(ListenerRuntime listener, ServeContext context, string peer, HttpRequestHead? head, int status, string outcome, string? operation)
    {
        var detail = new Dictionary<string, string>
        {
            ["status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (head is not null)
        {
            detail["method"] = head.Method;
            detail["path"] = head.Path.Length > 256 ? head.Path[..256] : head.Path;
        }

        if (operation is not null)
        {
            detail["operation"] = operation;
        }

        context.Ledger.Append(listener.Record("admin-web", listener.LocalText, peer) with { Verdict = outcome, Detail = detail });
    }

    private static void Malformed(ListenerRuntime listener, ILogger log, string peer, string reason)
    {
        listener.MalformedInput();
        LogMalformed(log, listener.Id, peer, reason);
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "{Listener} {Peer}: malformed admin web request: {Reason}")]
    private static partial void LogMalformed(ILogger logger, string listener, string peer, string reason);
}

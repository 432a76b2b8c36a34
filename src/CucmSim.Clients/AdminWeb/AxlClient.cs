using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Xml.Linq;

namespace CucmSim.Clients.AdminWeb;

/// <summary>One answer of the admin web: the HTTP status and the body (XML for AXL and UDS).</summary>
public sealed record AdminWebAnswer(HttpStatusCode Status, string Body)
{
    /// <summary>The body as XML (throws when it is not well formed).</summary>
    public XDocument Xml => XDocument.Parse(Body);

    /// <summary>The text of the first element with this local name anywhere in the body, or null.</summary>
    public string? Element(string localName) => Xml.Descendants().FirstOrDefault(e => e.Name.LocalName == localName)?.Value;
}

/// <summary>
/// A client of CUCM's AXL SOAP API (POST /axl/ with basic auth and SOAPAction) and UDS REST (/cucm-uds/), as
/// the tests and probe use it. Certificates are not validated: the point is the path, not the trust.
/// </summary>
public sealed class AxlClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _schema;

    public AxlClient(Uri baseAddress, string user, string password, string schema = "14.0", TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        _schema = schema;
    }

    public Task<AdminWebAnswer> GetCcmVersionAsync(CancellationToken cancellationToken = default) =>
        CallAsync("getCCMVersion", string.Empty, cancellationToken);

    /// <summary>listPhone with a name pattern (SQL LIKE: % matches any run).</summary>
    public Task<AdminWebAnswer> ListPhoneAsync(string namePattern = "%", CancellationToken cancellationToken = default) =>
        CallAsync("listPhone", $"<searchCriteria><name>{Escape(namePattern)}</name></searchCriteria><returnedTags><name/><model/></returnedTags>", cancellationToken);

    public Task<AdminWebAnswer> GetPhoneAsync(string name, CancellationToken cancellationToken = default) =>
        CallAsync("getPhone", $"<name>{Escape(name)}</name>", cancellationToken);

    public Task<AdminWebAnswer> ExecuteSqlQueryAsync(string sql, CancellationToken cancellationToken = default) =>
        CallAsync("executeSQLQuery", $"<sql>{Escape(sql)}</sql>", cancellationToken);

    /// <summary>Any AXL operation with its inner XML (the elements inside the operation's element).</summary>
    public Task<AdminWebAnswer> CallAsync(string operation, string innerXml, CancellationToken cancellationToken = default) =>
        PostAsync(operation, Envelope(operation, innerXml), cancellationToken);

    /// <summary>Posts a raw body to /axl/ with the SOAPAction of <paramref name="operation"/> (malformed input tests).</summary>
    public async Task<AdminWebAnswer> PostAsync(string operation, string body, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/axl/")
        {
            Content = new StringContent(body, Encoding.UTF8, "text/xml"),
        };
        request.Headers.TryAddWithoutValidation("SOAPAction", $"\"CUCM:DB ver={_schema} {operation}\"");
        return await SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET a UDS resource below /cucm-uds/ ("version", "servers", "users?name=x", "user/x/devices").</summary>
    public async Task<AdminWebAnswer> UdsAsync(string resource, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/cucm-uds/" + resource);
        return await SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    private async Task<AdminWebAnswer> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return new AdminWebAnswer(response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    private string Envelope(string operation, string innerXml) =>
        $"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"http://www.cisco.com/AXL/API/{_schema}\">" +
        $"<soapenv:Header/><soapenv:Body><ns:{operation}>{innerXml}</ns:{operation}></soapenv:Body></soapenv:Envelope>";

    private static string Escape(string text) => System.Security.SecurityElement.Escape(text) ?? string.Empty;
}

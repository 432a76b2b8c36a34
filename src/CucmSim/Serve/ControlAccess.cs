using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Serve;

/// <summary>
/// Who may use the control API. Bound to loopback (the default) it is open to this host's users, as before. Bound to
/// any other address it asks for a token: the one given (--control-token, or the CUCMSIM_CONTROL_TOKEN variable), or
/// one made at start, printed once and kept in the state directory's control-token file (mode 0600). A request
/// carries it as "Authorization: Bearer TOKEN", or in a browser as ?token=TOKEN once, which sets an HttpOnly cookie
/// for the dashboard's own requests. /healthz stays open: container health checks call it, and it tells only
/// whether every listener is up.
/// </summary>
public sealed class ControlAccess
{
    public const string EnvironmentVariable = "CUCMSIM_CONTROL_TOKEN";
    public const string CookieName = "cucmsim_control";
    public const string FileName = "control-token";
    public const int MinimumLength = 16;

    private readonly byte[]? _token;

    private ControlAccess(string? token, string? file, bool generated)
    {
        Token = token;
        File = file;
        Generated = generated;
        _token = token is null ? null : Encoding.UTF8.GetBytes(token);
    }

    /// <summary>The token every request must carry; null when none is needed (loopback without --control-token).</summary>
    public string? Token { get; }

    /// <summary>Where a generated token was written (null when the token was given, or none is needed).</summary>
    public string? File { get; }

    /// <summary>True when serve made the token at this start (it is printed once).</summary>
    public bool Generated { get; }

    /// <summary>The access rule for a control API on <paramref name="endPoint"/>.</summary>
    public static ControlAccess For(IPEndPoint endPoint, string? token, string stateDirectory)
    {
        if (token is not null)
        {
            return new ControlAccess(token, null, false);
        }

        if (IPAddress.IsLoopback(endPoint.Address))
        {
            return new ControlAccess(null, null, false);
        }

        var made = Base64Url(RandomNumberGenerator.GetBytes(24));
        var file = Path.Combine(stateDirectory, FileName);
        StateDirectory.WritePrivate(file, Encoding.ASCII.GetBytes(made + "\n"));
        return new ControlAccess(made, Path.GetFullPath(file), true);
    }

    /// <summary>The problem with a token given on the command line, or null.</summary>
    public static string? Problem(string token) =>
        token.Length < MinimumLength ? $"a control token is at least {MinimumLength} characters" :
        token.Any(c => c <= ' ' || c > '~') ? "a control token is printable ASCII without spaces" : null;

    /// <summary>
    /// True when the request may go on. A valid ?token= also sets the cookie, so that the dashboard's scripts
    /// (fetch, EventSource) carry it without seeing it.
    /// </summary>
    public bool Admit(HttpContext http)
    {
        if (_token is null || http.Request.Path == "/healthz")
        {
            return true;
        }

        var authorization = http.Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Matches(authorization["Bearer ".Length..].Trim()))
        {
            return true;
        }

        if (http.Request.Cookies.TryGetValue(CookieName, out var cookie) && Matches(cookie))
        {
            return true;
        }

        if (http.Request.Query.TryGetValue("token", out var query) && Matches(query.ToString()))
        {
            http.Response.Cookies.Append(CookieName, query.ToString(), new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Path = "/",
                Secure = http.Request.IsHttps,
            });
            return true;
        }

        return false;
    }

    /// <summary>401 with the scheme to use.</summary>
    public static Task RefuseAsync(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = "Bearer realm=\"cucmsim\"";
        http.Response.ContentType = "text/plain; charset=utf-8";
        return http.Response.WriteAsync(
            "cucmsim: the control API needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN in a browser " +
            "(serve printed it at start, and keeps a generated one in its state directory's control-token file)\n", http.RequestAborted);
    }

    private bool Matches(string candidate) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(candidate), _token);

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

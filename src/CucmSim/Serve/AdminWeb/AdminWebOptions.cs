namespace CucmSim.Serve.AdminWeb;

/// <summary>How the admin web listeners (the profile's browser HTTP/HTTPS flows) answer: AXL credentials and limits.</summary>
public sealed record AdminWebOptions
{
    /// <summary>The AXL application user (HTTP basic auth on POST /axl/).</summary>
    public string User { get; init; } = "administrator";

    public string Password { get; init; } = "cucmsim";

    /// <summary>The largest request body accepted; larger gets 413 (with a SOAP fault on /axl/) and the connection closes.</summary>
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>The AXL schema version in response namespaces (http://www.cisco.com/AXL/API/&lt;schema&gt;).</summary>
    public string Schema { get; init; } = "14.0";
}

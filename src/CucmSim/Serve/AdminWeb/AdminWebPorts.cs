using System.Net.Security;
using CucmSim.Catalog;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace CucmSim.Serve.AdminWeb;

/// <summary>Which HTTP(S) listeners of the profile are the admin web: those a browser reaches (table 4 of the guide).</summary>
internal static class AdminWebPorts
{
    public static bool IsAdminWeb(IEnumerable<Flow> flows) =>
        flows.Any(f => f.From == "browser" && f.Protocol is "http" or "https") && !flows.Any(Tftp.ProvisioningPorts.IsProvisioningFlow);

    /// <summary>The tomcat identity, offering only HTTP/1.1 in ALPN (the admin web speaks HTTP/1.1 itself).</summary>
    public static HttpsConnectionAdapterOptions Tls(CertificateService certificates)
    {
        var options = certificates.TlsOptions("tomcat");
        options.OnAuthenticate = (_, ssl) => ssl.ApplicationProtocols = [SslApplicationProtocol.Http11];
        return options;
    }
}

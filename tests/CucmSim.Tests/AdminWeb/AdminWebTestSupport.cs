using System.Globalization;
using System.Net;
using CucmSim.Serve;
using CucmSim.Serve.AdminWeb;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.AdminWeb;

internal static class AdminWebTestSupport
{
    public const string User = "axluser";
    public const string Password = "axl-secret";

    /// <summary>The admin web (80, 8080, 443, 8443), CTI (2748, 2749, 2789) and the TLS-only services (2444, 2445, 3804) on ephemeral ports.</summary>
    public static Task<SimServer> StartAsync(AdminWebOptions? options = null, params string[] moreFlows) =>
        SimHost.StartAsync(new ServeOptions
        {
            Only = ["t4.http", "t4.https", "t8.cti", "t8.cti-tls", "t8.jtapi", "t8.ctl-provider", "t6.tvs", "t6.capf", .. moreFlows],
            EphemeralPorts = true,
            AdminWeb = options ?? new AdminWebOptions { User = User, Password = Password },
            Identity = new ServerIdentity { HostName = "cucm-test", ExternalAddress = IPAddress.Loopback },
            Certificates = new CertificateOptions { HostNames = ["cucm-test"] },
        });

    public static string Port(this SimServer server, string listener) => server.EndPoint(listener).Port.ToString(CultureInfo.InvariantCulture);

    public static void RegisterPhones(SimServer server)
    {
        server.Context.Devices.Register(new DeviceRecord("SEP001122334455", "sccp", "Cisco 7962", 20, "10.1.1.5", "127.0.0.1:40000", "tcp/2000", DateTimeOffset.UtcNow));
        server.Context.Devices.Register(new DeviceRecord("2001", "sip", "SIP", null, "10.1.1.6", "127.0.0.1:5062", "udp/5060", DateTimeOffset.UtcNow));
    }

    public static string Envelope(string operation, string inner = "") =>
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"http://www.cisco.com/AXL/API/14.0\">" +
        $"<soapenv:Body><ns:{operation}>{inner}</ns:{operation}></soapenv:Body></soapenv:Envelope>";
}

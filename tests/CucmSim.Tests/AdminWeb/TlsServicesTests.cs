using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Tests.Infrastructure;
using static CucmSim.Tests.AdminWeb.AdminWebTestSupport;

namespace CucmSim.Tests.AdminWeb;

/// <summary>The TLS-only services (CTL provider, TVS, CAPF), CTI over TLS and clear CTI: identity, hold and record.</summary>
public sealed class TlsServicesTests
{
    [Theory]
    [InlineData("tcp/2444", "CN = CallManager-cucm-test", "ctl")]
    [InlineData("tcp/2445", "CN = TVS-cucm-test", "tvs")]
    [InlineData("tcp/3804", "CN = CAPF-cucm-test", "capf")]
    [InlineData("tcp/2749", "CN = CallManager-cucm-test", "cti")]
    [InlineData("tcp/8443", "CN = tomcat-cucm-test", "admin-web")]
    public async Task Openssl_sees_the_identity_and_the_connection_is_recorded(string listener, string subject, string verdict)
    {
        await using var server = await StartAsync();
        var target = server.EndPoint(listener);
        // s_client sends the line once the handshake is done, then closes when its input ends.
        var script = $"(printf 'HELLO-{verdict}\\r\\n\\r\\n'; sleep 1) | openssl s_client -connect {target} -servername cucm-test 2>&1";
        var result = await ExternalTool.RunAsync("sh", ["-c", script], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains(subject, result.All, StringComparison.Ordinal);

        var closed = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == listener);
        Assert.Equal(verdict, closed.Verdict);
        if (verdict != "admin-web")
        {
            Assert.Equal($"HELLO-{verdict}\\r\\n\\r\\n", closed.Detail!["first"]);
            Assert.StartsWith("Tls", closed.Detail["tls"], StringComparison.Ordinal);
            Assert.Equal(Encoding.ASCII.GetByteCount($"HELLO-{verdict}\r\n\r\n"), closed.BytesIn);
        }
    }

    [Theory]
    [InlineData("tcp/2748")]
    [InlineData("tcp/2789")]
    public async Task Clear_cti_holds_and_records_what_arrived(string listener)
    {
        await using var server = await StartAsync();
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, server.EndPoint(listener).Port).DefaultTimeout();
            await tcp.GetStream().WriteAsync(new byte[] { 0x00, 0x00, 0x00, 0x10, 0x01, 0x02 }).AsTask().DefaultTimeout();
            var open = await server.WaitForRecordAsync(r => r.Kind == "tcp-open" && r.Listener == listener);
            Assert.NotNull(open);
        }

        var closed = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == listener);
        Assert.Equal("cti", closed.Verdict);
        Assert.Equal(6, closed.BytesIn);
        Assert.Equal(0, closed.BytesOut);
        Assert.Equal("\\x00\\x00\\x00\\x10\\x01\\x02", closed.Detail!["first"]);
    }
}

using CucmSim.Tests.Infrastructure;
using static CucmSim.Tests.AdminWeb.AdminWebTestSupport;

namespace CucmSim.Tests.AdminWeb;

/// <summary>curl, xmllint and nmap against the admin web: pages, AXL SOAP and UDS REST.</summary>
public sealed class AdminWebRealClientTests
{
    /// <summary>Runs curl, writes the body to a file and returns the status code and the file.</summary>
    private static async Task<(string Status, string File)> CurlAsync(string url, params string[] extra)
    {
        var file = Path.Combine(Path.GetTempPath(), $"cucmsim-web-{Guid.NewGuid():N}");
        var result = await ExternalTool.RunAsync("curl", ["-sk", "-m", "10", "-o", file, "-w", "%{http_code}", .. extra, url], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.True(result.ExitCode == 0, result.All);
        return (result.Stdout.Trim(), file);
    }

    private static async Task<string> XmllintAsync(string file, bool html = false, string? xpath = null)
    {
        List<string> args = html ? ["--html", "--noout"] : xpath is null ? ["--noout"] : ["--xpath", xpath];
        var result = await ExternalTool.RunAsync("xmllint", [.. args, file], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, $"xmllint {string.Join(' ', args)} {file}: {result.All}\n{await File.ReadAllTextAsync(file)}");
        return result.Stdout.Trim();
    }

    private static Task<(string Status, string File)> AxlAsync(string baseUrl, string operation, string inner = "", string user = User, string password = Password) =>
        CurlAsync($"{baseUrl}/axl/", "-u", $"{user}:{password}", "-H", "Content-Type: text/xml", "-H", $"SOAPAction: \"CUCM:DB ver=14.0 {operation}\"", "--data-binary", Envelope(operation, inner));

    [Theory]
    [InlineData("tcp/80", "http")]
    [InlineData("tcp/8080", "http")]
    [InlineData("tcp/443", "https")]
    [InlineData("tcp/8443", "https")]
    public async Task Every_page_and_answer_is_well_formed(string listener, string scheme)
    {
        await using var server = await StartAsync();
        RegisterPhones(server);
        var baseUrl = $"{scheme}://127.0.0.1:{server.Port(listener)}";

        foreach (var page in new[] { "/", "/ccmadmin/" })
        {
            var (status, file) = await CurlAsync(baseUrl + page);
            Assert.Equal("200", status);
            await XmllintAsync(file, html: true);
        }

        var (_, home) = await CurlAsync(baseUrl + "/");
        Assert.StartsWith("<!-- default page when just a URL is entered", await File.ReadAllTextAsync(home), StringComparison.Ordinal);

        (string Resource, string Expect)[] uds =
        [
            ("version", "string(/versionInformation/version)"),
            ("servers", "string(/servers/server/host)"),
            ("users?name=SEP", "string(/users/user/userName)"),
            ("user/SEP001122334455/devices", "string(/devices/device/name)"),
        ];
        string[] expected = ["14.0.1", "cucm-test", "SEP001122334455", "SEP001122334455"];
        for (var i = 0; i < uds.Length; i++)
        {
            var (status, file) = await CurlAsync($"{baseUrl}/cucm-uds/{uds[i].Resource}");
            Assert.Equal("200", status);
            Assert.Equal(expected[i], await XmllintAsync(file, xpath: uds[i].Expect));
        }

        var (missingStatus, missing) = await CurlAsync($"{baseUrl}/cucm-uds/user/nobody/devices");
        Assert.Equal("404", missingStatus);
        await XmllintAsync(missing);

        var (versionStatus, version) = await AxlAsync(baseUrl, "getCCMVersion");
        Assert.Equal("200", versionStatus);
        Assert.Equal("14.0.1.13900(155)", await XmllintAsync(version, xpath: "string(//*[local-name()='version'])"));

        var (listStatus, list) = await AxlAsync(baseUrl, "listPhone", "<searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/></returnedTags>");
        Assert.Equal("200", listStatus);
        Assert.Equal("1", await XmllintAsync(list, xpath: "count(//phone)"));
        Assert.Equal("SEP001122334455", await XmllintAsync(list, xpath: "string(//phone/name)"));

        // A client that asks "Expect: 100-continue" gets the interim answer, then the final one.
        var bodyFile = Path.Combine(Path.GetTempPath(), $"cucmsim-axl-{Guid.NewGuid():N}.xml");
        await File.WriteAllTextAsync(bodyFile, Envelope("getPhone", "<name>2001</name>" + new string(' ', 100_000)));
        var expect = await ExternalTool.RunAsync("curl", ["-vsk", "-m", "10", "-u", $"{User}:{Password}", "-H", "Expect: 100-continue", "-H", "SOAPAction: getPhone", "--data-binary", "@" + bodyFile, $"{baseUrl}/axl/"], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.Contains("HTTP/1.1 100 Continue", expect.Stderr, StringComparison.Ordinal);
        Assert.Contains("<name>2001</name>", expect.Stdout, StringComparison.Ordinal);

        var (getStatus, get) = await AxlAsync(baseUrl, "getPhone", "<name>2001</name>");
        Assert.Equal("200", getStatus);
        Assert.Equal("SIP", await XmllintAsync(get, xpath: "string(//phone/protocol)"));

        foreach (var (operation, inner, code) in new[] { ("getPhone", "<name>SEPFFFFFFFFFFFF</name>", "5007"), ("executeSQLQuery", "<sql>select * from device</sql>", "-1"), ("addPhone", "<phone/>", "5000") })
        {
            var (faultStatus, fault) = await AxlAsync(baseUrl, operation, inner);
            Assert.Equal("500", faultStatus);
            Assert.Equal("soapenv:Client", await XmllintAsync(fault, xpath: "string(//faultcode)"));
            Assert.Equal(code, await XmllintAsync(fault, xpath: "string(//axlcode)"));
        }
    }

    [Fact]
    public async Task A_wrong_password_or_none_gets_401()
    {
        await using var server = await StartAsync();
        var baseUrl = $"https://127.0.0.1:{server.Port("tcp/8443")}";
        var (wrong, body) = await AxlAsync(baseUrl, "getCCMVersion", password: "not-it");
        Assert.Equal("401", wrong);
        await XmllintAsync(body, html: true);

        var none = await ExternalTool.RunAsync("curl", ["-sk", "-m", "10", "-D", "-", "-o", "/dev/null", "--data-binary", Envelope("getCCMVersion"), $"{baseUrl}/axl/"], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.StartsWith("HTTP/1.1 401", none.Stdout, StringComparison.Ordinal);
        Assert.Contains("WWW-Authenticate: Basic realm=", none.Stdout, StringComparison.Ordinal);

        var record = await server.WaitForRecordAsync(r => r.Kind == "admin-web" && r.Verdict == "unauthorized");
        Assert.Equal("401", record.Detail!["status"]);
    }
}

/// <summary>
/// nmap's service detection against the admin web. nmap gives each probe a fixed wait (5 s for its HTTP GET, which is
/// what names the server); with the load tests running beside it on two cores, a TLS answer once came later than that
/// and nmap named the port by its next probe instead ("ssl/unknown"). So it runs in the collection that runs alone.
/// </summary>
[Collection("real ports")]
public sealed class AdminWebNmapTests
{
    [Fact]
    public async Task Nmap_names_the_admin_web_cisco_unified_communications_manager_httpd()
    {
        await using var server = await StartAsync();
        var ports = string.Join(',', new[] { "tcp/80", "tcp/443", "tcp/8080", "tcp/8443" }.Select(server.Port));
        var nmap = await ExternalTool.RunAsync("nmap", ["-sV", "-sT", "-Pn", "-n", "--version-intensity", "5", "-p", ports, "127.0.0.1"], TimeSpan.FromSeconds(150)).DefaultTimeout(TimeSpan.FromSeconds(160));
        Assert.True(nmap.ExitCode == 0, nmap.All);
        var named = nmap.Stdout.Split('\n').Count(l => l.Contains("Cisco Unified Communications Manager httpd", StringComparison.Ordinal));
        Assert.True(named == 4, nmap.Stdout);
        Assert.Contains("ssl/http", nmap.Stdout, StringComparison.Ordinal);
    }
}

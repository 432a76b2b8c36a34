using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.AdminWeb;
using CucmSim.Clients.Sip;
using CucmSim.Protocols.AdminWeb;
using CucmSim.Serve.AdminWeb;
using CucmSim.Tests.Infrastructure;
using static CucmSim.Tests.AdminWeb.AdminWebTestSupport;

namespace CucmSim.Tests.AdminWeb;

/// <summary>AXL through the .NET client, and input that is malformed, oversized, truncated or random.</summary>
public sealed class AxlInputTests
{
    private static AxlClient Client(CucmSim.Serve.SimServer server, string listener = "tcp/8443", string scheme = "https") =>
        new(new Uri($"{scheme}://127.0.0.1:{server.Port(listener)}"), User, Password);

    [Fact]
    public async Task The_client_reads_version_phones_and_faults()
    {
        await using var server = await StartAsync();
        RegisterPhones(server);
        using var axl = Client(server);
        var version = await axl.GetCcmVersionAsync().DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, version.Status);
        Assert.Equal("14.0.1.13900(155)", version.Element("version"));

        var all = await axl.ListPhoneAsync().DefaultTimeout();
        Assert.Equal(["2001", "SEP001122334455"], all.Xml.Descendants("phone").Select(p => p.Element("name")!.Value));

        Assert.True(server.Context.Devices.Unregister("2001"));
        var after = await axl.ListPhoneAsync().DefaultTimeout();
        Assert.Equal(["SEP001122334455"], after.Xml.Descendants("phone").Select(p => p.Element("name")!.Value));

        var sql = await axl.ExecuteSqlQueryAsync("select name from device").DefaultTimeout();
        Assert.Equal(HttpStatusCode.InternalServerError, sql.Status);
        Assert.Equal("soapenv:Client", sql.Element("faultcode"));

        var uds = await axl.UdsAsync("users?name=SEP0011").DefaultTimeout();
        Assert.Equal("SEP001122334455", uds.Element("userName"));
    }

    [Fact]
    public async Task A_phone_registered_over_sip_is_listed_until_it_unregisters()
    {
        await using var server = await StartAsync(null, "t6.sip");
        await using var sip = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint("udp/5060") }).DefaultTimeout();
        Assert.True((await sip.RegisterAsync("2002", null).DefaultTimeout()).Ok);

        using var axl = Client(server, "tcp/443");
        var listed = await axl.ListPhoneAsync("20%").DefaultTimeout();
        Assert.Equal(["2002"], listed.Xml.Descendants("phone").Select(p => p.Element("name")!.Value));
        Assert.Equal("SIP", (await axl.GetPhoneAsync("2002").DefaultTimeout()).Element("protocol"));
        Assert.Equal("2002", (await axl.UdsAsync("user/2002/devices").DefaultTimeout()).Element("name"));

        Assert.True((await sip.RegisterAsync("2002", null, expires: 0).DefaultTimeout()).Ok);
        Assert.Empty((await axl.ListPhoneAsync("20%").DefaultTimeout()).Xml.Descendants("phone"));
        Assert.Equal(HttpStatusCode.NotFound, (await axl.UdsAsync("user/2002/devices").DefaultTimeout()).Status);
    }

    [Theory]
    [InlineData("<soapenv:Envelope><unclosed")]
    [InlineData("not xml at all")]
    [InlineData("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>")]
    [InlineData("<x:Envelope xmlns:x=\"urn:other\"><x:Body><getCCMVersion/></x:Body></x:Envelope>")]
    [InlineData("")]
    public async Task Malformed_soap_gets_a_fault_a_counter_and_a_record(string body)
    {
        await using var server = await StartAsync();
        using var axl = Client(server, "tcp/80", "http");
        var answer = await axl.PostAsync("getCCMVersion", body).DefaultTimeout();
        Assert.Equal(HttpStatusCode.InternalServerError, answer.Status);
        Assert.Equal("soapenv:Client", answer.Element("faultcode"));
        Assert.Equal(1, server.Listeners.Single(l => l.Id == "tcp/80").Malformed);
        await server.WaitForRecordAsync(r => r.Kind == "admin-web" && r.Verdict == "malformed");

        // The same connection and server go on answering.
        Assert.Equal(HttpStatusCode.OK, (await axl.GetCcmVersionAsync().DefaultTimeout()).Status);
    }

    [Fact]
    public async Task An_oversized_body_gets_413_with_a_fault_and_the_connection_closes()
    {
        await using var server = await StartAsync(new AdminWebOptions { User = User, Password = Password, MaxBodyBytes = 4096 });
        using var axl = Client(server);
        var big = Envelope("getCCMVersion", new string('x', 8192));
        var answer = await axl.PostAsync("getCCMVersion", big).DefaultTimeout();
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, answer.Status);
        Assert.Equal("soapenv:Client", answer.Element("faultcode"));
        Assert.Equal(1, server.Listeners.Single(l => l.Id == "tcp/8443").Malformed);
        Assert.Equal(HttpStatusCode.OK, (await axl.GetCcmVersionAsync().DefaultTimeout()).Status);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n", "400")]
    [InlineData("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411")]
    [InlineData("GET /axl/ HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", "413")]
    public async Task Raw_bad_requests_get_their_status_and_a_close(string request, string status)
    {
        await using var server = await StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.EndPoint("tcp/80").Port).DefaultTimeout();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().DefaultTimeout();
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var answer = await reader.ReadToEndAsync().DefaultTimeout();
        Assert.StartsWith($"HTTP/1.1 {status} ", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_head_gets_431()
    {
        await using var server = await StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.EndPoint("tcp/80").Port).DefaultTimeout();
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nX-Big: " + new string('a', HttpRequestHead.MaxHeadBytes + 10))).AsTask().DefaultTimeout();
        using var reader = new StreamReader(stream, Encoding.Latin1);
        Assert.StartsWith("HTTP/1.1 431 ", await reader.ReadToEndAsync().DefaultTimeout(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_parsers_never_throw_on_truncated_or_random_input()
    {
        var random = new Random(13);
        var request = Encoding.ASCII.GetBytes("POST /axl/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        var soap = Encoding.UTF8.GetBytes(Envelope("getPhone", "<name>SEP001122334455</name>"));
        var headLength = request.Length - "hello".Length;
        for (var i = 0; i <= request.Length; i++)
        {
            var status = HttpRequestHead.TryRead(new ReadOnlySequence<byte>(request, 0, i), out var head, out _);
            Assert.Equal(i < headLength ? HttpHeadStatus.NeedMoreData : HttpHeadStatus.Done, status);
            Assert.Equal(i < headLength ? null : "/axl/", head?.Path);
        }

        for (var i = 0; i < soap.Length; i++)
        {
            Assert.Null(AxlMessages.Parse(soap.AsSpan(0, i), out var error));
            Assert.NotNull(error);
        }

        Assert.Equal("SEP001122334455", AxlMessages.Parse(soap, out _)!.Value("name"));
        for (var i = 0; i < 2000; i++)
        {
            var data = new byte[random.Next(0, 512)];
            random.NextBytes(data);
            _ = HttpRequestHead.TryRead(new ReadOnlySequence<byte>(data), out _, out _);
            _ = AxlMessages.Parse(data, out _);
        }
    }
}

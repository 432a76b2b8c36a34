using System.Globalization;
using System.Net.Sockets;
using CucmSim.Clients.Ldap;
using CucmSim.Protocols.Ldap;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Ldap;

/// <summary>OpenLDAP's ldapsearch and ldapwhoami, and the client, against serve --role ldap-directory on 389 and LDAPS 636.</summary>
public sealed class LdapProtocolTests : IAsyncLifetime
{
    private const string Admin = "cn=admin,dc=cucmsim,dc=example";
    private SimServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Role = "ldap-directory", EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Url(string listener, string scheme = "ldap") =>
        $"{scheme}://127.0.0.1:{_server.EndPoint(listener).Port.ToString(CultureInfo.InvariantCulture)}";

    private static Task<ToolResult> RunAsync(string tool, params string[] args) =>
        ExternalTool.RunAsync("env", ["LDAPTLS_REQCERT=never", "LDAPCONF=/dev/null", tool, .. args], TimeSpan.FromSeconds(30)).DefaultTimeout(TimeSpan.FromSeconds(40));

    private static List<string> Dns(ToolResult result) =>
        result.Stdout.Split('\n').Where(l => l.StartsWith("dn: ", StringComparison.Ordinal)).Select(l => l[4..].Trim()).ToList();

    [Fact]
    public async Task Ldapsearch_reads_the_root_dse_and_the_users_with_filters_scopes_and_attribute_selection()
    {
        var root = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/389"), "-b", "", "-s", "base", "namingContexts", "supportedLDAPVersion");
        Assert.True(root.ExitCode == 0, root.All);
        Assert.Contains("namingContexts: dc=cucmsim,dc=example", root.Stdout, StringComparison.Ordinal);
        Assert.Contains("supportedLDAPVersion: 3", root.Stdout, StringComparison.Ordinal);

        // CUCM binds as the manager and reads the people it syncs.
        var people = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/3268"), "-D", Admin, "-w", "cucmsim", "-b", "dc=cucmsim,dc=example",
            "(&(objectClass=user)(|(sAMAccountName=j*)(telephoneNumber=1003)(mail=*lee@*))(!(sn=Wilson)))", "sAMAccountName", "telephoneNumber");
        Assert.True(people.ExitCode == 0, people.All);
        Assert.Equal(["cn=John Doe,ou=Users,dc=cucmsim,dc=example", "cn=David Lee,ou=Users,dc=cucmsim,dc=example"], Dns(people));
        Assert.Contains("sAMAccountName: jdoe", people.Stdout, StringComparison.Ordinal);
        Assert.Contains("telephoneNumber: 1005", people.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("mail:", people.Stdout, StringComparison.Ordinal);

        var one = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/389"), "-b", "dc=cucmsim,dc=example", "-s", "one", "(objectClass=*)", "1.1");
        Assert.True(one.ExitCode == 0, one.All);
        Assert.Equal(["ou=Users,dc=cucmsim,dc=example", "cn=admin,dc=cucmsim,dc=example"], Dns(one));

        var baseScope = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/389"), "-b", "cn=Alice Smith,ou=Users,dc=cucmsim,dc=example", "-s", "base");
        Assert.True(baseScope.ExitCode == 0, baseScope.All);
        Assert.Contains("givenName: Alice", baseScope.Stdout, StringComparison.Ordinal);
        Assert.Contains("objectClass: person", baseScope.Stdout, StringComparison.Ordinal);

        // sizeLimit: two entries, then sizeLimitExceeded (ldapsearch exits with the result code, 4).
        var limited = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/389"), "-z", "2", "-b", "ou=Users,dc=cucmsim,dc=example", "(objectClass=user)", "cn");
        Assert.Equal(4, limited.ExitCode);
        Assert.Equal(2, Dns(limited).Count);

        // A base that does not exist: noSuchObject (32), with the part that does.
        var missing = await RunAsync("ldapsearch", "-x", "-H", Url("tcp/389"), "-b", "ou=Nobody,dc=cucmsim,dc=example");
        Assert.Equal(32, missing.ExitCode);
        Assert.Contains("matchedDN: dc=cucmsim,dc=example", missing.Stdout, StringComparison.Ordinal);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Listener == "tcp/3268");
        Assert.Equal("ldap-search", record.Verdict);
        Assert.Equal(Admin, record.Detail!["bindDn"]);
        Assert.Equal("2", record.Detail["entries"]);
    }

    [Fact]
    public async Task Ldaps_presents_the_directory_certificate_and_binds_users()
    {
        var whoami = await RunAsync("ldapwhoami", "-x", "-H", Url("tcp/636", "ldaps"), "-D", "cn=John Doe,ou=Users,dc=cucmsim,dc=example", "-w", "cucmsim");
        Assert.True(whoami.ExitCode == 0, whoami.All);
        Assert.Equal("dn:cn=John Doe,ou=Users,dc=cucmsim,dc=example", whoami.Stdout.Trim());

        var search = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/3269", "ldaps"), "-D", Admin, "-w", "cucmsim", "-b", "ou=Users,dc=cucmsim,dc=example", "(uid=asmith)", "mail");
        Assert.True(search.ExitCode == 0, search.All);
        Assert.Contains("mail: asmith@cucmsim.example", search.Stdout, StringComparison.Ordinal);

        var openssl = await ExternalTool.RunAsync("openssl", ["s_client", "-connect", $"127.0.0.1:{_server.EndPoint("tcp/636").Port}"], TimeSpan.FromSeconds(20), stdin: string.Empty).DefaultTimeout();
        Assert.Contains("CN=directory-", openssl.Stdout.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nmap_names_ldap_and_ldap_over_ssl()
    {
        var ports = string.Join(',', new[] { "tcp/389", "tcp/636" }.Select(l => _server.EndPoint(l).Port.ToString(CultureInfo.InvariantCulture)));
        var nmap = await ExternalTool.RunAsync("nmap", ["-sV", "-sT", "-Pn", "-n", "-p", ports, "127.0.0.1"], TimeSpan.FromSeconds(150)).DefaultTimeout(TimeSpan.FromSeconds(160));
        Assert.True(nmap.ExitCode == 0, nmap.All);
        var lines = nmap.Stdout.Split('\n').Where(l => l.Contains("/tcp", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"open\s+ldap", lines.Single(l => l.StartsWith(_server.EndPoint("tcp/389").Port.ToString(CultureInfo.InvariantCulture) + "/", StringComparison.Ordinal)));
        Assert.Matches(@"open\s+ssl/ldap", lines.Single(l => l.StartsWith(_server.EndPoint("tcp/636").Port.ToString(CultureInfo.InvariantCulture) + "/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_wrong_password_is_invalid_credentials()
    {
        var whoami = await RunAsync("ldapwhoami", "-x", "-H", Url("tcp/389"), "-D", Admin, "-w", "wrong");
        Assert.Equal(49, whoami.ExitCode);
        Assert.Contains("Invalid credentials", whoami.Stderr, StringComparison.Ordinal);

        var search = await RunAsync("ldapsearch", "-x", "-H", Url("tcp/636", "ldaps"), "-D", "cn=nobody,dc=cucmsim,dc=example", "-w", "cucmsim", "-b", "dc=cucmsim,dc=example");
        Assert.Equal(49, search.ExitCode);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "ldap-bind-failed");
        Assert.Equal("invalidCredentials (49)", record.Detail!["bind"]);
    }

    [Fact]
    public async Task What_the_directory_does_not_do_gets_its_own_result_code()
    {
        await using var ldap = await LdapConnection.ConnectAsync(_server.EndPoint("tcp/389"), tls: false).DefaultTimeout();
        Assert.Equal(LdapResultCode.Success, (await ldap.BindAsync("", "").DefaultTimeout()).Code);
        Assert.Equal(LdapResultCode.UnwillingToPerform, (await ldap.BindAsync(Admin, "").DefaultTimeout()).Code);
        Assert.Equal(LdapResultCode.Unavailable, (await ldap.ExtendedAsync(LdapOids.StartTls).DefaultTimeout()).Code);
        Assert.Equal(LdapResultCode.ProtocolError, (await ldap.ExtendedAsync("1.2.3.4").DefaultTimeout()).Code);

        var whoami = await ldap.ExtendedAsync(LdapOids.WhoAmI).DefaultTimeout();
        Assert.Equal((LdapResultCode.Success, 0), (whoami.Code, whoami.ResponseValue!.Length));

        var critical = await ldap.SearchAsync("", LdapScope.BaseObject, new LdapPresent("objectClass"), controls: [new LdapControl("1.2.3.4.5", true, null)]).DefaultTimeout();
        Assert.Equal(LdapResultCode.UnavailableCriticalExtension, critical.Done.Code);

        // Paged results (AD clients, CUCM's sync): one page, and the control back with an empty cookie.
        var paged = await ldap.SearchAsync("dc=cucmsim,dc=example", LdapScope.WholeSubtree, LdapFilter.Parse("(objectClass=user)"), ["cn"],
            controls: [new LdapControl(LdapOids.PagedResults, true, LdapCodec.WritePagedResultsValue(2, []))]).DefaultTimeout();
        Assert.Equal((LdapResultCode.Success, 5), (paged.Done.Code, paged.Entries.Count));
        Assert.Equal(LdapOids.PagedResults, Assert.Single(paged.Done.Controls).Type);

        // An extensible match filter ([9]): refused, not guessed.
        await ldap.SendAsync(Convert.FromHexString("301D020164631804000A01020A0100020100020100010100A903810161" + "3000")).DefaultTimeout();
        var refused = Assert.IsType<LdapResult>(await ldap.ReadAsync().DefaultTimeout());
        Assert.Equal((100, LdapResultCode.UnwillingToPerform), (refused.MessageId, refused.Code));

        // A delete: the directory is read-only.
        await ldap.SendAsync(Convert.FromHexString("300702010A4A026463")).DefaultTimeout();
        var delete = Assert.IsType<LdapResult>(await ldap.ReadAsync().DefaultTimeout());
        Assert.Equal((LdapOperation.DelResponse, LdapResultCode.UnwillingToPerform), (delete.Operation, delete.Code));

        await ldap.UnbindAsync().DefaultTimeout();
        Assert.Null(await ldap.ReadAsync().DefaultTimeout());
    }

    [Theory]
    [InlineData("48454C4C4F0D0A")] // "HELLO\r\n"
    [InlineData("3084FFFFFFF0")] // a length over the limit
    [InlineData("3080020101")] // indefinite length
    [InlineData("300602010161010A")] // a bind response sent to the server
    [InlineData("3009020101600402010304")] // a bind without its authentication
    public async Task Malformed_input_gets_a_notice_of_disconnection_and_the_server_goes_on(string hex)
    {
        var before = _server.Listeners.Single(l => l.Id == "tcp/389").Malformed;
        await using (var ldap = await LdapConnection.ConnectAsync(_server.EndPoint("tcp/389"), tls: false).DefaultTimeout())
        {
            await ldap.SendAsync(Convert.FromHexString(hex)).DefaultTimeout();
            var notice = Assert.IsType<LdapResult>(await ldap.ReadAsync().DefaultTimeout());
            Assert.Equal((0, LdapOids.NoticeOfDisconnection, LdapResultCode.ProtocolError), (notice.MessageId, notice.ResponseName, notice.Code));
            Assert.Null(await ldap.ReadAsync().DefaultTimeout());
        }

        Assert.Equal(before + 1, _server.Listeners.Single(l => l.Id == "tcp/389").Malformed);
        await AssertStillAnswersAsync();
    }

    [Fact]
    public async Task A_filter_nested_past_the_depth_limit_is_refused_and_counted()
    {
        // A search whose filter is 5,000 NOTs around (objectClass=*): far past the 16 levels a filter may have.
        var filter = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.BER);
        var depth = 5000;
        var tag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 2, isConstructed: true);
        var scopes = new Stack<System.Formats.Asn1.AsnWriter.Scope>();
        for (var i = 0; i < depth; i++)
        {
            scopes.Push(filter.PushSequence(tag));
        }

        filter.WriteOctetString("objectClass"u8, new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 7));
        while (scopes.TryPop(out var scope))
        {
            scope.Dispose();
        }

        var message = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.BER);
        using (message.PushSequence())
        {
            message.WriteInteger(7);
            using (message.PushSequence(new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.Application, 3, isConstructed: true)))
            {
                message.WriteOctetString(""u8);
                message.WriteEncodedValue([0x0a, 0x01, 0x00]);
                message.WriteEncodedValue([0x0a, 0x01, 0x00]);
                message.WriteInteger(0);
                message.WriteInteger(0);
                message.WriteBoolean(false);
                message.WriteEncodedValue(filter.Encode());
                using (message.PushSequence())
                {
                }
            }
        }

        var bytes = message.Encode();
        Assert.True(bytes.Length > 10_000);
        var before = _server.Listeners.Single(l => l.Id == "tcp/389").Malformed;
        await using (var ldap = await LdapConnection.ConnectAsync(_server.EndPoint("tcp/389"), tls: false).DefaultTimeout())
        {
            await ldap.SendAsync(bytes).DefaultTimeout();
            var answer = Assert.IsType<LdapResult>(await ldap.ReadAsync().DefaultTimeout());
            Assert.Equal(LdapResultCode.ProtocolError, answer.Code);
        }

        Assert.Equal(before + 1, _server.Listeners.Single(l => l.Id == "tcp/389").Malformed);
        await AssertStillAnswersAsync();
    }

    [Fact]
    public async Task Random_and_truncated_streams_never_stop_the_server()
    {
        var random = new Random(389);
        for (var i = 0; i < 40; i++)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(_server.EndPoint(i % 2 == 0 ? "tcp/389" : "tcp/3268")).DefaultTimeout();
            var bytes = new byte[random.Next(1, 600)];
            random.NextBytes(bytes);
            if (i % 4 == 1)
            {
                // A valid start cut short: the server waits for the rest, and the peer goes away.
                bytes = LdapCodec.WriteBindRequest(1, Admin, "cucmsim")[..random.Next(1, 20)];
            }

            await socket.SendAsync(bytes).DefaultTimeout();
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[4096];
            while (await socket.ReceiveAsync(buffer).DefaultTimeout() > 0)
            {
            }
        }

        await AssertStillAnswersAsync();
    }

    private async Task AssertStillAnswersAsync()
    {
        var again = await RunAsync("ldapsearch", "-x", "-LLL", "-H", Url("tcp/389"), "-b", "", "-s", "base", "vendorName");
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Contains("vendorName: CucmSim", again.Stdout, StringComparison.Ordinal);
    }
}

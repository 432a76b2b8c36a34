using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Snmp;
using CucmSim.Serve;
using CucmSim.Serve.Snmp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Snmp;

/// <summary>The agent against net-snmp's own clients (package snmp), tshark and nmap, over real sockets.</summary>
public sealed class SnmpAgentTests : IAsyncLifetime
{
    private SimServer _server = null!;
    private string _target = null!;

    [Fact]
    public async Task Without_the_floor_an_unauthenticated_answer_is_strictly_bounded_by_three_times_the_request()
    {
        await using var strict = await SimHost.StartAsync(new ServeOptions
        {
            Only = ["t2.snmp"],
            EphemeralPorts = true,
            Snmp = new SnmpOptions { AmplificationFloor = 0 },
        });
        var target = $"udp:127.0.0.1:{strict.EndPoint("udp/161").Port}";
        var result = await ExternalTool.RunAsync("snmpget", ["-v2c", "-c", "public", "-r", "0", "-t", "2", "-On", target, "1.3.6.1.2.1.1.1.0"], TimeSpan.FromSeconds(20));
        Assert.Contains("tooBig", result.All, StringComparison.Ordinal);
        var small = await ExternalTool.RunAsync("snmpget", ["-v2c", "-c", "public", "-r", "0", "-t", "2", "-On", target, "1.3.6.1.2.1.1.7.0"], TimeSpan.FromSeconds(20));
        Assert.Contains(".1.3.6.1.2.1.1.7.0 = INTEGER: 72", small.Stdout, StringComparison.Ordinal);
    }

    public async Task InitializeAsync()
    {
        _server = await SimHost.StartAsync(new ServeOptions
        {
            Only = ["t2.snmp"],
            EphemeralPorts = true,
            Identity = new ServerIdentity { HostName = "cucm-pub", Version = "14.0.1.13900-155" },
            Snmp = new SnmpOptions
            {
                SysContact = "noc@example.net",
                SysLocation = "lab rack 3",
                Users =
                [
                    SnmpUser.Parse("labuser:SHA:authpass1:AES:privpass1"),
                    SnmpUser.Parse("auth256:SHA-256:authpass2"),
                    SnmpUser.Parse("plain"),
                ],
            },
        });
        var ep = _server.EndPoint("udp/161");
        _target = $"udp:127.0.0.1:{ep.Port}";
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<ToolResult> SnmpOids(string tool, string[] options, params string[] oids) =>
        ExternalTool.RunAsync(tool, ["-On", "-t", "1", "-r", "1", .. options, _target, .. oids], TimeSpan.FromSeconds(20)).DefaultTimeout();

    [Fact]
    public async Task Snmpget_v2c_returns_the_cucm_system_group()
    {
        var r = await SnmpOids("snmpget", ["-v2c", "-c", "public"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.7.0");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("Software:UCOS", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9.1.1348", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.1.3.0 = Timeticks:", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("STRING: \"noc@example.net\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.1.5.0 = STRING: \"cucm-pub\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("STRING: \"lab rack 3\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.1.7.0 = INTEGER: 72", r.Stdout, StringComparison.Ordinal);

        var flow = await _server.WaitForRecordAsync(rec => rec.Kind == "udp-flow" && rec.Verdict == "snmp-get");
        Assert.Equal("v2c", flow.Detail!["version"]);
        Assert.Equal("public", flow.Detail["community"]);
    }

    [Fact]
    public async Task Missing_objects_give_v2c_exceptions_and_v1_nosuchname_with_the_index()
    {
        var v2 = await SnmpOids("snmpget", ["-v2c", "-c", "public"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.1.5", "1.3.6.1.2.1.99.1.0");
        Assert.Contains(".1.3.6.1.2.1.1.1.5 = No Such Instance", v2.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.99.1.0 = No Such Object", v2.Stdout, StringComparison.Ordinal);

        var v1 = await SnmpOids("snmpget", ["-v1", "-c", "public"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.99.1.0");
        Assert.Contains("noSuchName", v1.All, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Failed object: .1.3.6.1.2.1.99.1.0", v1.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snmpgetnext_returns_the_next_object_in_order()
    {
        var r = await SnmpOids("snmpgetnext", ["-v2c", "-c", "public"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains(".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9.1.1348", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.1.1.0 = STRING:", r.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("snmpwalk", "-v1")]
    [InlineData("snmpwalk", "-v2c")]
    [InlineData("snmpbulkwalk", "-v2c")]
    public async Task Walks_of_the_whole_view_end_cleanly(string tool, string version)
    {
        string[] options = tool == "snmpbulkwalk" ? [version, "-c", "public", "-Cr25"] : [version, "-c", "public"];
        var r = await SnmpOids(tool, options, ".1");
        Assert.True(r.ExitCode == 0, r.All);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length > 40, r.Stdout);
        Assert.DoesNotContain("Error in packet", r.All, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("OID not increasing", r.All, StringComparison.Ordinal);
        Assert.DoesNotContain("Timeout", r.All, StringComparison.Ordinal);
        Assert.StartsWith(".1.3.6.1.2.1.1.1.0 = STRING:", lines[0], StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.1.2.1.4.1 = STRING: \"14.0.1.13900-155\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.6.3.10.2.1.1.0 = Hex-STRING: 80 00 00 09 03", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.2.1.2.1.0 = INTEGER:", r.Stdout, StringComparison.Ordinal);

        // v2c walks end on endOfMibView, which net-snmp prints as the last line; v1 ends on noSuchName silently.
        if (version == "-v2c")
        {
            Assert.Contains("No more variables left in this MIB View", lines[^1], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Registered_devices_appear_in_the_ccm_counters_and_phone_table()
    {
        _server.Context.Devices.Register(new DeviceRecord("SEP001122334455", "sccp", "Cisco 7962", 20, "10.1.1.5", "127.0.0.1:40000", "tcp/2000", DateTimeOffset.UtcNow));
        var r = await SnmpOids("snmpwalk", ["-v2c", "-c", "public"], "1.3.6.1.4.1.9.9.156");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.5.5.0 = Gauge32: 1", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("= STRING: \"SEP001122334455\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.2.1.1.2.1 = Hex-STRING: 00 11 22 33 44 55", r.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.2.1.1.7.1 = INTEGER: 2", r.Stdout, StringComparison.Ordinal);

        _server.Context.Devices.Unregister("SEP001122334455");
        r = await SnmpOids("snmpwalk", ["-v2c", "-c", "public"], "1.3.6.1.4.1.9.9.156.1.2");
        Assert.DoesNotContain("SEP001122334455", r.Stdout, StringComparison.Ordinal);
        var counters = await SnmpOids("snmpget", ["-v2c", "-c", "public"], "1.3.6.1.4.1.9.9.156.1.5.5.0", "1.3.6.1.4.1.9.9.156.1.5.6.0");
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.5.5.0 = Gauge32: 0", counters.Stdout, StringComparison.Ordinal);
        Assert.Contains(".1.3.6.1.4.1.9.9.156.1.5.6.0 = Gauge32: 1", counters.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_community_gets_no_answer_and_is_counted_and_recorded()
    {
        var r = await SnmpOids("snmpget", ["-v2c", "-c", "private"], "1.3.6.1.2.1.1.1.0");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Timeout", r.All, StringComparison.Ordinal);
        var record = await _server.WaitForRecordAsync(rec => rec.Verdict == "snmp-bad-community" && rec.Kind == "event");
        Assert.Equal("private", record.Detail!["community"]);

        var counter = await SnmpOids("snmpget", ["-v2c", "-c", "public"], "1.3.6.1.2.1.11.4.0");
        Assert.Matches(@"\.1\.3\.6\.1\.2\.1\.11\.4\.0 = Counter32: [1-9]", counter.Stdout);
    }

    [Fact]
    public async Task Set_is_refused_per_version()
    {
        var v2 = await SnmpOids("snmpset", ["-v2c", "-c", "public"], "1.3.6.1.2.1.1.5.0", "s", "x");
        Assert.Contains("noAccess", v2.All, StringComparison.Ordinal);
        var v1 = await SnmpOids("snmpset", ["-v1", "-c", "public"], "1.3.6.1.2.1.1.5.0", "s", "x");
        Assert.Contains("noSuchName", v1.All, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Malformed_datagrams_are_dropped_and_counted_and_getbulk_cannot_amplify()
    {
        using var udp = Agent(out var listener);
        var before = listener.Malformed;
        await udp.SendAsync(new byte[] { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01 }).AsTask().DefaultTimeout();
        await udp.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.0\r\n\r\n")).AsTask().DefaultTimeout();

        // A GETBULK with max-repetitions 1000 from a tiny request.
        var request = new byte[128];
        var n = SnmpCodec.WriteMessage(request, SnmpVersion.V2c, "public"u8, PduType.GetBulk, 42, 0, 1000, [new SnmpVarBind("1.3.6.1", SnmpValue.Null)]);
        await udp.SendAsync(request.AsMemory(0, n)).AsTask().DefaultTimeout();
        var reply = await udp.ReceiveAsync().DefaultTimeout();

        // The first datagram answered is the bulk: the malformed ones got nothing.
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(reply.Buffer, out var m));
        var vbs = new VarBind[SnmpLimits.MaxVarBinds];
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(reply.Buffer, m.Pdu, out var pdu, vbs));
        Assert.Equal(42, pdu.RequestId);
        Assert.Equal(0, pdu.ErrorStatus);
        Assert.True(pdu.VarBindCount >= 1);
        Assert.True(reply.Buffer.Length <= Math.Max(3 * n, 256), $"{reply.Buffer.Length} bytes for a {n}-byte request");
        Assert.Equal(before + 2, listener.Malformed);
    }

    /// <summary>A client socket connected to the agent, and its listener.</summary>
    private UdpClient Agent(out ListenerRuntime listener)
    {
        var udp = new UdpClient(AddressFamily.InterNetwork);
        udp.Connect(_server.EndPoint("udp/161"));
        listener = _server.Listeners.Single(l => l.Id == "udp/161");
        return udp;
    }

    private static Pdu DecodeReply(byte[] reply)
    {
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(reply, out var m));
        var vbs = new VarBind[SnmpLimits.MaxVarBinds];
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(reply, m.Pdu, out var pdu, vbs));
        return pdu;
    }

    [Fact]
    public async Task Deep_ber_nesting_and_huge_lengths_are_dropped_and_counted()
    {
        using var udp = Agent(out var listener);
        var before = listener.Malformed;

        // 16,000 SEQUENCEs nested in one 64 KB datagram, and the same depth as a varbind's value inside a
        // well-formed GET; lengths that claim 4 GiB or 2^64 bytes; indefinite lengths (BER allows, SNMP does not).
        var nested = Nest([0x05, 0x00], 16_000);
        Assert.InRange(nested.Length, 40_000, 65_507);
        var prefix = new byte[128];
        var n = SnmpCodec.WriteMessage(prefix, SnmpVersion.V2c, "public"u8, PduType.Get, 5, 0, 0, [new SnmpVarBind("1.3.6.1.2.1.1.1.0", SnmpValue.Null)]);
        byte[][] datagrams =
        [
            nested,
            GetWithValue(Nest([0x05, 0x00], 12_000)),
            [0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01],
            [0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01],
            [0x30, 0x0b, 0x02, 0x01, 0x01, 0x04, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x70, 0x75],
            [0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00],
            GetWithValue([0x02, 0x84, 0x00, 0x01, 0x00, 0x00]),
            GetWithValue([0x06, 0x83, 0xff, 0xff, 0xff, 0x2b]),
        ];
        foreach (var datagram in datagrams)
        {
            await udp.SendAsync(datagram).AsTask().DefaultTimeout();
        }

        // The first answer is the valid GET's: every one of them was dropped, and counted.
        await udp.SendAsync(prefix.AsMemory(0, n)).AsTask().DefaultTimeout();
        var reply = await udp.ReceiveAsync().DefaultTimeout();
        Assert.Equal(5, DecodeReply(reply.Buffer).RequestId);
        Assert.Equal(before + datagrams.Length, listener.Malformed);

        static byte[] Nest(byte[] inner, int depth)
        {
            var current = inner;
            for (var i = 0; i < depth; i++)
            {
                current = [0x30, .. Length(current.Length), .. current];
            }

            return current;
        }

        static byte[] Length(int length) => length switch
        {
            < 0x80 => [(byte)length],
            < 0x100 => [0x81, (byte)length],
            < 0x10000 => [0x82, (byte)(length >> 8), (byte)length],
            _ => [0x83, (byte)(length >> 16), (byte)(length >> 8), (byte)length],
        };

        // SEQUENCE { version 1, community "public", GetRequest { id 5, 0, 0, { { sysDescr.0, VALUE } } } }.
        static byte[] GetWithValue(byte[] value)
        {
            byte[] oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00];
            byte[] varbind = [0x30, .. Length(oid.Length + value.Length), .. oid, .. value];
            byte[] list = [0x30, .. Length(varbind.Length), .. varbind];
            byte[] body = [0x02, 0x01, 0x05, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, .. list];
            byte[] pduBytes = [0xa0, .. Length(body.Length), .. body];
            byte[] head = [0x02, 0x01, 0x01, 0x04, 0x06, .. "public"u8];
            return [0x30, .. Length(head.Length + pduBytes.Length), .. head, .. pduBytes];
        }
    }

    [Fact]
    public async Task Snmpv3_authpriv_sha_aes_works_and_a_wrong_password_gets_a_report()
    {
        var ok = await SnmpOids("snmpget", ["-v3", "-l", "authPriv", "-u", "labuser", "-a", "SHA", "-A", "authpass1", "-x", "AES", "-X", "privpass1"], "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0");
        Assert.True(ok.ExitCode == 0, ok.All);
        Assert.Contains("Software:UCOS", ok.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"cucm-pub\"", ok.Stdout, StringComparison.Ordinal);
        var seen = await _server.WaitForRecordAsync(rec => rec.Verdict == "snmp-v3-user" && rec.Detail!["user"] == "labuser");
        Assert.Equal("authPriv", seen.Detail!["level"]);

        var wrong = await SnmpOids("snmpget", ["-v3", "-l", "authPriv", "-u", "labuser", "-a", "SHA", "-A", "wrongpass1", "-x", "AES", "-X", "privpass1"], "1.3.6.1.2.1.1.1.0");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("Authentication failure", wrong.All, StringComparison.Ordinal);
        await _server.WaitForRecordAsync(rec => rec.Verdict == "snmp-v3-wrong-digest" && rec.Kind == "event");

        var unknown = await SnmpOids("snmpget", ["-v3", "-l", "noAuthNoPriv", "-u", "nobody"], "1.3.6.1.2.1.1.1.0");
        Assert.Contains("Unknown user name", unknown.All, StringComparison.Ordinal);

        var sha256 = await SnmpOids("snmpget", ["-v3", "-l", "authNoPriv", "-u", "auth256", "-a", "SHA-256", "-A", "authpass2"], "1.3.6.1.2.1.1.2.0");
        Assert.True(sha256.ExitCode == 0, sha256.All);
        Assert.Contains(".1.3.6.1.4.1.9.1.1348", sha256.Stdout, StringComparison.Ordinal);

        var plain = await SnmpOids("snmpwalk", ["-v3", "-l", "noAuthNoPriv", "-u", "plain"], "1.3.6.1.2.1.1");
        Assert.True(plain.ExitCode == 0, plain.All);
        Assert.Contains("Software:UCOS", plain.Stdout, StringComparison.Ordinal);

        var counters = await SnmpOids("snmpget", ["-v2c", "-c", "public"], "1.3.6.1.6.3.15.1.1.3.0", "1.3.6.1.6.3.15.1.1.4.0", "1.3.6.1.6.3.15.1.1.5.0");
        Assert.Matches(@"15\.1\.1\.3\.0 = Counter32: [1-9]", counters.Stdout);
        Assert.Matches(@"15\.1\.1\.4\.0 = Counter32: [1-9]", counters.Stdout);
        Assert.Matches(@"15\.1\.1\.5\.0 = Counter32: [1-9]", counters.Stdout);
    }

    [Fact]
    public async Task Snmpv3_time_window_and_decryption_failures_get_their_reports()
    {
        var engineId = SnmpAgent.DefaultEngineId("cucm-pub");
        var authKey = Usm.Localize(SnmpAuth.Sha256, Usm.PasswordToKey(SnmpAuth.Sha256, "authpass2"), engineId);
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        udp.Connect(_server.EndPoint("udp/161"));

        // Authentic, but boots 99: usmStatsNotInTimeWindows, reported at authNoPriv with the agent's boots and time.
        await udp.SendAsync(V3Get(engineId, 99, 5, "auth256", SnmpAuth.Sha256, authKey, 0x01, []).AsMemory()).AsTask().DefaultTimeout();
        var (flags, usm, pdu, oid) = Decode((await udp.ReceiveAsync().DefaultTimeout()).Buffer, authKey);
        Assert.Equal(0x01, flags);
        Assert.Equal(1, usm.EngineBoots);
        Assert.Equal(PduType.Report, pdu.Type);
        Assert.Equal("1.3.6.1.6.3.15.1.1.2.0", oid);

        // In the window: the answer is a signed Response with sysDescr.
        await udp.SendAsync(V3Get(engineId, 1, usm.EngineTime, "auth256", SnmpAuth.Sha256, authKey, 0x01, []).AsMemory()).AsTask().DefaultTimeout();
        (flags, _, pdu, oid) = Decode((await udp.ReceiveAsync().DefaultTimeout()).Buffer, authKey);
        Assert.Equal(0x01, flags);
        Assert.Equal(PduType.Response, pdu.Type);
        Assert.Equal("1.3.6.1.2.1.1.1.0", oid);

        // authPriv with a ciphertext that decrypts to garbage: usmStatsDecryptionErrors.
        var labKey = Usm.Localize(SnmpAuth.Sha1, Usm.PasswordToKey(SnmpAuth.Sha1, "authpass1"), engineId);
        await udp.SendAsync(V3Get(engineId, 1, usm.EngineTime, "labuser", SnmpAuth.Sha1, labKey, 0x03, new byte[8]).AsMemory()).AsTask().DefaultTimeout();
        (flags, _, pdu, oid) = Decode((await udp.ReceiveAsync().DefaultTimeout()).Buffer, null);
        Assert.Equal(0x00, flags);
        Assert.Equal(PduType.Report, pdu.Type);
        Assert.Equal("1.3.6.1.6.3.15.1.1.6.0", oid);
    }

    /// <summary>A signed SNMPv3 GetRequest for sysDescr.0; with priv flags, the "ciphertext" is the plaintext scoped PDU.</summary>
    private static byte[] V3Get(byte[] engineId, int boots, int time, string user, SnmpAuth auth, byte[] authKey, byte flags, byte[] salt)
    {
        var scoped = new byte[256];
        var sw = new BerWriter(scoped);
        var sm = sw.Begin(BerTag.Sequence);
        sw.WriteBytes(BerTag.OctetString, engineId);
        sw.WriteBytes(BerTag.OctetString, []);
        SnmpCodec.WritePdu(ref sw, PduType.Get, 99, 0, 0, [new SnmpVarBind("1.3.6.1.2.1.1.1.0", SnmpValue.Null)]);
        sw.End(sm);
        var buffer = new byte[512];
        var w = new BerWriter(buffer);
        var m = SnmpCodec.BeginV3(ref w, 1234, 65507, (byte)(flags | 0x04));
        SnmpCodec.WriteUsm(ref w, engineId, boots, time, Encoding.UTF8.GetBytes(user), new byte[Usm.MacLength(auth)], salt);
        if ((flags & 2) != 0)
        {
            w.WriteBytes(BerTag.OctetString, sw.Written);
        }
        else
        {
            w.WriteRaw(sw.Written);
        }

        w.End(m);
        var message = buffer[..w.Length];
        SnmpCodec.DecodeMessage(message, out var decoded);
        SnmpCodec.DecodeUsm(message, decoded.SecurityParameters, out var usm);
        var mac = new byte[32];
        Usm.ComputeMac(auth, authKey, message, mac);
        mac.AsSpan(0, Usm.MacLength(auth)).CopyTo(message.AsSpan()[usm.AuthParameters]);
        return message;
    }

    /// <summary>Decodes a plaintext v3 answer; checks its MAC when a key is given.</summary>
    private static (byte Flags, UsmParameters Usm, Pdu Pdu, string FirstOid) Decode(byte[] answer, byte[]? authKey)
    {
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(answer, out var m));
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeUsm(answer, m.SecurityParameters, out var usm));
        if (authKey is not null)
        {
            var copy = answer.ToArray();
            copy.AsSpan()[usm.AuthParameters].Clear();
            var mac = new byte[32];
            Usm.ComputeMac(SnmpAuth.Sha256, authKey, copy, mac);
            Assert.Equal(Convert.ToHexString(mac, 0, 24), Convert.ToHexString(answer.AsSpan()[usm.AuthParameters]));
        }

        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeScopedPdu(answer, m.ScopedPdu, out _, out _, out var pduRange));
        var vbs = new VarBind[8];
        Assert.Equal(OperationStatus.Done, SnmpCodec.DecodePdu(answer, pduRange, out var pdu, vbs));
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        var n = Ber.DecodeOid(answer.AsSpan()[vbs[0].Name], oid);
        return (m.MsgFlags, usm, pdu, Ber.FormatOid(oid[..n]));
    }

    [Fact]
    public async Task Tshark_decodes_every_request_and_answer_without_malformed_packets()
    {
        // Our own client sends requests of each kind; requests and answers are written to a pcap with text2pcap.
        var ep = _server.EndPoint("udp/161");
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        udp.Connect(ep);
        var local = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
        var dump = new StringBuilder();
        var requests = new List<byte[]>();
        foreach (var (version, type, maxRep, oid) in new[]
        {
            (SnmpVersion.V2c, PduType.Get, 0, "1.3.6.1.2.1.1.1.0"),
            (SnmpVersion.V2c, PduType.Get, 0, "1.3.6.1.2.1.99.0"),
            (SnmpVersion.V1, PduType.Get, 0, "1.3.6.1.2.1.99.0"),
            (SnmpVersion.V2c, PduType.GetNext, 0, "1.3.6.1.4.1.9.9.156"),
            (SnmpVersion.V2c, PduType.GetBulk, 10, "1.3.6.1.2.1.1"),
            (SnmpVersion.V2c, PduType.GetNext, 0, "1.3.6.1.6.3.99"),
            (SnmpVersion.V2c, PduType.Set, 0, "1.3.6.1.2.1.1.5.0"),
        })
        {
            var buffer = new byte[256];
            var n = SnmpCodec.WriteMessage(buffer, version, "public"u8, type, 7, 0, maxRep, [new SnmpVarBind(oid, SnmpValue.Null)]);
            requests.Add(buffer[..n]);
        }

        var packets = 0;
        foreach (var request in requests)
        {
            await udp.SendAsync(request).AsTask().DefaultTimeout();
            var reply = await udp.ReceiveAsync().DefaultTimeout();
            AppendHex(dump, "I", request);
            AppendHex(dump, "O", reply.Buffer);
            packets += 2;
        }

        // SNMPv3: discovery (Report) and an authenticated Get (HMAC-SHA-256-192).
        var discovery = V3Get([], 0, 0, string.Empty, SnmpAuth.None, [], 0x00, []);
        await udp.SendAsync(discovery.AsMemory()).AsTask().DefaultTimeout();
        var report = (await udp.ReceiveAsync().DefaultTimeout()).Buffer;
        var (_, usm, _, _) = Decode(report, null);
        var engineId = SnmpAgent.DefaultEngineId("cucm-pub");
        var authKey = Usm.Localize(SnmpAuth.Sha256, Usm.PasswordToKey(SnmpAuth.Sha256, "authpass2"), engineId);
        var authGet = V3Get(engineId, usm.EngineBoots, usm.EngineTime, "auth256", SnmpAuth.Sha256, authKey, 0x01, []);
        await udp.SendAsync(authGet.AsMemory()).AsTask().DefaultTimeout();
        var answer = (await udp.ReceiveAsync().DefaultTimeout()).Buffer;
        Assert.Equal(PduType.Response, Decode(answer, authKey).Pdu.Type);
        AppendHex(dump, "I", discovery);
        AppendHex(dump, "O", report);
        AppendHex(dump, "I", authGet);
        AppendHex(dump, "O", answer);
        packets += 4;

        var dir = SimHost.TempDirectory();
        var text = Path.Combine(dir, "snmp.txt");
        var pcap = Path.Combine(dir, "snmp.pcap");
        await File.WriteAllTextAsync(text, dump.ToString());
        var t2p = await ExternalTool.RunAsync("text2pcap", ["-q", "-D", "-u", string.Create(CultureInfo.InvariantCulture, $"{local},161"), text, pcap]).DefaultTimeout();
        Assert.True(t2p.ExitCode == 0, t2p.All);
        var all = await ExternalTool.RunAsync("tshark", ["-r", pcap, "-Y", "snmp"]).DefaultTimeout();
        Assert.Equal(packets, all.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var bad = await ExternalTool.RunAsync("tshark", ["-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity >= warning"]).DefaultTimeout();
        Assert.True(bad.Stdout.Trim().Length == 0, bad.Stdout);
    }

    [Fact]
    public async Task Nmap_identifies_an_snmp_server_with_the_cucm_sysdescr()
    {
        var port = _server.EndPoint("udp/161").Port.ToString(CultureInfo.InvariantCulture);
        var r = await ExternalTool.RunAsync("nmap", ["-n", "-Pn", "-sU", "-sV", "--version-intensity", "9", "-p", port, "--script", "snmp-sysdescr", "127.0.0.1"], TimeSpan.FromSeconds(90)).DefaultTimeout(TimeSpan.FromSeconds(100));
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Matches(@"open\s+snmp", r.Stdout);
        Assert.Contains("Software:UCOS", r.Stdout, StringComparison.Ordinal);
    }

    private static void AppendHex(StringBuilder sb, string direction, byte[] data)
    {
        sb.Append(direction).Append('\n');
        for (var i = 0; i < data.Length; i += 16)
        {
            sb.Append(i.ToString("x6", CultureInfo.InvariantCulture));
            for (var j = i; j < Math.Min(i + 16, data.Length); j++)
            {
                sb.Append(' ').Append(data[j].ToString("x2", CultureInfo.InvariantCulture));
            }

            sb.Append('\n');
        }
    }
}

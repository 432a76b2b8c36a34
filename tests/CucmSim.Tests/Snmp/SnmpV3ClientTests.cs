using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Snmp;
using CucmSim.Protocols.Snmp;
using CucmSim.Serve;
using CucmSim.Serve.Snmp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Snmp;

/// <summary>The SNMPv3 (USM) client against our agent, and against net-snmp's snmpd, an implementation written elsewhere.</summary>
public sealed class SnmpV3ClientTests
{
    private const string SysDescr = "1.3.6.1.2.1.1.1.0";

    private static SnmpV3User User(string text)
    {
        var u = SnmpUser.Parse(text);
        return new SnmpV3User(u.Name, u.Auth, u.AuthPassword, u.Priv, u.PrivPassword);
    }

    private static Task<SnmpResult> GetAsync(IPEndPoint target, string user) =>
        SnmpV3Client.GetAsync(target, User(user), [SysDescr], TimeSpan.FromSeconds(2), 2).DefaultTimeout();

    private static Task<SimServer> ServeAsync() => SimHost.StartAsync(new ServeOptions
    {
        Only = ["t2.snmp"],
        EphemeralPorts = true,
        Snmp = new SnmpOptions
        {
            SysDescr = "cucmsim under test",
            Users =
            [
                SnmpUser.Parse("plain"),
                SnmpUser.Parse("a1:SHA:authpass1"),
                SnmpUser.Parse("a256:SHA-256:authpass2"),
                SnmpUser.Parse("p1:SHA:authpass3:AES:privpass3"),
                SnmpUser.Parse("p256:SHA-256:authpass4:AES:privpass4"),
            ],
        },
    });

    [Theory]
    [InlineData("plain")]
    [InlineData("a1:SHA:authpass1")]
    [InlineData("a256:SHA-256:authpass2")]
    [InlineData("p1:SHA:authpass3:AES:privpass3")]
    [InlineData("p256:SHA-256:authpass4:AES:privpass4")]
    public async Task Every_level_and_protocol_the_agent_supports_reads_sysDescr(string user)
    {
        await using var server = await ServeAsync();
        var get = await GetAsync(server.EndPoint("udp/161"), user);
        Assert.True(get.Ok, get.Error);
        Assert.Equal("STRING: cucmsim under test", get[SysDescr].ToString());
        Assert.StartsWith("80000009", get.EngineId, StringComparison.Ordinal);
        Assert.False(get.Resynchronised);
    }

    [Theory]
    [InlineData("a1:SHA:wrongpass1", "usmStatsWrongDigests", "wrong digest")]
    [InlineData("a1:SHA-256:authpass1", "usmStatsWrongDigests", "wrong digest")]
    [InlineData("p1:SHA:authpass3:AES:wrongpriv", "usmStatsDecryptionErrors", "decryption error")]
    [InlineData("p1:SHA:authpass3", "usmStatsUnsupportedSecLevels", "security level")]
    [InlineData("nobody:SHA:authpass1", "usmStatsUnknownUserNames", "knows no such user")]
    public async Task A_refusal_comes_back_as_the_report_in_words(string user, string report, string words)
    {
        await using var server = await ServeAsync();
        var get = await GetAsync(server.EndPoint("udp/161"), user);
        Assert.False(get.Ok);
        Assert.Equal(report, get.Report);
        Assert.StartsWith($"report {report}: ", get.Error, StringComparison.Ordinal);
        Assert.Contains(words, get.Error, StringComparison.Ordinal);
        Assert.NotNull(get.EngineId);
    }

    [Fact]
    public async Task A_request_outside_the_time_window_is_sent_again_with_the_agents_clock()
    {
        await using var server = await ServeAsync();

        // A relay that tells the manager a wrong snmpEngineBoots in the (unauthenticated) discovery Report: the first
        // authenticated request is outside the window, the agent says so in an authenticated Report, and the manager
        // takes the agent's clock from it.
        using var relay = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        upstream.Connect(server.EndPoint("udp/161"));
        using var stop = new CancellationTokenSource();
        var tampered = 0;
        EndPoint client = new IPEndPoint(IPAddress.Any, 0);
        var down = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                var n = await upstream.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                if (Interlocked.Increment(ref tampered) == 1)
                {
                    Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeMessage(buffer.AsSpan(0, n), out var m));
                    Assert.Equal(OperationStatus.Done, SnmpCodec.DecodeUsm(buffer.AsSpan(0, n), m.SecurityParameters, out var usm));
                    var boots = usm.EngineId.End.Value;
                    Assert.Equal([0x02, 0x01, 0x01], buffer[boots..(boots + 3)]);
                    buffer[boots + 2] = 0x07;
                }

                await relay.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, client, stop.Token);
            }
        });
        var up = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                var r = await relay.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                client = r.RemoteEndPoint;
                await upstream.SendAsync(buffer.AsMemory(0, r.ReceivedBytes), SocketFlags.None, stop.Token);
            }
        });

        var get = await GetAsync((IPEndPoint)relay.LocalEndPoint!, "p256:SHA-256:authpass4:AES:privpass4");
        await stop.CancelAsync();
        Assert.True(get.Ok, get.Error);
        Assert.True(get.Resynchronised);
        Assert.Equal("STRING: cucmsim under test", get[SysDescr].ToString());
        Assert.Equal(3, tampered);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(up, down)).DefaultTimeout();
    }

    [Fact]
    public async Task Net_snmp_snmpd_answers_every_level_and_refuses_in_the_same_words()
    {
        await using var snmpd = await NetSnmpAgent.StartAsync("""
            createUser a1 SHA authpass1
            createUser p1 SHA authpass3 AES privpass3
            createUser p256 SHA-256 authpass4 AES privpass4
            rouser a1 auth
            rouser p1 priv
            rouser p256 priv
            sysDescr net-snmp under test

            """);
        foreach (var user in new[] { "a1:SHA:authpass1", "p1:SHA:authpass3:AES:privpass3", "p256:SHA-256:authpass4:AES:privpass4" })
        {
            var get = await GetAsync(snmpd.EndPoint, user);
            Assert.True(get.Ok, $"{user}: {get.Error}");
            Assert.Equal("STRING: net-snmp under test", get[SysDescr].ToString());
            Assert.NotNull(get.EngineId);
        }

        var wrong = await GetAsync(snmpd.EndPoint, "a1:SHA:wrongpass1");
        Assert.Equal("usmStatsWrongDigests", wrong.Report);
        var unknown = await GetAsync(snmpd.EndPoint, "nobody:SHA:authpass1");
        Assert.Equal("usmStatsUnknownUserNames", unknown.Report);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Snmp;
using CucmSim.Protocols.Snmp;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Snmp;

/// <summary>Our SNMP client against net-snmp's snmpd (a real agent) and against our agent.</summary>
public sealed class SnmpClientTests
{
    [Fact]
    public async Task Client_reads_net_snmp_snmpd()
    {
        await using var snmpd = await NetSnmpAgent.StartAsync("rocommunity public 127.0.0.1\nsysName client-test-peer\n");
        var target = snmpd.EndPoint;
        var get = await SnmpClient.GetAsync(target, "public", ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.2.0"]).DefaultTimeout();
        Assert.True(get.Ok, get.Error);
        Assert.Equal("STRING: client-test-peer", get["1.3.6.1.2.1.1.5.0"].ToString());
        Assert.Equal(BerTag.Oid, get["1.3.6.1.2.1.1.2.0"]!.Value.Tag);

        var bulk = await SnmpClient.GetBulkAsync(target, "public", ["1.3.6.1.2.1.1"], 0, 5).DefaultTimeout();
        Assert.True(bulk.Ok, bulk.Error);
        Assert.Equal(5, bulk.VarBinds.Count);

        var v1 = await SnmpClient.GetAsync(target, "public", ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.99.0"], SnmpVersion.V1).DefaultTimeout();
        Assert.Equal(SnmpError.NoSuchName, v1.ErrorStatus);
        Assert.Equal(2, v1.ErrorIndex);

        var wrong = await SnmpClient.GetAsync(target, "private", ["1.3.6.1.2.1.1.5.0"], timeout: TimeSpan.FromMilliseconds(600)).DefaultTimeout();
        Assert.False(wrong.Ok);
        Assert.StartsWith("timeout", wrong.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_and_agent_agree_on_every_request_kind()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.snmp"], EphemeralPorts = true });
        var target = server.EndPoint("udp/161");
        var get = await SnmpClient.GetAsync(target, "public", ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.9.0"]).DefaultTimeout();
        Assert.True(get.Ok, get.Error);
        Assert.Contains("Software:UCOS", get["1.3.6.1.2.1.1.1.0"].ToString(), StringComparison.Ordinal);
        Assert.Equal(BerTag.TimeTicks, get["1.3.6.1.2.1.1.3.0"]!.Value.Tag);
        Assert.Equal(BerTag.NoSuchObject, get["1.3.6.1.2.1.1.9.0"]!.Value.Tag);

        var next = await SnmpClient.GetNextAsync(target, "public", ["1.3.6.1.2.1.1.7.0", "1.3.6.1.6.3.15.1.1.6.0"]).DefaultTimeout();
        Assert.Equal("1.3.6.1.2.1.1.8.0", Ber.FormatOid(next.VarBinds[0].Oid));
        Assert.Equal(BerTag.EndOfMibView, next.VarBinds[1].Value.Tag);

        // GetBulk across the end of the view: the column ends in endOfMibView named like its last object.
        var bulk = await SnmpClient.GetBulkAsync(target, "public", ["1.3.6.1.2.1.1.1.0", "1.3.6.1.6.3.15.1.1.5.0"], 1, 3).DefaultTimeout();
        Assert.True(bulk.Ok, bulk.Error);
        Assert.Equal("1.3.6.1.2.1.1.2.0", Ber.FormatOid(bulk.VarBinds[0].Oid));
        Assert.Equal("1.3.6.1.6.3.15.1.1.6.0", Ber.FormatOid(bulk.VarBinds[1].Oid));
        Assert.Equal(BerTag.EndOfMibView, bulk.VarBinds[2].Value.Tag);
        Assert.Equal("1.3.6.1.6.3.15.1.1.6.0", Ber.FormatOid(bulk.VarBinds[2].Oid));
        Assert.Equal(3, bulk.VarBinds.Count);

        var set = await SnmpClient.RequestAsync(target, "public", PduType.Set, ["1.3.6.1.2.1.1.5.0"], 0, 0, SnmpVersion.V2c, null, 2, CancellationToken.None).DefaultTimeout();
        Assert.Equal(SnmpError.NoAccess, set.ErrorStatus);
        Assert.Equal(1, set.ErrorIndex);
    }
}

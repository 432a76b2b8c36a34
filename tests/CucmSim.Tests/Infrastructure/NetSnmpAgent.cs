using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Tests.Infrastructure;

/// <summary>Debian's net-snmp snmpd on a free loopback port with a configuration of the test's own, killed on dispose.</summary>
public sealed class NetSnmpAgent : IAsyncDisposable
{
    private readonly Process _process;

    private NetSnmpAgent(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts snmpd with <paramref name="config"/> (its own file: no system configuration) and waits until it runs.</summary>
    public static async Task<NetSnmpAgent> StartAsync(string config)
    {
        // Its own loopback address: the port stays free between finding it and snmpd binding it.
        var endPoint = UniqueLoopback.FreeUdp(202);
        var dir = SimHost.TempDirectory();
        var conf = Path.Combine(dir, "snmpd.conf");
        await File.WriteAllTextAsync(conf, config);
        var psi = new ProcessStartInfo(ExternalTool.Require("snmpd")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-f", "-Lo", "-C", "-c", conf, "-p", Path.Combine(dir, "snmpd.pid"), string.Create(CultureInfo.InvariantCulture, $"udp:{endPoint}") })
        {
            psi.ArgumentList.Add(a);
        }

        // No MIB files to parse, and the users createUser makes are kept in the test's own directory.
        psi.Environment["MIBS"] = string.Empty;
        psi.Environment["SNMP_PERSISTENT_DIR"] = dir;
        var process = Process.Start(psi)!;
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) => { if (e.Data?.Contains("NET-SNMP version", StringComparison.Ordinal) == true) { ready.TrySetResult(); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data?.Contains("NET-SNMP version", StringComparison.Ordinal) == true) { ready.TrySetResult(); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var agent = new NetSnmpAgent(process, endPoint);
        try
        {
            await ready.Task.DefaultTimeout();
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }

        return agent;
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().DefaultTimeout();
        _process.Dispose();
    }
}

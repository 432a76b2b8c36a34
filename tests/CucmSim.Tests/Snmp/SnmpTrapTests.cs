using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using CucmSim.Serve;
using CucmSim.Serve.Snmp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Snmp;

/// <summary>Traps to net-snmp's snmptrapd (package snmptrapd) listening on a loopback port.</summary>
public sealed class SnmpTrapTests
{
    [Fact]
    public async Task Snmptrapd_receives_coldstart_and_phone_status_updates()
    {
        await using var trapd = await TrapDaemon.StartAsync();
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = ["t2.snmp"],
            EphemeralPorts = true,
            Snmp = new SnmpOptions
            {
                TrapReceivers = [trapd.EndPoint.ToString()],
                PhoneStatusTraps = true,
            },
        });

        // The agent starts with the first snmp listener; coldStart follows at once.
        var cold = await trapd.WaitForLineAsync(l => l.Contains(".1.3.6.1.6.3.1.1.5.1", StringComparison.Ordinal)).DefaultTimeout();
        Assert.Contains(".1.3.6.1.6.3.1.1.4.1.0", cold, StringComparison.Ordinal);
        await server.WaitForRecordAsync(r => r.Verdict == "snmp-trap-sent" && r.Detail!["trap"] == "coldStart");

        server.Context.Devices.Register(new DeviceRecord("SEPAABBCCDDEEFF", "sip", "Cisco 8845", null, "10.1.1.9", "127.0.0.1:5062", "udp/5060", DateTimeOffset.UtcNow));
        var phone = await trapd.WaitForLineAsync(l => l.Contains(".1.3.6.1.4.1.9.9.156.2.0.3", StringComparison.Ordinal)).DefaultTimeout();
        Assert.Contains("SEPAABBCCDDEEFF", phone, StringComparison.Ordinal);
    }

    private sealed class TrapDaemon : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly List<string> _seen = [];

        private TrapDaemon(Process process, IPEndPoint endPoint)
        {
            _process = process;
            EndPoint = endPoint;
        }

        public IPEndPoint EndPoint { get; }

        public static async Task<TrapDaemon> StartAsync()
        {
            // Its own loopback address: the port stays free between finding it and snmptrapd binding it.
            var endPoint = UniqueLoopback.FreeUdp(203);
            var dir = SimHost.TempDirectory();
            var conf = Path.Combine(dir, "snmptrapd.conf");
            await File.WriteAllTextAsync(conf, "disableAuthorization yes\n");
            var psi = new ProcessStartInfo(ExternalTool.Require("snmptrapd"))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "-f", "-Lo", "-On", "-C", "-c", conf, "-F", "TRAP %v\n", string.Create(CultureInfo.InvariantCulture, $"udp:{endPoint}") })
            {
                psi.ArgumentList.Add(a);
            }

            psi.Environment["MIBS"] = string.Empty;
            psi.Environment["SNMP_PERSISTENT_DIR"] = dir;
            var process = Process.Start(psi)!;
            var daemon = new TrapDaemon(process, endPoint);
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { daemon._lines.Writer.TryWrite(e.Data); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { daemon._lines.Writer.TryWrite(e.Data); } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            // snmptrapd logs its version once it listens.
            await daemon.WaitForLineAsync(l => l.Contains("NET-SNMP version", StringComparison.Ordinal)).DefaultTimeout();
            return daemon;
        }

        public async Task<string> WaitForLineAsync(Func<string, bool> match)
        {
            while (true)
            {
                var line = await _lines.Reader.ReadAsync();
                _seen.Add(line);
                if (match(line))
                {
                    return line;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().DefaultTimeout();
            }

            _process.Dispose();
        }
    }
}

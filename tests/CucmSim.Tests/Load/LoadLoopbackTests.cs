using System.Text.Json;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Load;

/// <summary>A real serve process on the loopback of a namespace of its own (the profile's own ports), and load runs beside it.</summary>
public sealed class LoadServe : IAsyncLifetime
{
    public string Namespace { get; } = $"cl{Guid.NewGuid().ToString("N")[..6]}-lo";

    public CucmSimProcess Server { get; private set; } = null!;

    public string Ledger { get; } = Path.Combine(Path.GetTempPath(), $"cucmsim-load-ledger-{Guid.NewGuid():N}.jsonl");

    public string Control => $"http://{Server.Control}";

    public async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("network namespace tests need root (CI runs as root)");
        }

        await Netns.RunStepsAsync([$"ip netns add {Namespace}", $"ip -n {Namespace} link set lo up"]).DefaultTimeout();
        Server = CucmSimProcess.StartIn(Namespace, "serve", "--bind", "127.0.0.1", "--control", "127.0.0.1:9900", "--ledger", Ledger, "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await Server.ReadyAsync();
    }

    /// <summary>Starts cucmsim load beside the server; the task ends with the process.</summary>
    public Task<ToolResult> LoadAsync(TimeSpan timeout, params string[] args) =>
        ExternalTool.RunAsync("ip", ["netns", "exec", Namespace, "dotnet", CucmSimProcess.DllPath, "load", .. args], timeout);

    /// <summary>The devices the control API lists now, by protocol.</summary>
    public async Task<Dictionary<string, int>> DevicesAsync() =>
        (await DeviceListAsync()).GroupBy(d => d.Protocol).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>The devices the control API lists now: name, protocol and the address their signalling came from.</summary>
    public async Task<List<(string Name, string Protocol, string Seen)>> DeviceListAsync()
    {
        var result = await Netns.ExecAsync(Namespace, "curl", ["-s", "--max-time", "5", $"{Control}/api/devices"], TimeSpan.FromSeconds(10));
        using var json = JsonDocument.Parse(result.Stdout);
        return [.. json.RootElement.EnumerateArray().Select(d => (d.GetProperty("name").GetString()!, d.GetProperty("protocol").GetString()!, d.GetProperty("seenAddress").GetString()!))];
    }

    /// <summary>The ledger's records by kind and verdict.</summary>
    public Dictionary<string, int> LedgerCounts()
    {
        var counts = new Dictionary<string, int>();
        using var stream = new FileStream(Ledger, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            using var record = JsonDocument.Parse(line);
            var key = record.RootElement.GetProperty("kind").GetString() + "/" + (record.RootElement.TryGetProperty("verdict", out var v) ? v.GetString() : "-");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        return counts;
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Netns.DeleteAsync(Namespace);
        File.Delete(Ledger);
    }
}

public sealed class LoadLoopbackTests(LoadServe serve) : IClassFixture<LoadServe>
{
    /// <summary>The run's report, checked: exit 0, every call set up and completed, no failure, no media leg lost.</summary>
    private static async Task<LoadReport> CleanAsync(ToolResult result, string json, long calls)
    {
        Assert.True(result.ExitCode == 0, result.All);
        var report = LoadReport.FromJson(await File.ReadAllTextAsync(json));
        Assert.Equal(calls, report.Counters.CallsAttempted);
        Assert.Equal(calls, report.Counters.CallsEstablished);
        Assert.Equal(calls, report.Counters.CallsCompleted);
        Assert.Equal(0, report.Counters.MediaLegsLost);
        Assert.Empty(report.Failures);
        return report;
    }

    [Fact]
    public async Task Five_hundred_sccp_and_five_hundred_sip_phones_register_and_call_and_the_server_saw_the_same()
    {
        var before = serve.LedgerCounts();
        var json = Path.Combine(Path.GetTempPath(), $"cucmsim-load-{Guid.NewGuid():N}.json");
        var html = Path.ChangeExtension(json, ".html");
        var hlog = Path.ChangeExtension(json, ".hlog");
        try
        {
            // 1000 phones (even ones SCCP, odd ones SIP) registered in 2 s, then 6 s of calls at 40/s held 2 s, with media.
            var run = serve.LoadAsync(TimeSpan.FromSeconds(60), "127.0.0.1", "--phones", "1000", "--protocol", "mixed", "--register-rate", "500",
                "--cps", "40", "--hold", "2", "--duration", "6", "--json", json, "--html", html, "--hlog", hlog);

            // While the calls run, the control API lists every phone.
            Dictionary<string, int> devices = [];
            for (var i = 0; i < 100 && !run.IsCompleted; i++)
            {
                devices = await serve.DevicesAsync();
                if (devices.GetValueOrDefault("sccp") == 500 && devices.GetValueOrDefault("sip") == 500)
                {
                    break;
                }

                await Task.Delay(100);
            }

            Assert.Equal(500, devices.GetValueOrDefault("sccp"));
            Assert.Equal(500, devices.GetValueOrDefault("sip"));

            var result = await run;
            var c = (await CleanAsync(result, json, calls: 240)).Counters;
            Assert.Equal(1000, c.RegistrationsSucceeded);
            Assert.Equal(240, c.MediaLegs);
            Assert.Contains("setup time", result.Stdout, StringComparison.Ordinal);

            // The ledger holds the same registrations and calls: its records of this run are the counts' differences.
            var after = serve.LedgerCounts();
            int Delta(string key) => after.GetValueOrDefault(key) - before.GetValueOrDefault(key);
            Assert.Equal(500, Delta("sccp-register/registered"));
            Assert.Equal(500, Delta("sip-register/registered"));
            Assert.Equal(500, Delta("sccp-unregister/unregister-req"));
            Assert.Equal(500, Delta("sip-register/unregistered"));
            Assert.Equal(c.CallsEstablished, Delta("sccp-media-open/media-open") + Delta("sip-call/completed"));
            var plan = new LoadPlan { Target = System.Net.IPAddress.Loopback, Phones = 1000, Protocol = LoadProtocol.Mixed, RegisterRate = 500, CallsPerSecond = 40, Hold = TimeSpan.FromSeconds(2), Duration = TimeSpan.FromSeconds(6) };
            Assert.Equal(new LoadSchedule(plan).Calls(ShardSpec.Whole).Count(k => plan.ProtocolOf(k.Caller) == LoadProtocol.Sccp), Delta("sccp-media-open/media-open"));

            // And the phones are gone once the run ends.
            devices = await serve.DevicesAsync();
            Assert.Equal(0, devices.Values.Sum());

            Assert.Contains("<svg", await File.ReadAllTextAsync(html), StringComparison.Ordinal);
            Assert.StartsWith("#[Histogram log format version 1.3]", await File.ReadAllTextAsync(hlog), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(json);
            File.Delete(html);
            File.Delete(hlog);
        }
    }

    [Fact]
    public async Task Phones_spread_over_62_source_addresses_register_each_from_its_own()
    {
        var plan = new LoadPlan
        {
            Target = System.Net.IPAddress.Loopback,
            Phones = 124,
            Protocol = LoadProtocol.Mixed,
            Sources = LoadPlan.ParseSources("127.1.0.0/26", out _),
        };
        var run = serve.LoadAsync(TimeSpan.FromSeconds(60), "127.0.0.1", "--phones", "124", "--protocol", "mixed", "--sources", "127.1.0.0/26", "--register-rate", "200",
            "--cps", "10", "--hold", "1", "--duration", "2", "--quiet");
        List<(string Name, string Protocol, string Seen)> devices = [];
        for (var i = 0; i < 100 && !run.IsCompleted; i++)
        {
            devices = await serve.DeviceListAsync();
            if (devices.Count == 124)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(124, devices.Count);
        foreach (var (name, protocol, seen) in devices)
        {
            var index = protocol == "sccp" ? (int)(Convert.ToInt64(name[3..], 16) - LoadPlan.DefaultMacBase) : int.Parse(name, System.Globalization.CultureInfo.InvariantCulture) - 100_000;
            Assert.Equal(plan.SourceOf(index)!.ToString(), seen[..seen.LastIndexOf(':')]);
        }

        Assert.Equal(62, devices.Select(d => d.Seen[..d.Seen.LastIndexOf(':')]).Distinct().Count());
        var result = await run;
        Assert.True(result.ExitCode == 0, result.All);
    }

    /// <summary>
    /// 100 phones of <paramref name="protocol"/> in phone-to-phone mode, 40 calls held 2 s: the clean report, the
    /// summary and the ledger's records of the run by kind and verdict. Every call was answered by the load phone
    /// dialled; each is two legs, each measured where it arrives (callee-to-caller at the caller, caller-to-callee at
    /// the callee).
    /// </summary>
    private async Task<(LoadCounters Counters, string Summary, Func<string, int> Delta)> PhoneToPhoneAsync(string protocol)
    {
        var before = serve.LedgerCounts();
        var json = Path.Combine(Path.GetTempPath(), $"cucmsim-load-{Guid.NewGuid():N}.json");
        try
        {
            var result = await serve.LoadAsync(TimeSpan.FromSeconds(60), "127.0.0.1", "--phones", "100", "--protocol", protocol, "--mode", "phone", "--register-rate", "200",
                "--cps", "10", "--hold", "2", "--duration", "4", "--json", json, "--quiet");
            var c = (await CleanAsync(result, json, calls: 40)).Counters;
            Assert.Equal(40, c.CallsAnswered);
            Assert.Equal(80, c.MediaLegs);
            Assert.True(c.RtpReceived > 80 * 80, $"{c.RtpReceived} RTP packets between the phones");
            var after = serve.LedgerCounts();
            return (c, result.Stdout, key => after.GetValueOrDefault(key) - before.GetValueOrDefault(key));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public async Task Sip_phones_call_each_other_through_serve_and_media_flows_between_them()
    {
        var (_, _, delta) = await PhoneToPhoneAsync("sip");

        // The server relayed every call and the caller hung each up; none was answered by the server itself.
        Assert.Equal(40, delta("sip-route/completed-by-caller"));
        Assert.Equal(0, delta("sip-call/completed"));
    }

    [Fact]
    public async Task Sccp_phones_call_each_other_through_serve_and_media_flows_between_them()
    {
        // The callee answered each RingIn off hook and sent to the address the server's StartMediaTransmission named
        // (the other phone's OpenReceiveChannelAck).
        var (c, summary, delta) = await PhoneToPhoneAsync("sccp");
        Assert.DoesNotContain("no load phone answered", summary, StringComparison.Ordinal);
        Assert.True(c.RtpLost <= c.RtpReceived / 100, $"{c.RtpLost} of {c.RtpReceived} RTP packets lost");

        // The server routed every call between the phones and connected none to its test extension.
        Assert.Equal(c.CallsEstablished, delta("sccp-route/completed"));
        Assert.Equal(0, delta("sccp-route/busy"));
        Assert.Equal(0, delta("sccp-media-open/media-open"));
    }
}

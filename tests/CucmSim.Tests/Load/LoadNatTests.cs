using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CucmSim.Tests.Load;

/// <summary>
/// Phone-to-phone load through an nftables NAT firewall, in namespaces the test creates (<see cref="NatPath"/> with
/// a server namespace), with phones on both sides so that every call's media must cross the firewall:
/// <list type="bullet">
/// <item>inside: 64 SIP-over-UDP callers on 32 addresses of 198.18.0.0/24 in the client namespace, each address
/// translated by the firewall to one of its own (static source NAT to 203.0.113.1..32);</item>
/// <item>outside: 64 SIP-over-UDP callees on 32 addresses of 198.19.0.0/24 in the server namespace, beside a
/// `cucmsim serve` (198.51.100.1) with which all 128 phones register.</item>
/// </list>
/// One plan (`--mode phone --callers 64`) run as two shards, started together by shard 0 over a link of their own:
/// shard 0/2 (phones 0..63, the first 32 sources) inside, shard 1/2 (phones 64..127) outside. Each inside phone calls one outside phone once; serve
/// relays the INVITE with the caller's SDP unchanged, so media flows directly between the phones, through the
/// firewall.
/// <para>
/// The firewall's forward policy is a stateful one: established and related traffic passes, traffic from the
/// inside passes (translated), a new flow from the outside toward an inside address is dropped and counted. So only
/// connection tracking decides whether a callee's RTP reaches its caller:
/// </para>
/// <list type="bullet">
/// <item>without the sip helper, the caller's SDP carries its own inside address; the callee sends there, a new flow
/// toward the inside, dropped: every "callee-to-caller" leg is lost, by leg, while every "caller-to-callee" leg (the
/// inside phone sending out, translated) passes, and registrations and calls succeed;</item>
/// <item>with the sip helper (nf_conntrack_sip and nf_nat_sip on 5060/udp), the caller's SDP is rewritten to its
/// outside address and a port the helper expects media on; the callee's RTP there is related, translated back to
/// the caller: every leg passes, with no RTP lost.</item>
/// </list>
/// Two settings make the helper run deterministic, each for a cause found here:
/// <list type="bullet">
/// <item>The helper expects media from the signalling peer alone by default (nf_conntrack_sip's sip_direct_media=1):
/// here that is serve, not the callee, so every callee-to-caller leg would be lost. The test sets sip_direct_media=0
/// (media from any address, as phones calling each other need) for the helper run and restores it after. The
/// parameter is the module's, not the namespace's; it only widens what the helper expects.</item>
/// <item>With sip_direct_media=0 an expectation is "any address to the translated address and port". Behind one
/// masquerade address, two calls up at once whose callers (on different inside addresses) chose the same RTP port
/// ask for the same expectation: the helper refuses the second (it exists for another master) and drops that
/// INVITE, and every retransmission, until the first call's BYE clears its expectations; the call then fails with
/// timeout-setup. With random even ports (about 14,000) and 32 calls up at once that was about one run in ten by the
/// birthday bound; with the ports narrowed to 100 even ones, 6 of 64 calls failed so. One outside address per inside
/// address removes the cause: two sockets up at once on one address never share a port. The load phones take their
/// media ports in turn from the profile's range toward phones, 16384 first on every address, so the same port numbers
/// recur across the inside addresses in every run and a regression shows at once.</item>
/// </list>
/// </summary>
public sealed class LoadNatTests(ITestOutputHelper output)
{
    private const int Phones = 128;
    private const int Callers = 64;
    private const string DirectMedia = "/sys/module/nf_conntrack_sip/parameters/sip_direct_media";

    private static readonly string[] Inside = PhoneSides.Addresses("198.18.0", 32);

    /// <summary>The firewall's outside address for each inside one (static source NAT, one to one).</summary>
    private static readonly string[] Public = [.. Enumerable.Range(1, 32).Select(i => $"203.0.113.{i.ToString(CultureInfo.InvariantCulture)}")];

    private static readonly string[] Outside = PhoneSides.Addresses("198.19.0", 32);

    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    /// <summary>What one run gave: each shard's report and output, serve's ledger, the devices serve listed, the drops toward the inside.</summary>
    private sealed record NatRun(LoadReport In, ToolResult InResult, LoadReport Out, ToolResult OutResult, Dictionary<string, int> Ledger,
        List<(string Offer, string Answer)> Routes, List<(string Name, string Seen, string? Embedded)> Devices, long DroppedToInside, string Conntrack)
    {
        public string All => $"inside:\n{InResult.All}\noutside:\n{OutResult.All}\nfirewall:\n{Conntrack}";

        /// <summary>One line per side and the firewall's conntrack statistics, for the test's output.</summary>
        public string Summary => string.Join('\n',
            new[] { ("inside", In), ("outside", Out) }.Select(s => string.Create(CultureInfo.InvariantCulture,
                $"{s.Item1}: {s.Item2.Counters.RegistrationsSucceeded} registered, {s.Item2.Counters.CallsEstablished} calls set up, {s.Item2.Counters.CallsAnswered} answered, {s.Item2.Counters.MediaLegs} legs ({s.Item2.Counters.MediaLegsLost} lost: {string.Join(", ", s.Item2.LostLegs.Select(l => $"{l.Key} {l.Value}"))}), RTP {s.Item2.Counters.RtpSent} sent, {s.Item2.Counters.RtpReceived} received, {s.Item2.Counters.RtpLost} lost"))
            .Append(string.Create(CultureInfo.InvariantCulture, $"dropped toward the inside: {DroppedToInside}")).Append(Conntrack));
    }

    private async Task<NatRun> RunAsync(bool sipHelper)
    {
        var run = await RunOnceAsync(sipHelper);
        output.WriteLine(run.Summary);
        return run;
    }

    private static async Task<NatRun> RunOnceAsync(bool sipHelper)
    {
        var path = await NatPath.CreateAsync(serverNamespace: true).DefaultTimeout();
        var ledger = Path.Combine(Path.GetTempPath(), $"cucmsim-load-nat-{Guid.NewGuid():N}.jsonl");
        var jsonIn = Path.ChangeExtension(ledger, ".in.json");
        var jsonOut = Path.ChangeExtension(ledger, ".out.json");
        string? directMedia = null;
        CucmSimProcess? server = null;
        try
        {
            var serverNs = path.ServerNs!;

            await PhoneSides.AddAsync(path, Inside, Outside);

            // Each inside address leaves as its own outside address (before NatPath's masquerade, which then has
            // nothing left to do). The stateful policy: what belongs to a tracked flow (or is related to one) passes,
            // the inside may open flows, a new flow toward the inside is dropped and counted. (NatPath's own forward
            // chain accepts all; a drop in this chain is final.)
            await path.LoadFirewallAsync($$"""
                table ip phones {
                  chain post {
                    type nat hook postrouting priority 90;
                    ip saddr {{PhoneSides.InsideNet}} snat to ip saddr map { {{string.Join(", ", Inside.Zip(Public, (a, b) => $"{a} : {b}"))}} }
                  }
                }
                table inet stateful {
                  counter toinside { }
                  chain forward {
                    type filter hook forward priority 10; policy accept;
                    ct state established,related accept
                    ip daddr {{PhoneSides.InsideNet}} counter name "toinside" drop
                  }
                }
                """).DefaultTimeout();
            if (sipHelper)
            {
                await path.AddHelperAsync("sip", "udp", 5060).DefaultTimeout();
                Assert.True(File.Exists(DirectMedia), $"{DirectMedia}: nf_conntrack_sip is not loaded");
                directMedia = (await File.ReadAllTextAsync(DirectMedia)).Trim();
                await File.WriteAllTextAsync(DirectMedia, "0");
            }

            server = CucmSimProcess.StartIn(serverNs, "serve", "--bind", NatPath.Server.ToString(), "--control", "127.0.0.1:9900", "--ledger", ledger,
                "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
            await server.ReadyAsync();

            // Shard 0 (inside) starts both once both are ready: 128 phones registered in 0.64 s, then (after 1 s to
            // settle) 4 s of calls at 16/s, each held 2 s: every caller calls once.
            string[] plan = [NatPath.Server.ToString(), "--phones", Phones.ToString(CultureInfo.InvariantCulture), "--protocol", "sip", "--mode", "phone",
                "--callers", Callers.ToString(CultureInfo.InvariantCulture), "--sources", string.Join(',', Inside.Concat(Outside)),
                "--register-rate", "200", "--cps", "16", "--hold", "2", "--duration", "4", "--timeout", "3", "--quiet"];
            var (inside, outside) = PhoneSides.Start(path, plan, jsonIn, jsonOut);

            // While the phones are registered (they unregister at the end), serve lists every one.
            var devices = new List<(string Name, string Seen, string? Embedded)>();
            for (var i = 0; i < 100 && !(inside.IsCompleted && outside.IsCompleted); i++)
            {
                devices = await DevicesAsync(serverNs, server);
                if (devices.Count == Phones)
                {
                    break;
                }

                await Task.Delay(100);
            }

            var (inResult, outResult) = (await inside.DefaultTimeout(TimeSpan.FromSeconds(45)), await outside.DefaultTimeout(TimeSpan.FromSeconds(45)));
            Assert.True(File.Exists(jsonIn) && File.Exists(jsonOut), $"inside:\n{inResult.All}\noutside:\n{outResult.All}");

            // Shard 0 handed out the start once both were ready, over the management link (a shard that starts late
            // says so, and is behind the other's schedule).
            Assert.Contains("every shard is ready", inResult.All, StringComparison.Ordinal);
            Assert.DoesNotContain("behind the schedule", inResult.All + outResult.All, StringComparison.Ordinal);
            var counter = await path.InFirewallAsync("nft", ["list", "counter", "inet", "stateful", "toinside"], Step).DefaultTimeout();
            var packets = Regex.Match(counter.Stdout, @"packets (\d+)");
            Assert.True(packets.Success, counter.All);
            var expectations = await path.InFirewallAsync("conntrack", ["-L", "expect"], Step).DefaultTimeout();
            var stats = await path.InFirewallAsync("conntrack", ["-S"], Step).DefaultTimeout();
            var conntrack = $"expectations pending: {expectations.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length}\n{stats.Stdout.Trim()}";
            await server.DisposeAsync();
            server = null;
            var outsideReport = LoadReport.FromJson(await File.ReadAllTextAsync(jsonOut));
            var insideReport = PhoneSides.Inside(LoadReport.FromJson(await File.ReadAllTextAsync(jsonIn)), outsideReport);
            return new NatRun(insideReport, inResult, outsideReport, outResult,
                Ledger(ledger, out var routes), routes, devices, long.Parse(packets.Groups[1].Value, CultureInfo.InvariantCulture), conntrack);
        }
        finally
        {
            if (directMedia is not null)
            {
                await File.WriteAllTextAsync(DirectMedia, directMedia);
            }

            if (server is not null)
            {
                await server.DisposeAsync();
            }

            await path.DisposeAsync();
            File.Delete(ledger);
            File.Delete(jsonIn);
            File.Delete(jsonOut);
        }
    }

    /// <summary>Serve's devices now: name, the address their signalling came from, the one in their messages.</summary>
    private static async Task<List<(string Name, string Seen, string? Embedded)>> DevicesAsync(string ns, CucmSimProcess server)
    {
        var result = await Netns.ExecAsync(ns, "curl", ["-s", "--max-time", "5", $"http://{server.Control}/api/devices"], Step).DefaultTimeout();
        using var json = JsonDocument.Parse(result.Stdout);
        return [.. json.RootElement.EnumerateArray().Select(d => (d.GetProperty("name").GetString()!, d.GetProperty("seenAddress").GetString()!,
            d.TryGetProperty("embeddedAddress", out var e) ? e.GetString() : null))];
    }

    /// <summary>The ledger's records by kind and verdict, and the SDP c= of each routed call's offer and answer.</summary>
    private static Dictionary<string, int> Ledger(string file, out List<(string Offer, string Answer)> routes)
    {
        var counts = new Dictionary<string, int>();
        routes = [];
        foreach (var line in File.ReadLines(file).Where(l => l.Length > 0))
        {
            using var record = JsonDocument.Parse(line);
            var root = record.RootElement;
            var key = root.GetProperty("kind").GetString() + "/" + (root.TryGetProperty("verdict", out var v) ? v.GetString() : "-");
            counts[key] = counts.GetValueOrDefault(key) + 1;
            if (key == "sip-route/completed-by-caller")
            {
                var detail = root.GetProperty("detail");
                routes.Add((detail.GetProperty("offer").GetString()!, detail.GetProperty("answer").GetString()!));
            }
        }

        return counts;
    }

    /// <summary>
    /// Signalling passed whatever the helper: all 128 phones registered (both reports, serve's ledger and its device
    /// list, the inside ones seen from the firewall's outside address), every inside phone called an outside one
    /// once, each call was set up, answered by its callee, routed by serve and completed.
    /// </summary>
    private static void RegisteredAndCalled(NatRun run)
    {
        Assert.True(run.In.Counters.RegistrationsSucceeded == Callers && run.Out.Counters.RegistrationsSucceeded == Phones - Callers, run.All);
        Assert.Equal(Phones, run.Ledger.GetValueOrDefault("sip-register/registered"));
        Assert.Equal(Phones, run.Devices.Count);
        Assert.Equal(Callers, run.Devices.Count(d => d.Seen.StartsWith("203.0.113.", StringComparison.Ordinal)));
        Assert.Equal(Public.Length, run.Devices.Select(d => d.Seen.Split(':')[0]).Distinct().Count(a => a.StartsWith("203.0.113.", StringComparison.Ordinal)));
        Assert.Equal(Phones - Callers, run.Devices.Count(d => d.Seen.StartsWith("198.19.0.", StringComparison.Ordinal)));

        Assert.Equal(Callers, run.In.Counters.CallsAttempted);
        Assert.True(run.In.Counters.CallsEstablished == Callers && run.In.Counters.CallsCompleted == Callers, run.All);
        Assert.Equal(0, run.Out.Counters.CallsAttempted);
        Assert.True(run.Out.Counters.CallsAnswered == Callers, run.All);
        Assert.Equal(Callers, run.Ledger.GetValueOrDefault("sip-route/completed-by-caller"));
        Assert.All(run.Routes, r => Assert.Contains("198.19.0.", r.Answer, StringComparison.Ordinal));
        Assert.DoesNotContain(run.In.Failures.Keys, k => k != "media-lost");
        Assert.DoesNotContain(run.Out.Failures.Keys, k => k != "media-lost");

        // Each side measures what it receives: the callers the callee-to-caller legs, the callees the others.
        Assert.Equal(Callers, run.In.Counters.MediaLegs);
        Assert.Equal(Callers, run.Out.Counters.MediaLegs);
    }

    [Fact]
    public async Task Without_the_sip_helper_phones_on_64_addresses_register_and_call_and_the_media_toward_the_inside_is_lost_by_leg()
    {
        var run = await RunAsync(sipHelper: false);
        RegisteredAndCalled(run);

        // The offer kept the caller's inside address: the callee's RTP toward it was a new flow to the inside, dropped.
        Assert.All(run.Routes, r => Assert.Contains("198.18.0.", r.Offer, StringComparison.Ordinal));
        Assert.True(run.In.Counters.MediaLegsLost == Callers, run.All);
        Assert.Equal("callee-to-caller", Assert.Single(run.In.LostLegs).Key);
        Assert.Equal(Callers, run.In.LostLegs["callee-to-caller"]);
        Assert.Equal(0, run.In.Counters.RtpReceived);
        Assert.True(run.DroppedToInside >= run.Out.Counters.RtpSent, $"{run.DroppedToInside} packets dropped toward the inside, {run.Out.Counters.RtpSent} RTP sent by the callees");

        // The other way the inside phones sent out, masqueraded, and every callee received their RTP.
        Assert.True(run.Out.Counters.MediaLegsLost == 0, run.All);
        Assert.Empty(run.Out.LostLegs);
        Assert.True(run.Out.Counters.RtpReceived > Callers * 80, $"{run.Out.Counters.RtpReceived} RTP packets at the callees");
    }

    [Fact]
    public async Task With_the_sip_helper_phones_on_64_addresses_register_and_call_and_every_media_leg_passes()
    {
        var run = await RunAsync(sipHelper: true);
        RegisteredAndCalled(run);

        // The helper rewrote each offer to the firewall's outside address and expected the callee's RTP there.
        Assert.All(run.Routes, r => Assert.Contains("203.0.113.", r.Offer, StringComparison.Ordinal));
        Assert.Equal(0, run.DroppedToInside);
        foreach (var side in new[] { run.In, run.Out })
        {
            Assert.True(side.Counters.MediaLegsLost == 0, run.All);
            Assert.Empty(side.LostLegs);
            Assert.Empty(side.Failures);
            Assert.True(side.Counters.RtpReceived > Callers * 80, $"{side.Counters.RtpReceived} RTP packets received, {side.Counters.RtpLost} lost\n{run.All}");
        }

        // Nothing is lost within a stream (veth between namespaces drops nothing), and each side receives what the
        // other sent but at most one packet a leg: the last one a callee sends as the BYE reaches it (a caller keeps
        // receiving 200 ms after it hangs up, far longer than the BYE takes through serve).
        Assert.True(run.In.Counters.RtpLost == 0 && run.Out.Counters.RtpLost == 0, $"{run.In.Counters.RtpLost} RTP lost at the callers, {run.Out.Counters.RtpLost} at the callees");
        Assert.InRange(run.In.Counters.RtpReceived, run.Out.Counters.RtpSent - Callers, run.Out.Counters.RtpSent);
        Assert.InRange(run.Out.Counters.RtpReceived, run.In.Counters.RtpSent - Callers, run.In.Counters.RtpSent);
    }
}

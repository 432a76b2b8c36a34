using System.Globalization;
using System.Text.RegularExpressions;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CucmSim.Tests.Load;

/// <summary>
/// Phone-to-phone load through a routed firewall (no NAT) whose only policy is the profile's own access list toward
/// phones, as `cucmsim acl --from cucm --to phone --format nftables` writes it: SIP to 5060, and RTP to the phones'
/// media range 16384-32767 (t6.rtp-to-phone), everything else dropped. The media between two phones crosses it as two
/// new flows, one each way, toward the other phone's media port: it passes only if the load phones take their media
/// ports from that range, as Cisco phones do. With ports the kernel picks (32768 and up), every leg would be lost.
/// <list type="bullet">
/// <item>inside: 16 SIP-over-UDP callers on 8 addresses of 198.18.0.0/24 in the client namespace;</item>
/// <item>outside: 16 callees on 8 addresses of 198.19.0.0/24 in the server namespace, beside `cucmsim serve`.</item>
/// </list>
/// </summary>
public sealed class LoadAclTests(ITestOutputHelper output)
{
    private const int Phones = 32;
    private const int Callers = 16;
    private const string Table = "cucmsim_cucm_to_phone";

    private static readonly string[] Inside = PhoneSides.Addresses("198.18.0", 8);

    private static readonly string[] Outside = PhoneSides.Addresses("198.19.0", 8);

    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Phone_to_phone_media_passes_a_firewall_that_allows_the_profiles_media_range_toward_phones_and_nothing_more()
    {
        var path = await NatPath.CreateAsync(serverNamespace: true).DefaultTimeout();
        var jsonIn = Path.Combine(Path.GetTempPath(), $"cucmsim-load-acl-{Guid.NewGuid():N}.in.json");
        var jsonOut = Path.ChangeExtension(jsonIn, ".out.json");
        CucmSimProcess? server = null;
        try
        {
            var serverNs = path.ServerNs!;
            await PhoneSides.AddAsync(path, Inside, Outside);

            // Routed, not translated: the path's masquerade goes; the access list is the policy.
            var unmasked = await path.InFirewallAsync("nft", ["delete", "table", "ip", "nat"], Step).DefaultTimeout();
            Assert.True(unmasked.ExitCode == 0, unmasked.All);
            var acl = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "acl", "--from", "cucm", "--to", "phone", "--format", "nftables", "--counters"], Step).DefaultTimeout();
            Assert.True(acl.ExitCode == 0, acl.All);
            Assert.Contains("udp dport { 16384-32767 }", acl.Stdout, StringComparison.Ordinal);
            await path.LoadFirewallAsync(acl.Stdout).DefaultTimeout();

            server = CucmSimProcess.StartIn(serverNs, "serve", "--bind", NatPath.Server.ToString(), "--control", "127.0.0.1:9900",
                "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
            await server.ReadyAsync();

            // Shard 0 (inside) starts both once both are ready: 32 phones registered, then 2 s of calls at 8/s, each
            // held 2 s.
            string[] plan = [NatPath.Server.ToString(), "--phones", Phones.ToString(CultureInfo.InvariantCulture), "--protocol", "sip", "--mode", "phone",
                "--callers", Callers.ToString(CultureInfo.InvariantCulture), "--sources", string.Join(',', Inside.Concat(Outside)),
                "--register-rate", "200", "--cps", "8", "--hold", "2", "--duration", "2", "--timeout", "3", "--quiet"];
            var (inside, outside) = PhoneSides.Start(path, plan, jsonIn, jsonOut);
            var (inResult, outResult) = (await inside.DefaultTimeout(TimeSpan.FromSeconds(45)), await outside.DefaultTimeout(TimeSpan.FromSeconds(45)));
            var all = $"inside:\n{inResult.All}\noutside:\n{outResult.All}";
            Assert.True(File.Exists(jsonIn) && File.Exists(jsonOut), all);

            // Shard 0 handed out the start once both were ready, over the management link (a shard that starts late
            // says so, and is behind the other's schedule).
            Assert.Contains("every shard is ready", all, StringComparison.Ordinal);
            Assert.DoesNotContain("behind the schedule", all, StringComparison.Ordinal);
            var callees = LoadReport.FromJson(await File.ReadAllTextAsync(jsonOut));
            var callers = PhoneSides.Inside(LoadReport.FromJson(await File.ReadAllTextAsync(jsonIn)), callees);
            var rules = await path.InFirewallAsync("nft", ["list", "table", "inet", Table], Step).DefaultTimeout();
            output.WriteLine(rules.Stdout);

            Assert.True(callers.Counters.RegistrationsSucceeded == Callers && callees.Counters.RegistrationsSucceeded == Phones - Callers, all);
            Assert.True(callers.Counters.CallsEstablished == Callers && callers.Counters.CallsCompleted == Callers && callees.Counters.CallsAnswered == Callers, all);

            // Every leg, each way, passed the access list: nothing lost, and each side received what the other sent
            // (less at most the one packet a leg that a callee sends as the BYE reaches it).
            foreach (var side in new[] { callers, callees })
            {
                Assert.True(side.Counters.MediaLegs == Callers && side.Counters.MediaLegsLost == 0 && side.Counters.RtpLost == 0, $"{side.Counters.MediaLegsLost} legs lost\n{all}");
                Assert.Empty(side.Failures);
            }

            Assert.InRange(callers.Counters.RtpReceived, callees.Counters.RtpSent - Callers, callees.Counters.RtpSent);
            Assert.InRange(callees.Counters.RtpReceived, callers.Counters.RtpSent - Callers, callers.Counters.RtpSent);

            // And it was the media range's rule that let it through: its counter saw at least the first packet of each
            // call's RTP flow and of its RTCP flow (once the other phone's packets came back the same way, the flow is
            // established and passes by the first rule).
            var media = Regex.Match(rules.Stdout, @"udp dport \{? ?16384-32767 \}? ?counter packets (\d+)");
            Assert.True(media.Success, rules.Stdout);
            Assert.InRange(long.Parse(media.Groups[1].Value, CultureInfo.InvariantCulture), 2 * Callers, callers.Counters.RtpSent + callees.Counters.RtpSent + (4 * Callers));
        }
        finally
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }

            await path.DisposeAsync();
            File.Delete(jsonIn);
            File.Delete(jsonOut);
        }
    }
}

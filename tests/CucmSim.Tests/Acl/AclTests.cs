using System.Text.RegularExpressions;
using CucmSim.Acl;
using CucmSim.Catalog;
using CucmSim.Tests.Infrastructure;
using CucmSim.Tests.Probe;

namespace CucmSim.Tests.Acl;

/// <summary>
/// <c>cucmsim acl</c>: every syntax for every pair of roles with flows, checked by the tools that read it (nft, iptables-restore) or
/// by a checker of the Cisco forms, golden files for the Cisco outputs, and the nftables policy proven through a
/// firewall by the probe.
/// </summary>
public sealed partial class AclTests
{
    private static readonly string Golden = Path.Combine(AppContext.BaseDirectory, "Acl", "golden");

    private static async Task<(int Exit, string Output, string Errors)> AclAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var exit = await AclCommand.RunAsync(args, output, errors).DefaultTimeout();
        return (exit, output.ToString(), errors.ToString());
    }

    /// <summary>Every (sender, listener) pair of the embedded profile that has flows.</summary>
    public static TheoryData<string, string> RolePairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var pair in ProfileLoader.Load(ProfileLoader.DefaultProfile).Flows.Select(f => (f.From, f.To)).Distinct().OrderBy(p => p.From).ThenBy(p => p.To))
        {
            data.Add(pair.From, pair.To);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RolePairs))]
    public async Task Every_format_is_deterministic_names_every_flow_and_passes_its_syntax_check(string from, string to)
    {
        var flows = ProfileLoader.Load(ProfileLoader.DefaultProfile).Flows.Where(f => f.From == from && f.To == to).Select(f => f.Id).ToList();
        foreach (var format in new[] { "asa", "ios", "nftables", "iptables" })
        {
            foreach (var extra in new[] { Array.Empty<string>(), ["--inspect"], ["--no-ephemeral-holes"] })
            {
                string[] args = ["--from", from, "--to", to, "--format", format, "--addresses", $"{from}=10.1.0.0/16,{from}=10.9.9.9", "--addresses", $"{to}=10.0.0.5", .. extra];
                var first = await AclAsync(args);
                Assert.True(first.Exit == 0, first.Errors);
                var second = await AclAsync(args);
                Assert.Equal(first.Output, second.Output);
                Assert.All(flows, id => Assert.Contains(id + " table ", first.Output, StringComparison.Ordinal));

                var problems = format switch
                {
                    "asa" => CiscoSyntax.CheckAsa(first.Output),
                    "ios" => CiscoSyntax.CheckIos(first.Output),
                    _ => [],
                };
                Assert.True(problems.Count == 0, string.Join('\n', problems) + "\n" + first.Output);
            }
        }
    }

    [Fact]
    public async Task The_nftables_and_iptables_outputs_load_into_a_namespace_for_every_role_pair()
    {
        var ns = "csacl" + Guid.NewGuid().ToString("N")[..6];
        await Netns.RunStepsAsync([$"ip netns add {ns}"]).DefaultTimeout();
        try
        {
            foreach (var (from, to) in RolePairs().Select(row => ((string)row[0], (string)row[1])))
            {
                foreach (var extra in new[] { ["--inspect"], Array.Empty<string>() })
                {
                    var nft = await AclAsync(["--from", from, "--to", to, "--format", "nftables", "--addresses", $"{from}=10.1.0.0/16,{from}=2001:db8::/64", "--addresses", $"{to}=10.0.0.5,{to}=2001:db8:1::5", .. extra]);
                    Assert.True(nft.Exit == 0, nft.Errors);

                    // Loaded twice: the file replaces its own table and nothing else.
                    await Netns.LoadRulesetAsync(ns, nft.Output).DefaultTimeout();
                    await Netns.LoadRulesetAsync(ns, nft.Output).DefaultTimeout();

                    var ipt = await AclAsync(["--from", from, "--to", to, "--format", "iptables", "--addresses", $"{from}=10.1.0.0/16", .. extra]);
                    Assert.True(ipt.Exit == 0, ipt.Errors);
                    var loaded = await Netns.ExecAsync(ns, "iptables-restore", ["--noflush"], TimeSpan.FromSeconds(20), ipt.Output).DefaultTimeout();
                    Assert.True(loaded.ExitCode == 0, $"{from}->{to}: {loaded.All}\n{ipt.Output}");
                    await Netns.ExecAsync(ns, "iptables", ["-F"], TimeSpan.FromSeconds(10)).DefaultTimeout();
                    await Netns.ExecAsync(ns, "iptables", ["-X"], TimeSpan.FromSeconds(10)).DefaultTimeout();
                    await Netns.ExecAsync(ns, "iptables", ["-t", "raw", "-F"], TimeSpan.FromSeconds(10)).DefaultTimeout();
                }
            }

            var tables = await Netns.ExecAsync(ns, "nft", ["list", "tables"], TimeSpan.FromSeconds(10)).DefaultTimeout();
            Assert.Equal(RolePairs().Count, Regex.Matches(tables.Stdout, "table inet cucmsim_").Count);
        }
        finally
        {
            await Netns.DeleteAsync(ns);
        }
    }

    [Theory]
    [InlineData("asa-phone-to-cucm.txt", "--format", "asa", "--addresses", "phone=192.0.2.0/24,cucm=198.51.100.1", "--inspect")]
    [InlineData("ios-phone-to-cucm.txt", "--format", "ios", "--addresses", "phone=192.0.2.0/24,cucm=198.51.100.1", "--inspect")]
    [InlineData("asa-gateway-to-cucm.txt", "--format", "asa", "--from", "gateway", "--no-ephemeral-holes")]
    [InlineData("ios-gateway-to-cucm.txt", "--format", "ios", "--from", "gateway", "--inspect", "--no-ephemeral-holes")]
    [InlineData("nftables-phone-to-cucm.txt", "--format", "nftables", "--addresses", "phone=192.0.2.0/24,cucm=198.51.100.1", "--inspect")]
    public async Task The_output_matches_its_golden_file(string golden, params string[] args)
    {
        var result = await AclAsync(args);
        Assert.True(result.Exit == 0, result.Errors);
        var path = Path.Combine(Golden, golden);
        if (Environment.GetEnvironmentVariable("CUCMSIM_UPDATE_GOLDEN") is { Length: > 0 } source)
        {
            await File.WriteAllTextAsync(Path.Combine(source, "Acl", "golden", golden), result.Output);
        }

        Assert.True(File.Exists(path), $"{path} is missing (CUCMSIM_UPDATE_GOLDEN=<tests/CucmSim.Tests> writes it)");
        Assert.Equal(await File.ReadAllTextAsync(path), result.Output);
    }

    [Fact]
    public async Task Bad_options_are_reported_together_with_exit_2()
    {
        var result = await AclAsync("--from", "nobody", "--format", "ios", "--addresses", "phone=10.1.0.0/33,cucm=2001:db8::1,bogus", "--only", "t99.x");
        Assert.Equal(2, result.Exit);
        Assert.Contains("no role 'nobody'", result.Errors);
        Assert.Contains("phone=10.1.0.0/33", result.Errors);
        Assert.Contains("--addresses bogus", result.Errors);
        Assert.Contains("t99.x", result.Errors);
        Assert.Equal(string.Empty, result.Output);

        var v6 = await AclAsync("--format", "ios", "--addresses", "cucm=2001:db8::1");
        Assert.Equal(2, v6.Exit);
        Assert.Contains("IPv4", v6.Errors);

        var none = await AclAsync("--format", "asa");
        Assert.Equal(0, none.Exit);
        var missing = await AclAsync("--from", "phone");
        Assert.Equal(2, missing.Exit);
        Assert.Contains("--format", missing.Errors);
    }

    [Fact]
    public async Task Inspection_replaces_the_open_range_of_a_secondary_channel()
    {
        var plain = (await AclAsync("--format", "nftables", "--only", "t6.tftp")).Output;
        Assert.Matches(@"(?m)^    udp dport \{ 1024-65535 \} accept comment ""t6.tftp table 6 row 2: secondary channel", plain);
        Assert.DoesNotContain("ct helper", plain);

        var inspected = (await AclAsync("--format", "nftables", "--only", "t6.tftp", "--inspect")).Output;
        Assert.Matches(@"(?m)^    # udp dport \{ 1024-65535 \}", inspected);
        Assert.Contains("ct helper set \"cucmsim-tftp-udp\"", inspected);

        var closed = (await AclAsync("--format", "asa", "--only", "t7.h225-gk,t7.h225", "--from", "gateway", "--no-ephemeral-holes")).Output;
        Assert.Contains("! t7.h225-gk: ports chosen per session: left closed; 'inspect h323 h225' (ASA) or the 'Q.931' conntrack helper opens them", closed);
        Assert.Matches(@"(?m)^! access-list CUCMSIM-GATEWAY-TO-CUCM extended permit tcp any any range 32768 61000$", closed);
        Assert.Matches(@"(?m)^access-list CUCMSIM-GATEWAY-TO-CUCM extended permit tcp any any eq 1720$", closed);
    }

    /// <summary>
    /// The generated nftables policy in a firewall between a phone namespace and a serve: the probe shows every flow
    /// the policy names passing, the one left out blocked, and TFTP's data channel passing only when --inspect put
    /// the helper in.
    /// </summary>
    [Fact]
    public async Task The_nftables_policy_passes_what_it_names_and_blocks_what_it_leaves_out_as_the_probe_shows()
    {
        const string control = "198.51.100.1:9900";
        await using var path = await NatPath.CreateAsync(serverNamespace: true).DefaultTimeout();
        await using var server = CucmSimProcess.StartIn(path.ServerNs!, "serve", "--bind", NatPath.Server.ToString(), "--only", "6", "--control", control,
            "--ledger", "none", "--state-dir", SimHost.TempDirectory(), "--log-level", "warning");
        await server.ReadyAsync();

        async Task<ProbeRun> WithPolicyAsync(params string[] options)
        {
            var acl = await AclAsync(["--format", "nftables", "--only", "6", "--except", "t6.capf", "--addresses", $"phone={NatPath.Client}/32,cucm={NatPath.Server}", .. options]);
            Assert.True(acl.Exit == 0, acl.Errors);
            await path.LoadFirewallAsync(acl.Output).DefaultTimeout();

            // The management path to serve's control API, as an operator would keep it.
            var mgmt = await path.InFirewallAsync("nft", ["insert", "rule", "inet", "cucmsim_phone_to_cucm", "forward", "tcp", "dport", "9900", "accept"], TimeSpan.FromSeconds(10)).DefaultTimeout();
            Assert.True(mgmt.ExitCode == 0, mgmt.All);
            return await ProbeRun.InNamespaceAsync(path.ClientNs, TimeSpan.FromSeconds(90),
                NatPath.Server.ToString(), "--only", "6", "--control", $"http://{control}", "--timeout", "2", "--retries", "0", "--rtp-sample", "4");
        }

        var inspected = await WithPolicyAsync("--inspect");
        Assert.NotNull(inspected.Report);
        foreach (var flow in inspected.Report!.Flows.Where(f => f.VerdictName != "skipped"))
        {
            var expected = flow.Id switch
            {
                "t6.capf" => "blocked-silent",

                // The SIP helper behind masquerading rewrites Contact and c= to the firewall's address: an ALG at work.
                "t6.sip" => "rewritten",
                _ => "allowed",
            };
            Assert.True(flow.VerdictName == expected, $"{flow.Id}: {flow.VerdictName} ({flow.Reason}), expected {expected}\n{inspected}");
        }

        Assert.Contains(inspected.Report.Flows, f => f.Id == "t6.tftp" && f.Legs.Any(l => l.Name == "tftp-data" && l.VerdictName == "allowed"));

        // Without inspection the data channel of TFTP through NAT comes from a port conntrack cannot tie to the request.
        var plain = await WithPolicyAsync("--no-ephemeral-holes");
        var tftp = plain.Flow("t6.tftp");
        Assert.True(tftp.VerdictName == "secondary-blocked", $"{tftp.VerdictName}: {tftp.Reason}\n{plain}");
        Assert.Contains("tftp-data", tftp.Reason);
        Assert.Equal("blocked-silent", plain.Flow("t6.capf").VerdictName);
        Assert.Equal("allowed", plain.Flow("t6.sccp").VerdictName);
    }
}

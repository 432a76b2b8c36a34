using System.Text.RegularExpressions;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>
/// A server with two addresses (198.19.0.10 primary, 198.19.0.20) behind a stateful firewall that lets back only
/// the flows the client opened, reached by Debian's clients from the far side. Two servers run there: one with no
/// --bind (every answer must leave from the address that was asked, or the firewall drops it), and one bound to
/// 127.0.0.1 and 198.19.0.10 with no --external-address (nothing it embeds may say 127.0.0.1).
/// </summary>
[Collection("real ports")]
public sealed partial class ReplyAddressTests(ReplyAddressTests.Lab lab) : IClassFixture<ReplyAddressTests.Lab>
{
    private const int BoundOffset = 10000;
    private static readonly string Secondary = MultiAddressNetwork.ServerSecondary.ToString();
    private static readonly string Primary = MultiAddressNetwork.ServerPrimary.ToString();

    public static TheoryData<string> ServerAddresses => new() { Secondary, Primary };

    [Theory]
    [MemberData(nameof(ServerAddresses))]
    public async Task The_udp_echo_answers_from_the_address_reached_and_names_it(string address)
    {
        var r = await lab.Network.InClientAsync("nc", ["-u", "-w", "2", address, "2427"], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE ma-echo").DefaultTimeout();
        Assert.True(r.Stdout.StartsWith("CUCMSIM-ECHO ma-echo udp/2427 ", StringComparison.Ordinal), await lab.Explain(r));
        var fields = r.Stdout.Trim().Split(' ');
        Assert.Equal($"{address}:2427", fields[3]);
        Assert.StartsWith(MultiAddressNetwork.Client + ":", fields[4], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_rtp_pool_echoes_from_the_address_reached()
    {
        var r = await lab.Network.InClientAsync("nc", ["-u", "-w", "2", Secondary, "24576"], TimeSpan.FromSeconds(15), "CUCMSIM-PROBE ma-rtp").DefaultTimeout();
        Assert.True(r.Stdout.StartsWith("CUCMSIM-ECHO ma-rtp udp/24576 ", StringComparison.Ordinal), await lab.Explain(r));
        Assert.Contains($" {Secondary}:24576 ", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sip_options_over_udp_are_answered_from_the_address_reached_with_it_in_the_contact()
    {
        var r = await lab.Network.InClientAsync("sipsak", ["-vv", "-H", MultiAddressNetwork.Client.ToString(), "-s", $"sip:ping@{Secondary}:5060"],
            TimeSpan.FromSeconds(20)).DefaultTimeout(TimeSpan.FromSeconds(25));
        Assert.True(r.ExitCode == 0, await lab.Explain(r));
        Assert.Contains("SIP/2.0 200 OK", r.Stdout, StringComparison.Ordinal);
        Assert.Matches($@"Contact: <sip:[^@>]*@{Regex.Escape(Secondary)}:5060>", r.Stdout);
    }

    [Fact]
    public async Task Snmp_is_answered_from_the_address_reached()
    {
        var r = await lab.Network.InClientAsync("snmpget", ["-v2c", "-c", "public", "-t", "2", "-r", "1", Secondary, "1.3.6.1.2.1.1.1.0"], TimeSpan.FromSeconds(20)).DefaultTimeout(TimeSpan.FromSeconds(25));
        Assert.True(r.ExitCode == 0, await lab.Explain(r));
        Assert.Contains("UCOS", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tftp_transfers_and_refusals_come_from_the_address_reached_and_the_config_embeds_it()
    {
        var file = Path.Combine(lab.Directory, "sep-secondary.xml");
        var r = await lab.Network.InClientAsync("tftp", [Secondary, "69", "-m", "octet", "-c", "get", "SEP001122334455.cnf.xml", file], TimeSpan.FromSeconds(30)).DefaultTimeout(TimeSpan.FromSeconds(35));
        Assert.True(r.ExitCode == 0 && File.Exists(file), await lab.Explain(r));
        var config = await File.ReadAllTextAsync(file);
        Assert.Contains($"<processNodeName>{Secondary}</processNodeName>", config, StringComparison.Ordinal);
        Assert.DoesNotContain(Primary, config, StringComparison.Ordinal);

        // A refusal (file not found) comes from a new transfer port on the same address: the helper lets it back.
        r = await lab.Network.InClientAsync("tftp", [Secondary, "69", "-m", "octet", "-c", "get", "missing.bin", Path.Combine(lab.Directory, "missing.bin")], TimeSpan.FromSeconds(30)).DefaultTimeout(TimeSpan.FromSeconds(35));
        Assert.True(r.All.Contains("Error code 1", StringComparison.Ordinal), await lab.Explain(r));
    }

    [Fact]
    public async Task A_sip_call_embeds_the_address_reached_in_contact_and_sdp()
    {
        var trace = Path.Combine(lab.Directory, $"invite-{Guid.NewGuid():N}.log");
        var r = await lab.Network.InClientAsync("sipp", ["-sn", "uac", "-s", "1001", "-m", "1", "-l", "1", "-i", MultiAddressNetwork.Client.ToString(),
            "-timeout", "15s", "-trace_msg", "-message_file", trace, "-nostdin", $"{Secondary}:5060"], TimeSpan.FromSeconds(25)).DefaultTimeout(TimeSpan.FromSeconds(30));
        var messages = File.Exists(trace) ? await File.ReadAllTextAsync(trace) : string.Empty;
        Assert.True(r.ExitCode == 0, await lab.Explain(r) + messages);
        Assert.Contains($"c=IN IP4 {Secondary}", messages, StringComparison.Ordinal);
        Assert.Matches($@"Contact: <sip:[^@>]*@{Regex.Escape(Secondary)}:5060>", messages);
        Assert.DoesNotContain($"c=IN IP4 {Primary}", messages, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_bound_to_loopback_and_an_address_embeds_that_address_never_loopback()
    {
        var sip = (5060 + BoundOffset).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tftp = (69 + BoundOffset).ToString(System.Globalization.CultureInfo.InvariantCulture);

        var file = Path.Combine(lab.Directory, "sep-bound.xml");
        var r = await lab.Network.InClientAsync("tftp", [Primary, tftp, "-m", "octet", "-c", "get", "SEP00AABBCCDDEE.cnf.xml", file], TimeSpan.FromSeconds(30)).DefaultTimeout(TimeSpan.FromSeconds(35));
        Assert.True(r.ExitCode == 0 && File.Exists(file), await lab.Explain(r));
        var config = await File.ReadAllTextAsync(file);
        Assert.Contains(Primary, config, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", config, StringComparison.Ordinal);

        var curl = await lab.Network.InClientAsync("curl", ["-sS", "-m", "10", $"http://{Primary}:{6970 + BoundOffset}/SEP00AABBCCDDEE.cnf.xml"], TimeSpan.FromSeconds(20)).DefaultTimeout(TimeSpan.FromSeconds(25));
        Assert.True(curl.ExitCode == 0, await lab.Explain(curl));
        Assert.Contains(Primary, curl.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", curl.Stdout, StringComparison.Ordinal);

        var trace = Path.Combine(lab.Directory, $"invite-bound-{Guid.NewGuid():N}.log");
        r = await lab.Network.InClientAsync("sipp", ["-sn", "uac", "-s", "1001", "-m", "1", "-l", "1", "-i", MultiAddressNetwork.Client.ToString(),
            "-timeout", "15s", "-trace_msg", "-message_file", trace, "-nostdin", $"{Primary}:{sip}"], TimeSpan.FromSeconds(25)).DefaultTimeout(TimeSpan.FromSeconds(30));
        var messages = File.Exists(trace) ? await File.ReadAllTextAsync(trace) : string.Empty;
        Assert.True(r.ExitCode == 0, await lab.Explain(r) + messages);
        Assert.Contains($"c=IN IP4 {Primary}", messages, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", messages, StringComparison.Ordinal);
    }

    /// <summary>The network and the two servers, shared by the tests of the class.</summary>
    public sealed class Lab : IAsyncLifetime
    {
        private CucmSimProcess? _wildcard;
        private CucmSimProcess? _bound;
        private MultiAddressNetwork? _network;

        public MultiAddressNetwork Network => _network ?? throw new InvalidOperationException("not started");

        public string Directory { get; } = SimHost.TempDirectory();

        public async Task InitializeAsync()
        {
            _network = await MultiAddressNetwork.CreateAsync(69, 69 + BoundOffset).DefaultTimeout();

            // A small media pool of the real range; the rest of the profile as it is.
            var profile = SimHost.WriteProfile("""{"name":"multi-address","extends":"cucm","rtp":{"cucm":"24576-24583"}}""");
            string[] common = ["serve", "--profile", profile, "--only", "t6.sip,t2.snmp,t2.tftp,t6.tftp-http,t7.mgcp,t6.rtp-to-cucm", "--ledger", "none", "--log-level", "warning"];
            _wildcard = CucmSimProcess.StartIn(Network.ServerNs, [.. common, "--state-dir", SimHost.TempDirectory()]);
            _bound = CucmSimProcess.StartIn(Network.ServerNs, [.. common, "--state-dir", SimHost.TempDirectory(), "--bind", "127.0.0.1", "--bind", MultiAddressNetwork.ServerPrimary.ToString(),
                "--port-offset", BoundOffset.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await _wildcard.ReadyAsync();
            await _bound.ReadyAsync();
        }

        /// <summary>What a failed step saw, the servers' output and the firewall's counters.</summary>
        public async Task<string> Explain(ToolResult result) =>
            $"client: exit {result.ExitCode}\n{result.All}\nservers:\n{_wildcard?.Output}\n{_bound?.Output}\nfirewall:\n{await Network.FirewallStateAsync()}";

        public async Task DisposeAsync()
        {
            if (_wildcard is not null)
            {
                await _wildcard.DisposeAsync();
            }

            if (_bound is not null)
            {
                await _bound.DisposeAsync();
            }

            if (_network is not null)
            {
                await _network.DisposeAsync();
            }
        }
    }
}

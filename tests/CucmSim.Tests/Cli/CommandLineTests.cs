using System.CommandLine;
using System.Net;
using CucmSim.Cli;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CucmSim.Tests.Cli;

/// <summary>The command line as declared: help from the declarations, every problem at once, what serve's options set.</summary>
public sealed class CommandLineTests
{
    /// <summary>Every option serve has ever taken: none may go missing.</summary>
    public static readonly string[] ServeOptions =
    [
        "profile", "role", "bind", "port-offset", "only", "except", "control", "no-control", "otlp", "ledger", "ledger-max-mb", "ledger-window",
        "idle-timeout", "state-dir", "strict", "ephemeral-ports", "hostname", "address", "external-address", "cert", "cert-key",
        "cert-password", "mtls", "tftp-root", "tftp-data-ports", "tftp-single-port", "tftp-max-transfers", "tftp-config", "tftp-gso",
        "sccp-keepalive", "sccp-misses", "sccp-max-protocol", "sccp-max-devices", "sccp-device-pattern", "sccp-reject-all",
        "sccp-extension", "sccp-auto-answer", "sccp-fragment", "sccp-ring-s", "snmp-community", "snmp-sys-descr", "snmp-sys-contact", "snmp-sys-name",
        "snmp-sys-location", "snmp-sys-services", "snmp-user", "snmp-engine-id", "snmp-trap", "snmp-trap-community", "snmp-phone-traps",
        "snmp-no-coldstart", "snmp-max-amplification", "snmp-amplification-floor", "sip-realm", "sip-user", "sip-password",
        "sip-cucm-503", "sip-trunk-peer", "sip-server-header", "sip-no-mirror", "sip-ring-ms", "sip-max-size", "sip-reply-to-via",
        "sip-route", "sip-route-ring-s", "axl-user", "axl-max-body", "dhcp", "dhcp-pool", "log-level", "io", "io-threads", "help",
    ];

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliMain.RunAsync(args, output, error).DefaultTimeout();
        return (code, output.ToString(), error.ToString());
    }

    private static IEnumerable<(string[] Path, Command Command)> Commands(Command command, string[] path)
    {
        yield return (path, command);
        foreach (var sub in command.Subcommands.SelectMany(c => Commands(c, [.. path, c.Name])))
        {
            yield return sub;
        }
    }

    [Fact]
    public async Task The_help_of_every_command_lists_every_option_and_argument_it_has()
    {
        var root = new CliMain().Root;
        var commands = Commands(root, []).ToList();
        Assert.Equal(["", "serve", "probe", "load", "load merge", "load sources", "acl", "lab", "lab up", "lab down", "lab status", "lab probe", "lab check", "lab exec", "lab scenarios",
                "profiles", "profiles list", "profiles show", "profiles validate", "version", "completion"],
            commands.Select(c => string.Join(' ', c.Path)));
        foreach (var (path, command) in commands)
        {
            var (code, help, _) = await RunAsync([.. path, "--help"]);
            Assert.Equal(0, code);
            Assert.Contains(command.Description!, help, StringComparison.Ordinal);
            foreach (var option in command.Options.Where(o => !o.Hidden).Concat(root.Options.Where(o => o.Recursive)))
            {
                Assert.True(help.Contains(option.Name, StringComparison.Ordinal), $"'{string.Join(' ', path)} --help' does not list {option.Name}:\n{help}");
                Assert.True(option.Description is { Length: > 0 }, $"{option.Name} of '{string.Join(' ', path)}' has no description");
            }

            foreach (var argument in command.Arguments)
            {
                Assert.Contains(argument.Name, help, StringComparison.Ordinal);
            }

            foreach (var sub in command.Subcommands)
            {
                Assert.Contains(sub.Name, help, StringComparison.Ordinal);
            }
        }

        var (_, serve, _) = await RunAsync("serve", "--help");
        foreach (var name in ServeOptions)
        {
            Assert.Matches($@"(?m)^\s+(-h, )?--{name}\b", serve);
        }

        Assert.Contains("Exit codes: 0 stopped by a signal, 1 bad profile or options, 2 --strict and a listener failed.", serve, StringComparison.Ordinal);
        Assert.Contains("[default: 30]", serve.Split('\n').Single(l => l.TrimStart().StartsWith("--sccp-keepalive", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_command_or_an_unknown_one_is_a_usage_error_and_version_prints_the_version()
    {
        var (code, help, _) = await RunAsync();
        Assert.Equal(1, code);
        Assert.Contains("serve", help, StringComparison.Ordinal);
        Assert.Contains("completion", help, StringComparison.Ordinal);

        (code, _, var error) = await RunAsync("bogus");
        Assert.Equal(1, code);
        Assert.Contains("cucmsim: unknown command 'bogus'", error, StringComparison.Ordinal);

        (code, var version, _) = await RunAsync("version");
        Assert.Equal(0, code);
        Assert.StartsWith("cucmsim ", version, StringComparison.Ordinal);
        (code, var option, _) = await RunAsync("--version");
        Assert.Equal(0, code);
        Assert.Equal(version, option);
    }

    [Fact]
    public async Task An_unknown_option_and_a_bad_value_are_reported_together_each_command_with_its_exit_code()
    {
        // serve: 1 for bad options (2 is --strict's).
        var (code, _, error) = await RunAsync("serve", "--bogus=1", "--sccp-keepalive", "0", "--io=sideways", "--tftp-config", "xml", "--snmp-user", "u:MD5:secretpassword");
        Assert.Equal(1, code);
        Assert.Contains("cucmsim serve: unknown option --bogus", error, StringComparison.Ordinal);
        Assert.Contains("cucmsim serve: --sccp-keepalive 0: a whole number from 1 to 3600", error, StringComparison.Ordinal);
        Assert.Contains("cucmsim serve: --io sideways: inline or pool", error, StringComparison.Ordinal);
        Assert.Contains("cucmsim serve: --tftp-config xml: sip or sccp", error, StringComparison.Ordinal);
        Assert.Contains("cucmsim serve: --snmp-user u:...: authentication protocol MD5", error, StringComparison.Ordinal);
        Assert.DoesNotContain("secretpassword", error, StringComparison.Ordinal);
        Assert.EndsWith("see: cucmsim serve --help\n", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("serve", "--tftp-single-port", "--tftp-data-ports", "30000-29000", "--cert", "/nonexistent.pfx", "--sccp-device-pattern", "(");
        Assert.Equal(1, code);
        Assert.Contains("--tftp-single-port and --tftp-data-ports exclude each other", error, StringComparison.Ordinal);
        Assert.Contains("--tftp-data-ports 30000-29000:", error, StringComparison.Ordinal);
        Assert.Contains("--cert /nonexistent.pfx: no such file", error, StringComparison.Ordinal);
        Assert.Contains("--sccp-device-pattern (: not a regular expression", error, StringComparison.Ordinal);

        // probe: 2 for bad options.
        (code, _, error) = await RunAsync("probe", "127.0.0.1", "--bogus", "--retries", "99");
        Assert.Equal(2, code);
        Assert.Contains("cucmsim probe: unknown option --bogus", error, StringComparison.Ordinal);
        Assert.Contains("cucmsim probe: --retries 99: a whole number from 0 to 20", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("completion", "fish", "--bogus");
        Assert.Equal(1, code);
        Assert.Contains("unknown option --bogus", error, StringComparison.Ordinal);
        Assert.Contains("'fish'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_serve_option_sets_what_it_says_in_both_spellings_and_repeatable_ones_add_up()
    {
        var state = SimHost.TempDirectory();
        var cli = new CliMain();
        var parsed = cli.Parse([
            "serve", "--profile=cucm", "--role", "phone", "--role=cucm", "--bind", "127.0.0.1", "--bind=::1", "--port-offset=100",
            "--only", "6", "--only=t7.mgcp,t2.snmp", "--except", "rtp", "--control", "127.0.0.1:9999", "--ledger", "none",
            "--ledger-max-mb", "2", "--ledger-window=32", "--idle-timeout", "5", "--listen-backlog", "8192", "--state-dir", state, "--strict", "--ephemeral-ports",
            "--hostname", "a.example", "--hostname", "b.example", "--address", "192.0.2.1", "--external-address", "198.51.100.7",
            "--cert-key", "k.pem", "--cert-password", "pw", "--mtls",
            "--tftp-root", state, "--tftp-data-ports", "30000-30010", "--tftp-max-transfers", "10", "--tftp-config", "SCCP", "--tftp-gso",
            "--sccp-keepalive", "10", "--sccp-misses", "2", "--sccp-max-protocol", "17", "--sccp-max-devices", "5",
            "--sccp-device-pattern", "^SEP", "--sccp-reject-all", "--sccp-extension", "2000", "--sccp-auto-answer", "--sccp-fragment", "--sccp-ring-s", "9",
            "--snmp-community", "a", "--snmp-community", "none", "--snmp-sys-descr", "d", "--snmp-sys-contact", "c", "--snmp-sys-name", "n",
            "--snmp-sys-location", "l", "--snmp-sys-services", "6", "--snmp-user", "u1", "--snmp-user", "u2:SHA:password2",
            "--snmp-engine-id", "800000090300AABBCCDDEEFF", "--snmp-trap", "127.0.0.1:1162", "--snmp-trap-community", "t",
            "--snmp-phone-traps", "--snmp-no-coldstart", "--snmp-max-amplification", "0", "--snmp-amplification-floor", "100",
            "--sip-realm", "r", "--sip-user", "alice:pw:x", "--sip-user", "bob:b", "--sip-password", "p", "--sip-cucm-503",
            "--sip-trunk-peer", "192.0.2.9", "--sip-server-header", "", "--sip-no-mirror", "--sip-ring-ms", "50", "--sip-max-size", "2048",
            "--sip-reply-to-via", "--sip-route", "off", "--sip-route-ring-s", "7", "--axl-user", "admin:s3:cret", "--axl-max-body", "4096", "--io", "pool", "--io-threads", "3", "--log-level", "Warning",
        ]);
        Assert.Empty(OptionKinds.Problems(parsed));
        var o = cli.Serve.Bind(parsed);
        Assert.Equal(("cucm", "cucm"), (o.Profile, o.Role));
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], o.Bind);
        Assert.Equal(100, o.PortOffset);
        Assert.Equal(["6", "t7.mgcp,t2.snmp"], o.Only);
        Assert.Equal(["rtp"], o.Except);
        Assert.Equal(IPEndPoint.Parse("127.0.0.1:9999"), o.Control);
        Assert.Null(o.LedgerPath);
        Assert.Equal((2L << 20, 32), (o.Ledger.MaxBytes, o.Ledger.WindowSize));
        Assert.Equal(TimeSpan.FromSeconds(5), o.Limits.IdleTimeout);
        Assert.Equal(8192, o.Limits.ListenBacklog);
        Assert.Equal(state, o.StateDirectory);
        Assert.True(o.Strict && o.EphemeralPorts && !o.NoControl && !o.InlineIo);
        Assert.Equal("a.example", o.Identity.HostName);
        Assert.Equal(["a.example", "b.example"], o.Certificates.HostNames);
        Assert.Equal([IPAddress.Parse("192.0.2.1")], o.Certificates.Addresses);
        Assert.Equal(IPAddress.Parse("198.51.100.7"), o.Identity.ExternalAddress);
        Assert.Equal(("k.pem", "pw", true), (o.Certificates.KeyFile, o.Certificates.Password, o.Certificates.RequireClientCertificate));
        Assert.Equal((state, TftpPortMode.Range, 30000, 30010, 10, "sccp", true),
            (o.Tftp.Root, o.Tftp.PortMode, o.Tftp.DataPorts!.Value.Low, o.Tftp.DataPorts!.Value.High, o.Tftp.MaxTransfers, o.Tftp.DeviceProtocol, o.Tftp.Segmentation));
        Assert.Equal((10, 2, 17, 5, "^SEP", true, "2000", true, true),
            (o.Sccp.KeepAliveSeconds, o.Sccp.KeepAliveMisses, o.Sccp.MaxProtocolVersion, o.Sccp.MaxDevices, o.Sccp.DeviceNamePattern, o.Sccp.RejectAll, o.Sccp.TestExtension, o.Sccp.AutoAnswer, o.Sccp.Fragment));
        Assert.Equal(TimeSpan.FromSeconds(9), o.Sccp.RingTimeout);
        Assert.Equal(["a"], o.Snmp.Communities);
        Assert.Equal(("d", "c", "n", "l", 6), (o.Snmp.SysDescr, o.Snmp.SysContact, o.Snmp.SysName, o.Snmp.SysLocation, o.Snmp.SysServices));
        Assert.Equal(["u1", "u2"], o.Snmp.Users.Select(u => u.Name));
        Assert.Equal(("800000090300AABBCCDDEEFF", "t", true, false, 0, 100),
            (o.Snmp.EngineId, o.Snmp.TrapCommunity, o.Snmp.PhoneStatusTraps, o.Snmp.ColdStartTrap, o.Snmp.MaxAmplification, o.Snmp.AmplificationFloor));
        Assert.Equal(["127.0.0.1:1162"], o.Snmp.TrapReceivers);
        Assert.Equal(("r", "pw:x", "b", "p", true), (o.Sip.Realm, o.Sip.Users["alice"], o.Sip.Users["bob"], o.Sip.Password, o.Sip.UnknownPeer503));
        Assert.Equal([IPAddress.Parse("192.0.2.9")], o.Sip.TrunkPeers);
        Assert.Equal(("", false, TimeSpan.FromMilliseconds(50), 2048, false),
            (o.Sip.ServerHeader, o.Sip.Mirror, o.Sip.RingDelay, o.Sip.MaxMessageSize, o.Sip.ReplyToSourcePort));
        Assert.Equal((false, TimeSpan.FromSeconds(7)), (o.Sip.Route, o.Sip.RouteRing));
        Assert.Equal(("admin", "s3:cret", 4096), (o.AdminWeb.User, o.AdminWeb.Password, o.AdminWeb.MaxBodyBytes));
        Assert.Equal(LogLevel.Warning, cli.Serve.Level(parsed));
        Assert.Equal(3, parsed.GetValue(cli.Serve.IoThreads));

        var single = cli.Parse(["serve", "--tftp-single-port", "--no-control"]);
        Assert.Empty(OptionKinds.Problems(single));
        Assert.Equal(TftpPortMode.Single, cli.Serve.Bind(single).Tftp.PortMode);
        Assert.True(cli.Serve.Bind(single).NoControl);
    }

    [Fact]
    public void Serve_without_options_runs_with_the_documented_defaults()
    {
        var cli = new CliMain();
        var parsed = cli.Parse(["serve"]);
        Assert.Empty(OptionKinds.Problems(parsed));
        var o = cli.Serve.Bind(parsed);
        var records = new CucmSim.Serve.ServeOptions();
        Assert.Equal(("cucm", "cucm", "cucmsim-ledger.jsonl", true, "cucmsim-state", 0), (o.Profile, o.Role, o.LedgerPath, o.InlineIo, o.StateDirectory, o.PortOffset));
        Assert.Empty(o.Bind);
        Assert.Null(o.Control);
        Assert.Equal(["public"], o.Snmp.Communities);
        Assert.Empty(o.Snmp.Users);
        Assert.Equal(records.Snmp with { Communities = o.Snmp.Communities, Users = o.Snmp.Users, TrapReceivers = o.Snmp.TrapReceivers }, o.Snmp);
        Assert.Equal(records.Sccp, o.Sccp);
        Assert.Equal(records.Tftp, o.Tftp);
        Assert.Equal(records.AdminWeb, o.AdminWeb);
        Assert.Equal(records.Identity, o.Identity);
        Assert.Empty(o.Certificates.HostNames);
        Assert.Equal(records.Certificates with { HostNames = o.Certificates.HostNames, Addresses = o.Certificates.Addresses }, o.Certificates);
        Assert.Equal((records.Sip.Realm, records.Sip.Mirror, records.Sip.ReplyToSourcePort, records.Sip.MaxMessageSize), (o.Sip.Realm, o.Sip.Mirror, o.Sip.ReplyToSourcePort, o.Sip.MaxMessageSize));
        Assert.Equal(LogLevel.Information, cli.Serve.Level(parsed));
    }

    [Fact]
    public async Task Tables_written_to_a_pipe_are_plain_text_one_line_a_row()
    {
        var show = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "profiles", "show", "cucm", "--notes"]).DefaultTimeout(TimeSpan.FromSeconds(70));
        var plan = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "probe", "192.0.2.1", "--plan", "--only", "6"]).DefaultTimeout(TimeSpan.FromSeconds(70));
        var list = await ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "profiles", "list"]).DefaultTimeout(TimeSpan.FromSeconds(70));
        foreach (var run in new[] { show, plan, list })
        {
            Assert.True(run.ExitCode == 0, run.All);
            Assert.DoesNotContain('\u001b', run.Stdout);
            Assert.DoesNotContain("─", run.Stdout, StringComparison.Ordinal);
            Assert.All(run.Stdout.Split('\n'), l => Assert.Equal(l.TrimEnd(), l));
        }

        var lines = show.Stdout.Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("ID ", StringComparison.Ordinal));
        Assert.Matches(@"^ID\s+T\s+FROM\s+TO\s+PORTS\s+TRANSPORT\s+PROTOCOL\s+PURPOSE$", lines[header]);
        Assert.Matches(@"^-+( -+){7}$", lines[header + 1]);
        Assert.Matches(@"^t6\.sccp\s+6\s+phone\s+cucm\s+2000\s+tcp\s+sccp\s+", lines.Single(l => l.StartsWith("t6.sccp ", StringComparison.Ordinal)));
        var flows = CucmSim.Catalog.ProfileLoader.Load("cucm").Flows;
        Assert.Equal(flows.Count, lines.Count(l => flows.Any(f => l.StartsWith(f.Id + " ", StringComparison.Ordinal))));

        Assert.Contains("Table 6: phones and CUCM", plan.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^t6\.sccp\s+tcp\s+2000\s+sccp\s+echo \+ SCCP register", plan.Stdout);
        Assert.Matches(@"(?m)^cucm\s+Cisco Unified Communications Manager node\s+\d+\s+\d+\s+1,2,3,4,5,6,7,8,9,10,11$", list.Stdout);
    }
}

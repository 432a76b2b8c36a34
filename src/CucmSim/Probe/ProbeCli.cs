using System.CommandLine;
using System.Globalization;
using CucmSim.Catalog;

namespace CucmSim.Probe;

/// <summary>The probe's command line on System.CommandLine: every option with its help, default and validation.</summary>
internal sealed class ProbeCli
{
    public ProbeCli()
    {
        Command = new Command("probe", "run every flow toward a serve across the firewall, a verdict per flow")
        {
            Target, Profile, Role, TargetRole, PortOffset, Only, Except, Source, Timeout, Retries, Concurrency, RtpSample, SnmpCommunity, SnmpUser, SipPassword, Number, AxlUser,
            Mtu, Idle, Plan, Control, Ledger, From, Expect, Baseline, Json, Junit, Html, ReportTo, ControlToken,
        };
        Ranged(PortOffset, 0, 65535);
        Ranged(Retries, 0, 20);
        Ranged(Concurrency, 1, 4096);
        Cli.ProfileCompletions.SendingRoles(Role, Profile);
        Cli.ProfileCompletions.ListeningRoles(TargetRole, Profile);
        Cli.ProfileCompletions.Selectors(Only, Profile);
        Cli.ProfileCompletions.Selectors(Except, Profile);
        Ranged(Idle, 1, CucmSim.Protocols.Echo.EchoProbe.MaxIdleSeconds);
        Timeout.Validators.Add(r =>
        {
            if (Token(r) is { } text && double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is < 0.05 or > 600)
            {
                r.AddError($"--timeout {text}: seconds, from 0.05 to 600");
            }
        });
        RtpSample.Validators.Add(r =>
        {
            if (Token(r) is { } text && text != "all" && !(int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 65535))
            {
                r.AddError($"--rtp-sample {text}: a number of ports, or 'all'");
            }
        });
    }

    /// <summary>What probe --help says after the options.</summary>
    public const string Details = """
        Plays the sending role of every flow of the profile whose listener is the target role, against a
        'cucmsim serve' at TARGET on the other side of the firewall, and gives each flow a verdict with its
        evidence: allowed, rewritten, secondary-blocked, mtu-drop, expired, one-way, blocked-silent, blocked-reset,
        blocked-icmp, inconclusive, error or skipped. 'cucmsim probe --from RESULT.json --ledger FILE' judges a saved result again.

        Exit codes: 0 every flow as expected, 1 some flow not, 2 bad options or profile, 3 target not reached at all.
        """;

    public Command Command { get; }

    public Argument<string?> Target { get; } = new("TARGET") { Arity = ArgumentArity.ZeroOrOne, Description = "address or name of the host that runs 'cucmsim serve'" };

    public Option<string> Profile { get; } = new("--profile") { Description = "profile (default: the embedded 'cucm')", HelpName = "NAME|FILE", DefaultValueFactory = _ => ProfileLoader.DefaultProfile };

    public Option<string> Role { get; } = new("--role") { Description = "the role this side plays", HelpName = "ROLE", DefaultValueFactory = _ => "phone" };

    public Option<string> TargetRole { get; } = new("--target-role") { Description = "the role the server plays", HelpName = "ROLE", DefaultValueFactory = _ => "cucm" };

    public Option<int> PortOffset { get; } = new("--port-offset") { Description = "the offset serve was started with", HelpName = "N", DefaultValueFactory = _ => 0 };

    public Option<string[]> Only { get; } = new("--only") { Description = "flows to run, as in serve: a table (6), a protocol (sip) or a flow id (t6.sccp); repeatable or comma-separated", HelpName = "SEL" };

    public Option<string[]> Except { get; } = new("--except") { Description = "flows to leave out (e.g. --except rtp)", HelpName = "SEL" };

    public Option<string?> Source { get; } = new("--source") { Description = "send from this local address", HelpName = "ADDR" };

    public Option<double> Timeout { get; } = new("--timeout") { Description = "wait per attempt, seconds", HelpName = "S", DefaultValueFactory = _ => 2 };

    public Option<int> Retries { get; } = new("--retries") { Description = "attempts after the first", HelpName = "N", DefaultValueFactory = _ => 1 };

    public Option<int> Concurrency { get; } = new("--concurrency") { Description = "ports probed at once", HelpName = "N", DefaultValueFactory = _ => 64 };

    public Option<string> RtpSample { get; } = new("--rtp-sample") { Description = "media ports of the RTP pool to probe, spread evenly", HelpName = "N|all", DefaultValueFactory = _ => "16" };

    public Option<string> AxlUser { get; } = new("--axl-user")
    {
        Description = "AXL user and password for the admin web's getCCMVersion (serve's --axl-user; default administrator:cucmsim)",
        HelpName = "USER:PW",
        DefaultValueFactory = _ => "administrator:cucmsim",
    };

    public Option<string> SnmpCommunity { get; } = new("--snmp-community") { Description = "community of the SNMP GET", HelpName = "C", DefaultValueFactory = _ => "public" };

    public Option<string?> SnmpUser { get; } = new("--snmp-user")
    {
        Description = "also GET sysDescr with SNMPv3 as this user, written as serve's --snmp-user: NAME, NAME:SHA|SHA-256:AUTHPASS or NAME:SHA|SHA-256:AUTHPASS:AES:PRIVPASS",
        HelpName = "USER",
    };

    public Option<string?> SipPassword { get; } = new("--sip-password") { Description = "answer the REGISTER, INVITE and BYE challenges with digest credentials (serve --sip-password)", HelpName = "PW" };

    public Option<string> Number { get; } = new("--number") { Description = "the number the SIP and SCCP calls dial (serve's test extension)", HelpName = "N", DefaultValueFactory = _ => "1000" };

    public Option<bool> Mtu { get; } = new("--mtu") { Description = "also send a SIP OPTIONS of 1,400 bytes over UDP: mtu-drop when it fails where small ones pass" };

    public Option<int> Idle { get; } = new("--idle")
    {
        Description = "also keep every UDP echo's socket, and the SIP and SCCP calls' media, silent this long (the calls on hold) and wait for the server's delayed answer: expired when it does not come back (the firewall forgot the mapping or the call's pinhole)",
        HelpName = "S",
    };

    public Option<bool> Plan { get; } = new("--plan") { Description = "print what would be tested and send nothing" };

    public Option<string?> Control { get; } = new("--control") { Description = "serve's control API: what the server saw, by nonce", HelpName = "URL" };

    public Option<string?> Ledger { get; } = new("--ledger") { Description = "serve's ledger file (JSON Lines), read after the run for the same purpose", HelpName = "FILE" };

    public Option<string?> From { get; } = new("--from") { Description = "judge a saved --json result again (with --ledger), send nothing", HelpName = "RESULT.json" };

    public Option<string?> Expect { get; } = new("--expect") { Description = "expected outcome per selector: lines 'SELECTOR allowed|denied' (flow id, table, protocol, port:N, tcp/N, udp/N); the last matching line wins", HelpName = "FILE" };

    public Option<string?> Baseline { get; } = new("--baseline") { Description = "report what changed since an earlier --json run", HelpName = "OLD.json" };

    public Option<string?> Json { get; } = new("--json") { Description = "write the run and every flow as JSON ('-' for stdout)", HelpName = "FILE" };

    public Option<string?> Junit { get; } = new("--junit") { Description = "write JUnit XML: a suite per guide table, a case per flow", HelpName = "FILE" };

    public Option<string?> Html { get; } = new("--html") { Description = "write one self-contained HTML report", HelpName = "FILE" };

    public Option<string?> ReportTo { get; } = new("--report-to") { Description = "also send the JSON report to serve's control API, shown on its dashboard (e.g. http://10.0.0.5:9900)", HelpName = "URL" };

    public Option<string?> ControlToken { get; } = new("--control-token", "--report-token") { Description = $"the token of serve's control API for --control and --report-to (serve asks for one when bound to an address other than loopback); also read from {Serve.ControlAccess.EnvironmentVariable}", HelpName = "TOKEN" };

    /// <summary>The option's last value as typed; null when it was not given (validators see values that did not parse too).</summary>
    private static string? Token(System.CommandLine.Parsing.OptionResult result) => result.Tokens.Count == 0 ? null : result.Tokens[^1].Value;

    private static void Ranged(Option<int> option, int min, int max) =>
        option.Validators.Add(r =>
        {
            if (Token(r) is { } text && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && (value < min || value > max))
            {
                r.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} {value}: a whole number from {min} to {max}"));
            }
        });
}

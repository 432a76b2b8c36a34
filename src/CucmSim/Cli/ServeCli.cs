using System.CommandLine;
using System.Net;
using System.Text.RegularExpressions;
using CucmSim.Catalog;
using CucmSim.Serve;
using Microsoft.Extensions.Logging;

namespace CucmSim.Cli;

/// <summary>
/// The serve command's options on System.CommandLine. Each is declared once, with its help, default, checks and
/// what it sets in <see cref="ServeOptions"/>: a new option is one more <c>Add</c> here (or in its protocol's
/// <c>*Cli</c> class), and the help, the completions and the errors follow.
/// </summary>
internal sealed class ServeCli
{
    private readonly Declared<ServeOptions> _options;

    public ServeCli()
    {
        Command = new Command("serve", "bind every listener of a role and answer, record every hit, serve the control API");
        _options = new Declared<ServeOptions>(Command);
        var d = Defaults;
        var o = _options;

        Profile = o.Add(new Option<string>("--profile") { HelpName = "NAME|FILE", Description = "profile: an embedded name or a file", DefaultValueFactory = _ => d.Profile }.LastWins(),
            (s, v) => s with { Profile = v });
        o.Add(ProfileCompletions.ListeningRoles(new Option<string>("--role") { HelpName = "ROLE", Description = "role to play (any role of the profile that listens)", DefaultValueFactory = _ => d.Role }.LastWins(), Profile),
            (s, v) => s with { Role = v });
        o.Add(new Option<IPAddress[]>("--bind") { HelpName = "ADDR", Description = "address to bind, repeatable (default: every address, IPv4 and IPv6)" }.Repeatable<IPAddress>(OptionKinds.Address),
            (s, v) => s with { Bind = v });
        o.Add(new Option<int>("--port-offset") { HelpName = "N", Description = "add N to every port (unprivileged runs, several instances per host)", DefaultValueFactory = _ => d.PortOffset }.Whole(0, 65535),
            (s, v) => s with { PortOffset = v });
        o.Add(ProfileCompletions.Selectors(new Option<string[]>("--only") { HelpName = "SEL", Description = "serve only these flows: a table (6), protocol (sip) or flow id (t6.sccp); repeatable or comma-separated; 'table:', 'protocol:', 'flow:' prefixes allowed" }.Repeatable(), Profile),
            (s, v) => s with { Only = v });
        o.Add(ProfileCompletions.Selectors(new Option<string[]>("--except") { HelpName = "SEL", Description = "leave these flows out (e.g. --except rtp)" }.Repeatable(), Profile),
            (s, v) => s with { Except = v });
        o.Add(new Option<IPEndPoint?>("--control") { HelpName = "ADDR:PORT", Description = "control API (default 127.0.0.1:9900 plus the offset)" }.LastWins(EndPoint),
            (s, v) => s with { Control = v });
        o.Add(new Option<string?>("--control-token") { HelpName = "TOKEN", Description = $"token the control API asks for (Authorization: Bearer TOKEN, or ?token= in a browser); default: none on loopback, one generated, printed and kept in the state directory on any other address; also read from {ControlAccess.EnvironmentVariable}" }
                .LastWins<string?>((string text, out string? value) =>
                {
                    value = text;
                    return ControlAccess.Problem(text);
                }),
            (s, v) => s with { ControlToken = v });
        o.Add(new Option<bool>("--no-control") { Description = "no control API" },
            (s, v) => s with { NoControl = v });
        o.Add(new Option<Uri?>("--otlp") { HelpName = "URL", Description = "export the CucmSim meter by OTLP every 10 s: gRPC (http://collector:4317), or HTTP/protobuf when the URL ends in /v1/metrics (default: off)" }
                .LastWins<Uri?>((string text, out Uri? value) =>
                {
                    var ok = Uri.TryCreate(text, UriKind.Absolute, out value) && value.Scheme is "http" or "https";
                    return ok ? null : "write the collector's URL, e.g. http://127.0.0.1:4317";
                }),
            (s, v) => s with { Otlp = v });
        o.Add(new Option<string>("--ledger") { HelpName = "PATH", Description = "ledger file, JSON Lines ('none' keeps it in memory)", DefaultValueFactory = _ => d.LedgerPath! }.LastWins(),
            (s, v) => s with { LedgerPath = v == "none" ? null : v });
        o.Add(new Option<int>("--ledger-max-mb") { HelpName = "N", Description = "rotate the ledger at N MiB", DefaultValueFactory = _ => (int)(d.Ledger.MaxBytes >> 20) }.Whole(1, 1 << 20),
            (s, v) => s with { Ledger = s.Ledger with { MaxBytes = v * 1024L * 1024L } });
        o.Add(new Option<int>("--ledger-window") { HelpName = "N", Description = "newest records the control API keeps in memory", DefaultValueFactory = _ => d.Ledger.WindowSize }.Whole(16, 10_000_000),
            (s, v) => s with { Ledger = s.Ledger with { WindowSize = v } });
        o.Add(new Option<int>("--idle-timeout") { HelpName = "S", Description = "close TCP connections silent for S seconds", DefaultValueFactory = _ => (int)d.Limits.IdleTimeout.TotalSeconds }.Whole(1, 86400),
            (s, v) => s with { Limits = s.Limits with { IdleTimeout = TimeSpan.FromSeconds(v) } });
        o.Add(new Option<int>("--fd-headroom") { HelpName = "N", Description = "keep N descriptors free below the open-files limit: a TCP connection that would take one of them is reset and counted (0: none kept)", DefaultValueFactory = _ => d.Limits.DescriptorHeadroom }.Whole(0, 100_000),
            (s, v) => s with { Limits = s.Limits with { DescriptorHeadroom = v } });
        o.Add(new Option<int>("--listen-backlog") { HelpName = "N", Description = "accept queue of each TCP listener, for registration storms (the kernel caps it at net.core.somaxconn)", DefaultValueFactory = _ => d.Limits.ListenBacklog }.Whole(1, 1_000_000),
            (s, v) => s with { Limits = s.Limits with { ListenBacklog = v } });
        o.Add(new Option<string>("--state-dir") { HelpName = "DIR", Description = "generated certificates and other state", DefaultValueFactory = _ => d.StateDirectory }.LastWins(),
            (s, v) => s with { StateDirectory = v });
        o.Add(new Option<bool>("--strict") { Description = "exit with code 2 unless every listener binds" },
            (s, v) => s with { Strict = v });
        o.Add(new Option<bool>("--ephemeral-ports") { Description = "bind every listener on a port the system picks (tests; /api/listeners shows them)" },
            (s, v) => s with { EphemeralPorts = v });

        o.Add(new Option<string[]>("--hostname") { HelpName = "NAME", Description = "DNS name of this node for certificates, repeatable (default: the host name, localhost)" }.Repeatable(),
            (s, v) => s with { Identity = s.Identity with { HostName = v[0] }, Certificates = s.Certificates with { HostNames = v } });
        o.Add(new Option<IPAddress[]>("--address") { HelpName = "ADDR", Description = "address of this node for certificates and generated configs, repeatable" }.Repeatable<IPAddress>(OptionKinds.Address),
            (s, v) => s with { Certificates = s.Certificates with { Addresses = v } });
        o.Add(new Option<IPAddress?>("--external-address") { HelpName = "ADDR", Description = "address embedded in payloads (SDP, SCCP, phone configs), e.g. a NAT's outside address; default: the address each request reached (never loopback for a peer that is not on loopback)" }.LastWins<IPAddress?>(OptionKinds.OptionalAddress),
            (s, v) => s with { Identity = s.Identity with { ExternalAddress = v } });
        o.Add(new Option<string?>("--cert") { HelpName = "FILE", Description = "certificate to present on TLS listeners: PFX, or PEM with --cert-key" }.LastWins(OptionKinds.ExistingFile),
            (s, v) => s with { Certificates = s.Certificates with { CertificateFile = v } });
        o.Add(new Option<string?>("--cert-key") { HelpName = "FILE", Description = "private key of a PEM certificate" }.Optional(),
            (s, v) => s with { Certificates = s.Certificates with { KeyFile = v } });
        o.Add(new Option<string?>("--cert-password") { HelpName = "PW", Description = "password of a PFX certificate" }.Optional(),
            (s, v) => s with { Certificates = s.Certificates with { Password = v } });
        o.Add(new Option<bool>("--mtls") { Description = "ask TLS clients for a certificate (mutual TLS)" },
            (s, v) => s with { Certificates = s.Certificates with { RequireClientCertificate = v } });

        var dhcp = o.Add(new Option<bool>("--dhcp") { Description = "answer DHCP on 67/udp (off by default, as Cisco advises): offers carry option 150, the TFTP server" },
            (s, v) => v ? s with { Dhcp = s.Dhcp ?? new Serve.Dhcp.DhcpOptions() } : s);
        var dhcpPool = o.Add(new Option<Serve.Dhcp.DhcpPool?>("--dhcp-pool") { HelpName = "RANGE", Description = "addresses to lease: CIDR (10.1.2.0/24) or FIRST-LAST (default: the subnet of the interface a request arrives on; a relay's /24)" }
                .LastWins<Serve.Dhcp.DhcpPool?>((string text, out Serve.Dhcp.DhcpPool? value) =>
                {
                    var ok = Serve.Dhcp.DhcpPool.TryParse(text, out var pool, out var error);
                    value = ok ? pool : null;
                    return ok ? null : error ?? "not a pool";
                }),
            (s, v) => v is null ? s : s with { Dhcp = (s.Dhcp ?? new Serve.Dhcp.DhcpOptions()) with { Pool = v } });
        dhcpPool.Validators.Add(r =>
        {
            if (!r.Implicit && r.GetResult(dhcp) is not { Implicit: false })
            {
                r.AddError("--dhcp-pool needs --dhcp");
            }
        });

        DeclareTftp(o.Part(s => s.Tftp, (s, t) => s with { Tftp = t }), d.Tftp);
        DeclareSccp(o.Part(s => s.Sccp, (s, c) => s with { Sccp = c }), d.Sccp);
        Serve.Snmp.SnmpCli.Declare(o.Part(s => s.Snmp, (s, c) => s with { Snmp = c }));
        Serve.Sip.SipCli.Declare(o.Part(s => s.Sip, (s, c) => s with { Sip = c }));
        Serve.AdminWeb.AdminWebCli.Declare(o.Part(s => s.AdminWeb, (s, c) => s with { AdminWeb = c }));

        LogLevel = new Option<string>("--log-level") { HelpName = "LEVEL", Description = "what the log shows", DefaultValueFactory = _ => "information" }
            .OneOf("trace", "debug", "information", "warning", "error", "critical", "none");
        Command.Options.Add(LogLevel);
        Io = o.Add(new Option<string>("--io") { HelpName = "MODE", Description = "where TCP handlers run: 'inline' on the socket threads (fewest thread hand-offs per request), or 'pool' on the .NET thread pool", DefaultValueFactory = _ => "inline" }.OneOf("inline", "pool"),
            (s, v) => s with { InlineIo = v == "inline" });
        IoThreads = new Option<int>("--io-threads") { HelpName = "N", Description = $"socket threads (default: half the cores, at least 1, unless {ServeCommand.SocketThreadsVariable} says; the other half is left to the UDP loops and to a probe or load generator on the same host)" }.Whole(1, 256);
        Command.Options.Add(IoThreads);
    }

    /// <summary>What serve --help says after the options.</summary>
    public const string Details = """
        Binds every listener of a role of the profile and answers each: the universal echo (CUCMSIM-PROBE <nonce>)
        everywhere, native protocols where they exist. Records every hit in the ledger and serves the control API.

        Exit codes: 0 stopped by a signal, 1 bad profile or options, 2 --strict and a listener failed.
        """;

    public Command Command { get; }

    public Option<string> Profile { get; }

    public Option<string> LogLevel { get; }

    public Option<string> Io { get; }

    public Option<int> IoThreads { get; }

    /// <summary>What serve runs with when no option says otherwise.</summary>
    public static ServeOptions Defaults => new()
    {
        LedgerPath = "cucmsim-ledger.jsonl",
        InlineIo = true,
        ControlToken = Environment.GetEnvironmentVariable(ControlAccess.EnvironmentVariable) is { Length: > 0 } token ? token : null,
    };

    /// <summary>The server's options from a command line without errors.</summary>
    public ServeOptions Bind(ParseResult parsed) => _options.Bind(parsed, Defaults);

    public LogLevel Level(ParseResult parsed) => Enum.Parse<LogLevel>(parsed.GetValue(LogLevel)!, ignoreCase: true);

    private static void DeclareTftp(Declared<Serve.Tftp.TftpOptions> o, Serve.Tftp.TftpOptions d)
    {
        var single = new Option<bool>("--tftp-single-port") { Description = "send every TFTP transfer from the listener's own port (not RFC behaviour; for NAT)" };
        var range = new Option<PortRange?>("--tftp-data-ports") { HelpName = "LOW-HIGH", Description = "send each TFTP transfer from a port of this range (default: a fresh ephemeral port)" }.LastWins<PortRange?>(Range);
        o.Add(new Option<string?>("--tftp-root") { HelpName = "DIR", Description = "files served by TFTP 69/6969, HTTP 6970, HTTPS 6971/6972 (names matched in any case); SEP<MAC>.cnf.xml, XMLDefault.cnf.xml, ConfigFileCacheList.txt are generated otherwise" }.LastWins(OptionKinds.ExistingDirectory),
            (s, v) => s with { Root = v });
        o.Add(range, (s, v) => s with { PortMode = Serve.Tftp.TftpPortMode.Range, DataPorts = v });
        o.Add(single, (s, v) => v ? s with { PortMode = Serve.Tftp.TftpPortMode.Single } : s);
        o.Add(new Option<int>("--tftp-max-transfers") { HelpName = "N", Description = "concurrent TFTP transfers", DefaultValueFactory = _ => d.MaxTransfers }.Whole(1, 100_000),
            (s, v) => s with { MaxTransfers = v });
        o.Add(new Option<string>("--tftp-config") { HelpName = "PROTOCOL", Description = "flavour of generated SEP<MAC>.cnf.xml", DefaultValueFactory = _ => d.DeviceProtocol }.OneOf("sip", "sccp"),
            (s, v) => s with { DeviceProtocol = v });
        o.Add(new Option<bool>("--tftp-gso") { Description = "send a TFTP window as one UDP segmentation-offload send (faster; captures and firewalls on this host or behind a veth see one large datagram per window)" },
            (s, v) => s with { Segmentation = v });
        single.Validators.Add(r =>
        {
            if (!r.Implicit && r.GetResult(range) is { Implicit: false })
            {
                r.AddError("--tftp-single-port and --tftp-data-ports exclude each other");
            }
        });
    }

    private static void DeclareSccp(Declared<Serve.Sccp.SccpOptions> o, Serve.Sccp.SccpOptions d)
    {
        o.Add(new Option<int>("--sccp-keepalive") { HelpName = "S", Description = "SCCP keepalive interval in RegisterAck", DefaultValueFactory = _ => d.KeepAliveSeconds }.Whole(1, 3600),
            (s, v) => s with { KeepAliveSeconds = v });
        o.Add(new Option<int>("--sccp-misses") { HelpName = "N", Description = "unregister a phone after N intervals without keepalive", DefaultValueFactory = _ => d.KeepAliveMisses }.Whole(1, 100),
            (s, v) => s with { KeepAliveMisses = v });
        o.Add(new Option<int>("--sccp-max-protocol") { HelpName = "N", Description = "highest SCCP protocol version offered", DefaultValueFactory = _ => d.MaxProtocolVersion }.Whole(0, 255),
            (s, v) => s with { MaxProtocolVersion = v });
        o.Add(new Option<int>("--sccp-max-devices") { HelpName = "N", Description = "reject registrations beyond N devices (default: no limit)" }.Whole(0, int.MaxValue),
            (s, v) => s with { MaxDevices = v });
        o.Add(new Option<string?>("--sccp-device-pattern") { HelpName = "RE", Description = "only device names matching RE may register" }.LastWins(Pattern),
            (s, v) => s with { DeviceNamePattern = v });
        o.Add(new Option<bool>("--sccp-reject-all") { Description = "reject every registration (fault injection for training)" },
            (s, v) => s with { RejectAll = v });
        o.Add(new Option<string>("--sccp-extension") { HelpName = "NUM", Description = "number that answers and opens media", DefaultValueFactory = _ => d.TestExtension }.LastWins(Digits),
            (s, v) => s with { TestExtension = v });
        o.Add(new Option<bool>("--sccp-auto-answer") { Description = "off hook alone opens media" },
            (s, v) => s with { AutoAnswer = v });
        o.Add(new Option<bool>("--sccp-fragment") { Description = "write each SCCP message in two TCP segments (testing inspection)" },
            (s, v) => s with { Fragment = v });
        o.Add(new Option<int>("--sccp-ring-s") { HelpName = "S", Description = "a call to another phone not answered within S seconds gets reorder", DefaultValueFactory = _ => (int)d.RingTimeout.TotalSeconds }.Whole(1, 3600),
            (s, v) => s with { RingTimeout = TimeSpan.FromSeconds(v) });
    }

    private static string? EndPoint(string text, out IPEndPoint? value) =>
        IPEndPoint.TryParse(text, out value) ? null : "write ADDR:PORT, e.g. 127.0.0.1:9900";

    private static string? Range(string text, out PortRange? value)
    {
        var ok = PortRange.TryParse(text, out var range, out var error);
        value = ok ? range : null;
        return ok ? null : error ?? "write LOW-HIGH";
    }

    private static string? Pattern(string text, out string? value)
    {
        value = text;
        try
        {
            _ = new Regex(text, RegexOptions.None, TimeSpan.FromSeconds(1));
            return null;
        }
        catch (ArgumentException)
        {
            return "not a regular expression";
        }
    }

    private static string? Digits(string text, out string value)
    {
        value = text;
        return text.Length is > 0 and <= 24 && text.All(char.IsAsciiDigit) ? null : "1 to 24 digits";
    }
}

using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using CucmSim.Catalog;
using CucmSim.Serve;
using Microsoft.Extensions.Logging;

namespace CucmSim.Cli;

internal static class ServeCommand
{
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string SocketThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    private static int DefaultIoThreads => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// Sets the runtime's socket engine up for --io and --io-threads. Called by the executable's entry point before
    /// any socket exists: the runtime reads both settings once, when its socket engine starts. Inline completions run
    /// socket continuations on the engine threads instead of hopping to the thread pool. An explicit option wins over
    /// the environment; the environment wins over the defaults.
    /// </summary>
    public static void ConfigureRuntime(IReadOnlyList<string> argv)
    {
        if (argv.Count == 0 || argv[0] != "serve")
        {
            return;
        }

        string? Option(string name)
        {
            var at = argv.ToList().LastIndexOf("--" + name);
            return at > 0 && at + 1 < argv.Count ? argv[at + 1] : null;
        }

        var io = Option("io");
        if (io == "pool")
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, null);
        }
        else if (io == "inline" || Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        if (int.TryParse(Option("io-threads"), NumberStyles.None, CultureInfo.InvariantCulture, out var threads) && threads is >= 1 and <= 256)
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, threads.ToString(CultureInfo.InvariantCulture));
        }
        else if (Environment.GetEnvironmentVariable(SocketThreadsVariable) is null)
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, DefaultIoThreads.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static readonly string Usage = $"""
        usage: cucmsim serve [options]

        Binds every listener of a role of the profile and answers each: the universal echo
        (CUCMSIM-PROBE <nonce>) everywhere, native protocols where they exist. Records every hit
        in the ledger and serves the control API.

          --profile NAME|FILE   profile (default: the embedded 'cucm')
          --role ROLE           role to play (default: cucm)
          --bind ADDR           address to bind, repeatable (default: every address, IPv4 and IPv6)
          --port-offset N       add N to every port (unprivileged runs, several instances per host)
          --only SEL            serve only these flows: a table (6), protocol (sip) or flow id (t6.sccp);
                                repeatable or comma-separated; 'table:', 'protocol:', 'flow:' prefixes allowed
          --except SEL          leave these flows out (e.g. --except rtp)
          --control ADDR:PORT   control API (default 127.0.0.1:9900 plus the offset)
          --no-control          no control API
          --otlp URL            export the CucmSim meter by OTLP every 10 s: gRPC (http://collector:4317), or
                                HTTP/protobuf when the URL ends in /v1/metrics (default: off)
          --ledger PATH         ledger file, JSON Lines (default ./cucmsim-ledger.jsonl; 'none' keeps it in memory)
          --ledger-max-mb N     rotate the ledger at N MiB (default 64)
          --ledger-window N     newest records the control API keeps in memory (default 1000)
          --idle-timeout S      close TCP connections silent for S seconds (default 120)
          --state-dir DIR       generated certificates and other state (default ./cucmsim-state)
          --hostname NAME       DNS name of this node for certificates, repeatable (default: host name, localhost)
          --address ADDR        address of this node for certificates and generated configs, repeatable
          --external-address A  address embedded in payloads (SDP, SCCP, phone configs), e.g. a NAT's outside
                                address; default: the address each request reached (never loopback for a peer
                                that is not on loopback)
          --cert FILE           certificate to present on TLS listeners: PFX, or PEM with --cert-key
          --cert-key FILE       private key of a PEM certificate
          --cert-password PW    password of a PFX certificate
          --mtls                ask TLS clients for a certificate (mutual TLS)
          --ephemeral-ports     bind every listener on a port the system picks (tests; /api/listeners shows them)
          --tftp-root DIR       files served by TFTP 69/6969, HTTP 6970, HTTPS 6971/6972 (names matched in any case);
                                SEP<MAC>.cnf.xml, XMLDefault.cnf.xml, ConfigFileCacheList.txt are generated otherwise
          --tftp-data-ports L-H send each TFTP transfer from a port of this range (default: a fresh ephemeral port)
          --tftp-single-port    send every TFTP transfer from the listener's own port (not RFC behaviour; for NAT)
          --tftp-max-transfers N  concurrent TFTP transfers (default 2048)
          --tftp-config P       flavour of generated SEP<MAC>.cnf.xml: sip (default) or sccp
          --tftp-gso            send a TFTP window as one UDP segmentation-offload send (faster; captures and
                                firewalls on this host or behind a veth see one large datagram per window)
          --strict              exit with code 2 unless every listener binds
          --log-level LEVEL     trace, debug, information, warning, error (default information)
          --io MODE             where TCP handlers run: 'inline' on the socket threads (default: fewest thread
                                hand-offs per request), or 'pool' on the .NET thread pool
          --io-threads N        socket threads (default: half the cores, at least 1; the other half is left to
                                the UDP loops and to a probe or load generator on the same host)
          --sccp-keepalive S    SCCP keepalive interval in RegisterAck (default 30)
          --sccp-misses N       unregister a phone after N intervals without keepalive (default 3)
          --sccp-max-protocol N highest SCCP protocol version offered (default 22)
          --sccp-max-devices N  reject registrations beyond N devices (default: no limit)
          --sccp-device-pattern RE  only device names matching RE may register
          --sccp-reject-all     reject every registration (fault injection for training)
          --sccp-extension NUM  number that answers and opens media (default 1000)
          --sccp-auto-answer    off hook alone opens media
          --sccp-fragment       write each SCCP message in two TCP segments (testing inspection)
        {Serve.Snmp.SnmpCli.Usage}

        {Serve.Sip.SipCli.Usage}
        {Serve.AdminWeb.AdminWebCli.Usage}

        Exit codes: 0 stopped by a signal, 1 bad profile or options, 2 --strict and a listener failed.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error)
    {
        var args = Args.Parse(argv,
            ["profile", "role", "bind", "port-offset", "only", "except", "control", "ledger", "ledger-max-mb", "ledger-window", "otlp", "idle-timeout", "log-level", "io", "io-threads",
             "state-dir", "hostname", "address", "cert", "cert-key", "cert-password", "external-address",
             "sccp-keepalive", "sccp-misses", "sccp-max-protocol", "sccp-max-devices", "sccp-device-pattern", "sccp-extension",
             "tftp-root", "tftp-data-ports", "tftp-max-transfers", "tftp-config",
             .. Serve.Snmp.SnmpCli.ValueOptions, .. Serve.Sip.SipCli.ValueOptions, .. Serve.AdminWeb.AdminWebCli.ValueOptions],
            ["strict", "no-control", "mtls", "ephemeral-ports", "help", "sccp-reject-all", "sccp-auto-answer", "sccp-fragment", "tftp-single-port", "tftp-gso",
             .. Serve.Snmp.SnmpCli.FlagOptions, .. Serve.Sip.SipCli.FlagOptions]);
        if (args.Flag("help"))
        {
            output.WriteLine(Usage);
            return 0;
        }

        var errors = new List<string>(args.Errors);
        errors.AddRange(args.Positionals.Select(p => $"unexpected argument '{p}'"));
        var binds = ParseAddresses(args, "bind", errors);
        var sanAddresses = ParseAddresses(args, "address", errors);

        IPAddress? external = null;
        if (args.Value("external-address") is { } ext && !IPAddress.TryParse(ext, out external))
        {
            errors.Add($"--external-address {ext}: not an IP address");
        }

        if (args.Value("cert") is { } certFile && !File.Exists(certFile))
        {
            errors.Add($"--cert {certFile}: no such file");
        }

        var sip = Serve.Sip.SipCli.Parse(args, errors);
        var adminWeb = Serve.AdminWeb.AdminWebCli.Parse(args, errors);
        var tftp = ParseTftp(args, errors);
        var offset = ParseInt(args, "port-offset", 0, 0, 65535, errors);
        var idle = ParseInt(args, "idle-timeout", 120, 1, 86400, errors);
        var ledgerMb = ParseInt(args, "ledger-max-mb", 64, 1, 1 << 20, errors);
        var ledgerWindow = ParseInt(args, "ledger-window", new LedgerOptions().WindowSize, 16, 10_000_000, errors);
        IPEndPoint? control = null;
        if (args.Value("control") is { } c && !IPEndPoint.TryParse(c, out control))
        {
            errors.Add($"--control {c}: write ADDR:PORT, e.g. 127.0.0.1:9900");
        }

        Uri? otlp = null;
        if (args.Value("otlp") is { } o && !(Uri.TryCreate(o, UriKind.Absolute, out otlp) && otlp.Scheme is "http" or "https"))
        {
            errors.Add($"--otlp {o}: write the collector's URL, e.g. http://127.0.0.1:4317");
        }

        var snmp = Serve.Snmp.SnmpCli.Parse(args, errors);
        var sccp = new CucmSim.Serve.Sccp.SccpOptions
        {
            KeepAliveSeconds = ParseInt(args, "sccp-keepalive", 30, 1, 3600, errors),
            KeepAliveMisses = ParseInt(args, "sccp-misses", 3, 1, 100, errors),
            MaxProtocolVersion = ParseInt(args, "sccp-max-protocol", 22, 0, 255, errors),
            MaxDevices = ParseInt(args, "sccp-max-devices", 0, 0, int.MaxValue, errors),
            DeviceNamePattern = args.Value("sccp-device-pattern"),
            TestExtension = args.Value("sccp-extension") ?? "1000",
            RejectAll = args.Flag("sccp-reject-all"),
            AutoAnswer = args.Flag("sccp-auto-answer"),
            Fragment = args.Flag("sccp-fragment"),
        };
        if (sccp.DeviceNamePattern is { } pattern && !IsRegex(pattern))
        {
            errors.Add($"--sccp-device-pattern {pattern}: not a regular expression");
        }

        if (!sccp.TestExtension.All(char.IsAsciiDigit) || sccp.TestExtension.Length is 0 or > 24)
        {
            errors.Add($"--sccp-extension {sccp.TestExtension}: 1 to 24 digits");
        }

        var io = args.Value("io") ?? "inline";
        if (io is not ("inline" or "pool"))
        {
            errors.Add($"--io {io}: inline or pool");
        }

        _ = ParseInt(args, "io-threads", DefaultIoThreads, 1, 256, errors);
        var level = LogLevel.Information;
        if (args.Value("log-level") is { } lv && !Enum.TryParse(lv, ignoreCase: true, out level))
        {
            errors.Add($"--log-level {lv}: one of trace, debug, information, warning, error");
        }

        if (errors.Count > 0)
        {
            foreach (var e in errors)
            {
                error.WriteLine($"cucmsim serve: {e}");
            }

            error.WriteLine("see: cucmsim serve --help");
            return 1;
        }

        var ledgerPath = args.Value("ledger") ?? "cucmsim-ledger.jsonl";
        var options = new ServeOptions
        {
            Profile = args.Value("profile") ?? ProfileLoader.DefaultProfile,
            Role = args.Value("role") ?? "cucm",
            Bind = binds,
            PortOffset = offset,
            Only = args.Values("only"),
            Except = args.Values("except"),
            Control = control,
            NoControl = args.Flag("no-control"),
            Otlp = otlp,
            LedgerPath = ledgerPath == "none" ? null : ledgerPath,
            Ledger = new LedgerOptions { MaxBytes = ledgerMb * 1024L * 1024L, WindowSize = ledgerWindow },
            Strict = args.Flag("strict"),
            EphemeralPorts = args.Flag("ephemeral-ports"),
            Sccp = sccp,
            Limits = new ServeLimits { IdleTimeout = TimeSpan.FromSeconds(idle) },
            StateDirectory = args.Value("state-dir") ?? "cucmsim-state",
            Identity = new ServerIdentity
            {
                HostName = args.Values("hostname").FirstOrDefault() ?? Environment.MachineName.ToLowerInvariant(),
                ExternalAddress = external,
            },
            Snmp = snmp,
            Tftp = tftp,
            Certificates = new CertificateOptions
            {
                HostNames = args.Values("hostname"),
                Addresses = sanAddresses,
                CertificateFile = args.Value("cert"),
                KeyFile = args.Value("cert-key"),
                Password = args.Value("cert-password"),
                RequireClientCertificate = args.Flag("mtls"),
            },
            Sip = sip,
            AdminWeb = adminWeb,
            InlineIo = io == "inline",
        };


        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            })
            .SetMinimumLevel(level)
            .AddFilter("Microsoft", level <= LogLevel.Debug ? level : LogLevel.Warning));

        var stop = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGTERM"); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGINT"); });
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGQUIT"); });

        SimServer server;
        try
        {
            server = await SimServer.StartAsync(options, loggers).ConfigureAwait(false);
        }
        catch (ProfileException ex)
        {
            ProfilesCommand.PrintProblems(ex.Problems, error);
            return 1;
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"cucmsim serve: {ex.Message}");
            return 1;
        }

        await using (server.ConfigureAwait(false))
        {
            Report(server, output);
            if (options.Strict && !server.Complete)
            {
                output.WriteLine("--strict: not every listener is up; stopping (exit 2)");
                await server.StopAsync().ConfigureAwait(false);
                return 2;
            }

            var signal = await stop.Task.ConfigureAwait(false);
            output.WriteLine($"{signal}: draining connections and flushing the ledger");
            await server.StopAsync().ConfigureAwait(false);
            output.WriteLine($"stopped; ledger: {server.Ledger.LastSeq} records{(server.Ledger.Path is null ? string.Empty : $" in {server.Ledger.Path}")}");
        }

        return 0;
    }

    private static void Report(SimServer server, TextWriter output)
    {
        if (server.Context.Identity.ExternalAddress is { } external && System.Net.IPAddress.IsLoopback(external))
        {
            output.WriteLine($"warning: --external-address {external} is a loopback address: SDP, SCCP media and generated phone configs tell " +
                "every peer to reach it, and no peer on another host can; leave it out to embed the address each request reached");
        }

        foreach (var l in server.Listeners.Where(l => l.Status == ListenerStatus.Failed))
        {
            output.WriteLine($"FAILED {l.Id} ({l.Spec.Protocol}): {l.Error}{(l.Fix is null ? string.Empty : $"\n       fix: {l.Fix}")}");
        }

        if (server.RtpError is not null)
        {
            output.WriteLine($"FAILED rtp pool: {server.RtpError}");
        }
        else if (server.Rtp is { } rtp && rtp.Bound < rtp.Requested)
        {
            output.WriteLine($"FAILED rtp pool: {rtp.Requested - rtp.Bound} of {rtp.Requested} ports did not bind, e.g. {string.Join("; ", rtp.Failures.Take(3))}");
        }

        if (server.ControlError is not null)
        {
            output.WriteLine($"FAILED {server.ControlError}");
        }

        if (server.Context.SshHostKey is { } hostKey)
        {
            output.WriteLine($"ssh host key: {hostKey.Algorithm} {hostKey.Fingerprint} ({hostKey.Path ?? $"this run only: {hostKey.Problem}"})");
        }

        var tcp = server.Listeners.Where(l => l.Transport == "tcp").ToList();
        var udp = server.Listeners.Where(l => l.Transport == "udp").ToList();
        var rtpText = server.Plan.Rtp is null
            ? "no rtp pool"
            : $"rtp pool {server.Rtp?.Bound ?? 0}/{server.Plan.Rtp.Count * (server.Options.Bind.Count == 0 ? 1 : server.Options.Bind.Count)} ports ({string.Join(",", server.Plan.Rtp.Ranges.Select(r => new PortRange(r.Low + server.Options.PortOffset, r.High + server.Options.PortOffset)))})";
        var control = server.ControlEndPoint is null ? "no control api" : $"control http://{server.ControlEndPoint}";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ready: {server.BoundCount}/{server.Listeners.Count} listeners up ({tcp.Count(l => l.Status == ListenerStatus.Bound)}/{tcp.Count} tcp, {udp.Count(l => l.Status == ListenerStatus.Bound)}/{udp.Count} udp), {rtpText}; profile {server.Profile.Name}, role {server.Plan.Role}; {control}; ledger {server.Ledger.Path ?? "in memory"}; {server.StartupTime.TotalSeconds:0.000} s"));
    }

    private static List<IPAddress> ParseAddresses(Args args, string name, List<string> errors)
    {
        var list = new List<IPAddress>();
        foreach (var text in args.Values(name))
        {
            if (IPAddress.TryParse(text, out var address))
            {
                list.Add(address);
            }
            else
            {
                errors.Add($"--{name} {text}: not an IP address");
            }
        }

        return list;
    }

    private static bool IsRegex(string pattern)
    {
        try
        {
            _ = new System.Text.RegularExpressions.Regex(pattern);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static Serve.Tftp.TftpOptions ParseTftp(Args args, List<string> errors)
    {
        var options = new Serve.Tftp.TftpOptions
        {
            Root = args.Value("tftp-root"),
            MaxTransfers = ParseInt(args, "tftp-max-transfers", 2048, 1, 100_000, errors),
            DeviceProtocol = args.Value("tftp-config") ?? "sip",
            Segmentation = args.Flag("tftp-gso"),
        };
        if (options.Root is { } root && !Directory.Exists(root))
        {
            errors.Add($"--tftp-root {root}: no such directory");
        }

        if (options.DeviceProtocol is not ("sip" or "sccp"))
        {
            errors.Add($"--tftp-config {options.DeviceProtocol}: sip or sccp");
        }

        if (args.Value("tftp-data-ports") is { } ports)
        {
            if (!PortRange.TryParse(ports, out var range, out var error))
            {
                errors.Add($"--tftp-data-ports {ports}: {error}");
            }

            options = options with { PortMode = Serve.Tftp.TftpPortMode.Range, DataPorts = range };
        }

        if (args.Flag("tftp-single-port"))
        {
            if (options.PortMode == Serve.Tftp.TftpPortMode.Range)
            {
                errors.Add("--tftp-single-port and --tftp-data-ports exclude each other");
            }

            options = options with { PortMode = Serve.Tftp.TftpPortMode.Single };
        }

        return options;
    }

    private static int ParseInt(Args args, string name, int fallback, int min, int max, List<string> errors) =>
        args.Int(name, fallback, min, max, errors);
}

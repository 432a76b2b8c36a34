using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve;

public sealed record ServeOptions
{
    public string Profile { get; init; } = ProfileLoader.DefaultProfile;
    public string Role { get; init; } = "cucm";

    /// <summary>Addresses to bind; empty binds every local address, IPv4 and IPv6, with one socket per port.</summary>
    public IReadOnlyList<IPAddress> Bind { get; init; } = [];

    public int PortOffset { get; init; }
    public IReadOnlyList<string> Only { get; init; } = [];
    public IReadOnlyList<string> Except { get; init; } = [];

    /// <summary>Control API endpoint; null means 127.0.0.1:(9900 + offset).</summary>
    public IPEndPoint? Control { get; init; }

    /// <summary>An OpenTelemetry collector to export the CucmSim meter to (off when null).</summary>
    public Uri? Otlp { get; init; }

    /// <summary>How often metrics go to <see cref="Otlp"/>.</summary>
    public TimeSpan OtlpInterval { get; init; } = TimeSpan.FromSeconds(10);

    public bool NoControl { get; init; }

    /// <summary>The token the control API asks for; null: none on loopback, one generated on any other address.</summary>
    public string? ControlToken { get; init; }

    /// <summary>Run TCP handlers on the socket transport's threads (Kestrel's inline scheduling).</summary>
    public bool InlineIo { get; init; }
    public string? LedgerPath { get; init; }
    public LedgerOptions Ledger { get; init; } = new();
    public bool Strict { get; init; }
    public ServeLimits Limits { get; init; } = new();

    /// <summary>Bind every listener on an ephemeral port (tests): the profile's ports become labels.</summary>
    public bool EphemeralPorts { get; init; }

    public TimeProvider? Time { get; init; }

    /// <summary>Where generated certificates and other state are kept between runs.</summary>
    public string StateDirectory { get; init; } = "cucmsim-state";

    public CertificateOptions Certificates { get; init; } = new();

    public ServerIdentity Identity { get; init; } = new();

    /// <summary>SNMP agent settings (communities, system group, v3 users, trap receivers).</summary>
    public Snmp.SnmpOptions Snmp { get; init; } = new();

    /// <summary>SCCP (Skinny) registration, keepalive and call settings.</summary>
    public Sccp.SccpOptions Sccp { get; init; } = new();

    /// <summary>Phone provisioning: TFTP, HTTP and HTTPS content and transfer settings.</summary>
    public Tftp.TftpOptions Tftp { get; init; } = new();

    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public Sip.SipOptions Sip { get; init; } = new();

    /// <summary>How the H.323 listeners answer.</summary>
    public H323.H323Options H323 { get; init; } = new();

    public AdminWeb.AdminWebOptions AdminWeb { get; init; } = new();

    /// <summary>serve --dhcp: answer DHCP on the dhcp listeners; null (the default) leaves them to the echo.</summary>
    public Dhcp.DhcpOptions? Dhcp { get; init; }
}

/// <summary>
/// The serving host: binds every listener of a role, answers and records, and serves the control API.
/// TCP runs on Kestrel (connection handlers over Pipelines), UDP on receive loops, RTP on the epoll pool.
/// </summary>
public sealed class SimServer : IAsyncDisposable
{
    public const int DefaultControlPort = 9900;
    private const int DescriptorReserve = 256;

    private readonly CancellationTokenSource _stopping;
    private readonly List<UdpListenerLoop> _udpLoops = [];
    private readonly List<Task> _udpTasks = [];
    private readonly Dictionary<IPEndPoint, Socket> _prebound = [];
    private readonly Dictionary<int, (ListenerRuntime Listener, IHttpProtocol? Handler)> _http = [];
    private WebApplication? _app;
    private ITimer? _sweeper;
    private int _stopped;

    private SimServer(ServeOptions options, Profile profile, ListenerPlan plan, Ledger ledger, ServeContext context, ILoggerFactory loggers, CancellationTokenSource stopping)
    {
        _stopping = stopping;
        Options = options;
        Profile = profile;
        Plan = plan;
        Ledger = ledger;
        Context = context;
        Loggers = loggers;
    }

    public ServeOptions Options { get; }
    public Profile Profile { get; }
    public ListenerPlan Plan { get; }
    public Ledger Ledger { get; }

    /// <summary>Probe reports sent to the control API (probe --report-to), for the dashboard.</summary>
    public ProbeRuns ProbeRuns { get; } = new();

    /// <summary>The "CucmSim" meter over this server's counters (dotnet-counters, OpenTelemetry).</summary>
    public SimMeter? Meter { get; private set; }

    private IDisposable? _otlp;
    internal ServeContext Context { get; }
    private ILoggerFactory Loggers { get; }
    public IReadOnlyList<ListenerRuntime> Listeners { get; private set; } = [];
    public RtpPool? Rtp { get; private set; }
    public string? RtpError { get; private set; }
    public IPEndPoint? ControlEndPoint { get; private set; }
    public string? ControlError { get; private set; }

    /// <summary>Who may use the control API (null without one).</summary>
    public ControlAccess? ControlAccess { get; private set; }

    /// <summary>What is wrong with the state directory's permissions but does not stop serve (group-writable).</summary>
    public string? StateWarning { get; private set; }

    /// <summary>Bound listener and media ports the kernel could hand to outgoing connections, and the sysctl that reserves them; null when none.</summary>
    public string? EphemeralWarning { get; private set; }
    public TimeSpan StartupTime { get; private set; }
    public int DescriptorLimit { get; private set; }
    public DateTimeOffset StartedAt { get; private set; }

    public int BoundCount => Listeners.Count(l => l.Status == ListenerStatus.Bound);
    public int FailedCount => Listeners.Count(l => l.Status == ListenerStatus.Failed);

    /// <summary>True when everything asked for is bound: every listener, every RTP port, the control API.</summary>
    /// <summary>Listeners that are bound but fail at runtime (accept fails: the descriptor limit reached), with why.</summary>
    public string[] Degraded => Listeners.Where(l => l.AcceptError is not null).Select(l => $"{l.Id}: {l.AcceptError}").ToArray();

    public bool Complete => FailedCount == 0 && Listeners.All(l => l.AcceptError is null) && RtpError is null && (Rtp is null || Rtp.Bound == Rtp.Requested) && ControlError is null;

    public static async Task<SimServer> StartAsync(ServeOptions options, ILoggerFactory? loggers = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        loggers ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        var profile = ProfileLoader.Load(options.Profile);
        var errors = new List<string>();
        var filter = FlowFilter.Parse(profile, options.Only, options.Except, errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors));
        }

        var plan = ListenerPlan.Build(profile, options.Role, filter);
        var (stateError, stateWarning) = StateDirectory.Check(options.StateDirectory);
        if (stateError is not null)
        {
            throw new ArgumentException(stateError);
        }

        if (options.ControlToken is { } token && ControlAccess.Problem(token) is { } tokenProblem)
        {
            throw new ArgumentException($"--control-token: {tokenProblem}");
        }

        var time = options.Time ?? TimeProvider.System;
        var ledger = new Ledger(options.Ledger with { Path = options.LedgerPath ?? options.Ledger.Path }, time, loggers.CreateLogger("CucmSim.Ledger"));
        var stopping = new CancellationTokenSource();
        var certificates = new CertificateService(options.Certificates with { StateDirectory = options.StateDirectory });
        var context = new ServeContext(ledger, time, loggers, options.Limits, stopping.Token)
        {
            Certificates = certificates,
            Devices = new DeviceRegistry(),
            Identity = options.Identity,
            ExternalAddress = options.Identity.Resolve(options.Bind),
            Snmp = options.Snmp,
            Sccp = options.Sccp,
            Sip = options.Sip,
            H323 = options.H323,
            AdminWeb = options.AdminWeb,
            SshHostKey = plan.Listeners.Any(l => l.Protocol == "ssh") ? Ssh.SshHostKey.ForState(options.StateDirectory) : null,
            Dhcp = options.Dhcp,
        };
        context.Provisioning = Tftp.ProvisioningService.Create(options.Tftp, profile, plan.Role, options.PortOffset, options.EphemeralPorts, context);
        var server = new SimServer(options, profile, plan, ledger, context, loggers, stopping) { StateWarning = stateWarning };
        try
        {
            await server.StartCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        server.StartupTime = clock.Elapsed;
        return server;
    }

    private IReadOnlyList<IPAddress> Addresses() =>
        Options.Bind.Count > 0 ? Options.Bind : [Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any];

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        StartedAt = Context.Time.GetUtcNow();
        Meter = new SimMeter(this);
        if (Options.Otlp is { } otlp)
        {
            _otlp = SimMeter.ExportOtlp(otlp, Options.OtlpInterval);
        }
        var addresses = Addresses();
        var listeners = new List<ListenerRuntime>();
        foreach (var spec in Plan.Listeners)
        {
            foreach (var address in addresses)
            {
                var id = addresses.Count > 1 ? $"{spec.Id}@{address}" : spec.Id;
                var runtime = new ListenerRuntime(spec, id, address, Options.EphemeralPorts ? 0 : spec.Port + Options.PortOffset);
                SocketBinder.Bind(runtime);
                listeners.Add(runtime);
            }
        }

        Listeners = listeners;
        Context.Listeners = listeners;
        DescriptorLimit = OpenFilesLimit();
        var used = listeners.Count(l => l.Status == ListenerStatus.Bound) + 64;

        if (Plan.Rtp is { } rtpSpec)
        {
            var needed = rtpSpec.Count * addresses.Count;
            if (used + needed + DescriptorReserve > DescriptorLimit)
            {
                RtpError = $"the RTP pool needs {needed} sockets but this process may open {DescriptorLimit} files and the listeners hold {used}: " +
                           "narrow the range (a profile with \"rtp\": {\"" + Plan.Role + "\": \"LOW-HIGH\"}), exclude it (--except rtp), or raise ulimit -n";
            }
            else
            {
                Rtp = new RtpPool(rtpSpec, addresses, Options.PortOffset, Context);
                Rtp.Start();
                Context.Rtp = Rtp;
                used += Rtp.Bound;
            }
        }

        foreach (var l in listeners)
        {
            Ledger.Append(new LedgerRecord
            {
                Kind = "listener",
                Listener = l.Id,
                Role = l.Spec.Role,
                Flows = l.Spec.Flows.Select(f => f.Id).ToArray(),
                Transport = l.Transport,
                Protocol = l.Spec.Protocol,
                Local = l.BoundEndPoint is null ? null : Text.EndPoint(l.BoundEndPoint),
                Verdict = l.Status == ListenerStatus.Bound ? "bound" : "failed",
                Error = l.Error,
                Fix = l.Fix,
            });
        }

        if (Rtp is not null || RtpError is not null)
        {
            Ledger.Append(new LedgerRecord
            {
                Kind = "listener",
                Listener = Plan.Rtp!.Id,
                Role = Plan.Role,
                Flows = Plan.Rtp.Flows.Select(f => f.Id).ToArray(),
                Transport = "udp",
                Protocol = "rtp",
                Verdict = RtpError is null && Rtp!.Bound == Rtp.Requested ? "bound" : "failed",
                Error = RtpError ?? (Rtp!.Failures.Count > 0 ? $"{Rtp.Requested - Rtp.Bound} of {Rtp.Requested} ports failed, e.g. {Rtp.Failures[0]}" : null),
            });
        }

        await StartKestrelAsync(used, cancellationToken).ConfigureAwait(false);

        foreach (var l in listeners.Where(l => l.Status == ListenerStatus.Bound && l.Spec.Transport == Transport.Udp))
        {
            var loop = new UdpListenerLoop(l, Context, NativeProtocols.CreateUdp(l, Context));
            _udpLoops.Add(loop);
            _udpTasks.Add(Task.Run(() => loop.RunAsync(_stopping.Token), CancellationToken.None));
        }

        if (Context.SshHostKey is { } hostKey)
        {
            Ledger.Append(new LedgerRecord
            {
                Kind = "event",
                Verdict = "ssh-host-key",
                Detail = new()
                {
                    ["algorithm"] = hostKey.Algorithm,
                    ["fingerprint"] = hostKey.Fingerprint,
                    ["publicKey"] = hostKey.PublicKeyLine,
                    ["file"] = hostKey.Path ?? $"(this run only: {hostKey.Problem})",
                },
            });
        }

        if (!Options.EphemeralPorts)
        {
            var media = Plan.Rtp is null || Rtp is null ? [] : Plan.Rtp.Ranges.SelectMany(r => Enumerable.Range(r.Low + Options.PortOffset, r.Count));
            EphemeralWarning = EphemeralPorts.WarningForHost(Listeners.Where(l => l.Status == ListenerStatus.Bound).Select(l => l.BoundEndPoint!.Port).Concat(media));
        }

        _sweeper = Context.Time.CreateTimer(_ => SweepFlows(false), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        Ledger.Append(new LedgerRecord
        {
            Kind = "event",
            Verdict = "ready",
            Detail = new()
            {
                ["profile"] = Profile.Name,
                ["role"] = Plan.Role,
                ["bound"] = BoundCount.ToString(CultureInfo.InvariantCulture),
                ["listeners"] = Listeners.Count.ToString(CultureInfo.InvariantCulture),
                ["rtpBound"] = (Rtp?.Bound ?? 0).ToString(CultureInfo.InvariantCulture),
            },
        });
    }

    private async Task StartKestrelAsync(int descriptorsUsed, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILoggerFactory>(new HostLoggerFactory(Loggers));
        builder.Services.AddSingleton<IHostLifetime, ExternalLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Options.DrainTimeout);
        void ConfigureTransport(SocketTransportOptions o)
        {
            // Handlers never block (they await, or hand work to their own threads), so they may run on the
            // transport's threads: no thread-pool hop per read and per flush.
            o.UnsafePreferInlineScheduling = Options.InlineIo;

            // Kestrel's default accept queue is 512 connections: a storm of phones registering at once (a firewall
            // failover, a site back from an outage) overflows it, and every dropped SYN costs its phone a 1 s and a
            // 3 s retry. CUCM takes such storms; so does serve, up to net.core.somaxconn.
            o.Backlog = Options.Limits.ListenBacklog;
            o.CreateBoundListenSocket = endPoint =>
                endPoint is IPEndPoint ip && _prebound.Remove(ip, out var socket)
                    ? socket
                    : SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
        }

        // Kestrel's socket transport, set per endpoint: the profile's HTTP listeners read eagerly, every other
        // listener waits for data first. Registered last, so Kestrel binds every IP endpoint with it.
        builder.Services.AddSingleton<IConnectionListenerFactory>(services => new ListenerTransports(
            ConfigureTransport, endPoint => endPoint is IPEndPoint ip && _http.ContainsKey(ip.Port),
            endPoint => Listeners.FirstOrDefault(l => l.Spec.Transport == Transport.Tcp && endPoint.Equals(l.BoundEndPoint)),
            new DescriptorHeadroom(Options.Limits.DescriptorHeadroom), services.GetRequiredService<ILoggerFactory>()));

        if (!Options.NoControl)
        {
            var control = Options.Control ?? new IPEndPoint(IPAddress.Loopback, DefaultControlPort + Options.PortOffset);
            var socket = new Socket(control.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                SocketBinder.SetReuseAddressOnly(socket);
                socket.Bind(control);
                ControlEndPoint = (IPEndPoint)socket.LocalEndPoint!;
                _prebound[ControlEndPoint] = socket;
                ControlAccess = ControlAccess.For(ControlEndPoint, Options.ControlToken, Options.StateDirectory);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                var (error, fix) = SocketBinder.Explain(ex.SocketErrorCode, "tcp", control.Port, ex.Message);
                ControlError = $"control API on {control}: {error}" + (fix is null ? string.Empty : $" ({fix}, or choose another with --control ADDR:PORT)");
            }
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = Math.Max(64, DescriptorLimit - descriptorsUsed - DescriptorReserve);
            foreach (var listener in Listeners.Where(l => l.Status == ListenerStatus.Bound && l.Spec.Transport == Transport.Tcp))
            {
                var endPoint = listener.BoundEndPoint!;
                _prebound[endPoint] = listener.Socket!;
                var native = NativeProtocols.CreateTcp(listener, Context);
                var pipeline = new TcpPipeline(listener, Context, native);
                if (native.Http && native.Handler is null)
                {
                    _http[endPoint.Port] = (listener, native.HttpHandler);
                }

                kestrel.Listen(endPoint, lo =>
                {
                    // Echo sniff first (clear text, before TLS), then TLS, then the native handler or HTTP.
                    lo.Use(next => connection => pipeline.OnConnectedAsync(connection, pipeline.HandsOff ? next : null));
                    if (native.Tls is not null)
                    {
                        lo.UseHttps(native.Tls);
                    }

                    if (native.Handler is { } handler)
                    {
                        lo.Run(connection => handler.RunAsync(connection, listener, Context));
                    }
                });
            }

            if (ControlEndPoint is not null)
            {
                kestrel.Listen(ControlEndPoint);
            }
        });

        _app = builder.Build();

        // HTTP listeners of the profile answer by local port; only the control port reaches the control API.
        _app.Use(next => http => _http.TryGetValue(http.Connection.LocalPort, out var target)
            ? target.Handler is { } handler ? handler.HandleAsync(http, target.Listener, Context) : NotServedAsync(http, target.Listener)
            : next(http));

        // Past this point only the control API answers: it asks for its token when it has one.
        _app.Use(next => http => ControlAccess is null || ControlAccess.Admit(http) ? next(http) : ControlAccess.RefuseAsync(http));

        // Routing (the control API's endpoints) comes after the profile's HTTP listeners, which do not need it.
        _app.UseRouting();
        ControlApi.Map(_app, this);
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task NotServedAsync(Microsoft.AspNetCore.Http.HttpContext http, ListenerRuntime listener)
    {
        http.Response.StatusCode = 404;
        http.Response.ContentType = "text/plain";
        return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(http.Response,
            $"cucmsim: {listener.Id} ({listener.Spec.Protocol}) is a listener of the emulator with no content at this path\n", http.RequestAborted);
    }

    private void SweepFlows(bool all)
    {
        foreach (var loop in _udpLoops)
        {
            loop.Sweep(all);
        }
    }

    /// <summary>Drains connections within the drain timeout, closes flows and streams, and flushes the ledger.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        var clock = Stopwatch.StartNew();
        await _stopping.CancelAsync().ConfigureAwait(false);
        Context.EchoCallbacks.Dispose();
        if (_app is not null)
        {
            using var drain = new CancellationTokenSource(Options.DrainTimeout);
            try
            {
                await _app.StopAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await _app.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var l in Listeners.Where(l => l.Spec.Transport == Transport.Udp))
        {
            l.Socket?.Dispose();
        }

        await Task.WhenAll(_udpTasks).WaitAsync(Options.DrainTimeout).ConfigureAwait(false);
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync().ConfigureAwait(false);
        }

        SweepFlows(true);
        Rtp?.Stop();
        foreach (var socket in _prebound.Values)
        {
            socket.Dispose();
        }

        Ledger.Append(new LedgerRecord
        {
            Kind = "event",
            Verdict = "stopped",
            DurationMs = (long)clock.Elapsed.TotalMilliseconds,
        });
        await Ledger.DisposeAsync().ConfigureAwait(false);
        _otlp?.Dispose();
        Meter?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>The soft limit on open files of this process (RLIMIT_NOFILE).</summary>
    public static int OpenFilesLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft))
                    {
                        return soft;
                    }
                }
            }
        }
        catch (IOException)
        {
        }

        return 1024;
    }

    /// <summary>The host does not own the process: signals are handled by the command, tests stop it directly.</summary>
    private sealed class ExternalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>
/// The web host's loggers, less ASP.NET Core's per-request hosting diagnostics: while that category is enabled at
/// any level, every request creates an Activity (measurable at 100,000 requests per second). Requests are in the ledger.
/// </summary>
internal sealed class HostLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) =>
        categoryName == "Microsoft.AspNetCore.Hosting.Diagnostics"
            ? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance
            : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The factory belongs to whoever created the server.
    }
}

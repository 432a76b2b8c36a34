using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using CucmSim.Catalog;
using CucmSim.Cli;

namespace CucmSim.Load;

/// <summary>What a load command line asks for, checked: the plan, the target's ports, the run's options and the outputs.</summary>
internal sealed record LoadRequest(LoadPlan Plan, LoadTargets Targets, LoadRunOptions Options, double MaxFailureRatio, string? Json, string? Html, string? Hlog, bool Quiet);

/// <summary>cucmsim load: many phones registering and calling with media, measured (docs/load.md).</summary>
internal static class LoadCommand
{
    public const int ExitOk = 0;
    public const int ExitFailures = 1;
    public const int ExitBadOptions = 2;
    public const int ExitUnreachable = 3;

    /// <summary>cucmsim load with these arguments (what follows "load" on the command line).</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        CliMain.RunAsync(["load", .. argv], output, error, cancellationToken);

    public static async Task<int> RunAsync(System.CommandLine.ParseResult args, LoadCli cli, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var errors = OptionKinds.Problems(args);
        var sharding = errors.Count == 0 ? cli.Sharding.Read(args, Environment.GetEnvironmentVariable, errors) : null;
        var request = sharding is not null ? await BuildAsync(args, cli, sharding, errors, cancellationToken).ConfigureAwait(false) : null;
        if (request is null || sharding is null)
        {
            Fail(errors, error);
            return errors.Any(e => e.StartsWith(Unreachable, StringComparison.Ordinal)) ? ExitUnreachable : ExitBadOptions;
        }

        // SIGINT and SIGTERM end the run early, as its end would: calls hang up, phones unregister, the report is written.
        using var signals = new ShardRun.Signals(cancellationToken);
        return sharding.LocalShards > 1
            ? await ShardLocal.RunAsync(request, sharding, args.Tokens.Select(t => t.Value).ToList(), output, error, signals.Token).ConfigureAwait(false)
            : await ShardRun.RunAsync(request, sharding, output, error, listening: null, signals.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a checked request (one shard of it) with the live view, writes the outputs, and gives the exit code. A
    /// sharded run starts at <c>request.Options.StartAt</c>; <paramref name="attach"/> sees the engine before it starts
    /// (to push each <see cref="LoadEngine.IntervalCompleted"/> with <see cref="LoadEngine.Snapshot"/>'s totals), and
    /// <paramref name="finish"/> turns this shard's report into the one written (the merge of every shard's).
    /// </summary>
    public static async Task<int> RunAsync(
        LoadRequest request,
        ShardSpec shard,
        TextWriter output,
        TextWriter error,
        CancellationToken cancellationToken,
        Action<LoadEngine>? attach = null,
        Func<LoadReport, Task<LoadReport>>? finish = null)
    {
        using var engine = new LoadEngine(request.Plan, shard, request.Targets, request.Options);
        attach?.Invoke(engine);
        var terminal = !request.Quiet && Tables.IsTerminal(output);
        using var view = request.Quiet ? null : new LoadLiveView(() => engine.Snapshot, output, terminal);
        var report = await engine.RunAsync(cancellationToken).ConfigureAwait(false);
        view?.Stop();
        if (finish is not null)
        {
            report = await finish(report).ConfigureAwait(false);
        }

        return await ReportAsync(report, request, ExitCode(report, request.MaxFailureRatio), output, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Prints the summary of <paramref name="report"/> and writes the outputs the request asks for; gives <paramref name="code"/> back.</summary>
    public static async Task<int> ReportAsync(LoadReport report, LoadRequest request, int code, TextWriter output, CancellationToken cancellationToken)
    {
        LoadOutputs.Summary(report, request.MaxFailureRatio, code, output);
        await CucmSim.Probe.ProbeCommand.WriteAsync(request.Json, report.ToJson(), output, cancellationToken).ConfigureAwait(false);
        await CucmSim.Probe.ProbeCommand.WriteAsync(request.Html, LoadOutputs.Html(report), output, cancellationToken).ConfigureAwait(false);
        await CucmSim.Probe.ProbeCommand.WriteAsync(request.Hlog, LoadOutputs.HistogramLog(report), output, cancellationToken).ConfigureAwait(false);
        return code;
    }

    /// <summary>3 when no phone registered at all, 1 when the failure ratio is above the limit, 0 otherwise.</summary>
    public static int ExitCode(LoadReport report, double maxFailureRatio) =>
        report.Counters.RegistrationsSucceeded == 0 ? ExitUnreachable
        : report.FailureRatio > maxFailureRatio ? ExitFailures
        : ExitOk;

    private const string Unreachable = "cannot reach ";

    /// <summary>Reads and checks the command line; null (with the problems in <paramref name="errors"/>) when it cannot run.</summary>
    public static async Task<LoadRequest?> BuildAsync(System.CommandLine.ParseResult args, LoadCli cli, ShardSettings sharding, List<string> errors, CancellationToken cancellationToken)
    {
        LoadPlanFile? planFile = null;
        if (sharding.PlanFile is { } planPath && (planFile = LoadPlanFile.Read(planPath, out var planError)) is null)
        {
            errors.Add(planError!);
            return null;
        }

        var targetText = args.GetValue(cli.Target) ?? planFile?.Target;
        if (targetText is null)
        {
            errors.Add("name the TARGET: the address or name of the host that runs 'cucmsim serve'");
            return null;
        }

        LoadPlan.TryParseProtocol((Given(args, cli.Protocol) ? null : planFile?.Protocol) ?? args.GetValue(cli.Protocol) ?? "sip", out var protocol);
        var (profile, problems) = ProfileLoader.TryLoad(args.GetValue(cli.Profile) ?? ProfileLoader.DefaultProfile);
        if (profile is null)
        {
            errors.AddRange(problems.Select(p => p.ToString()));
            return null;
        }

        var role = args.GetValue(cli.Role) ?? "phone";
        var targetRole = args.GetValue(cli.TargetRole) ?? "cucm";
        foreach (var r in new[] { role, targetRole })
        {
            if (!profile.Roles.ContainsKey(r))
            {
                errors.Add($"profile '{profile.Name}' has no role '{r}' (roles: {string.Join(", ", profile.Roles.Keys)})");
            }
        }

        if (errors.Count > 0)
        {
            return null;
        }

        var offset = args.GetValue(cli.PortOffset);
        var ports = Ports(profile, role, targetRole, offset);
        foreach (var needed in Needed(protocol))
        {
            if (ports.GetValueOrDefault(needed) is null)
            {
                errors.Add($"profile '{profile.Name}' has no {needed} flow from {role} to {targetRole}: no port to send {LoadPlan.Name(protocol)} to");
            }
        }

        IReadOnlyList<IPAddress> sources = [];
        if (args.GetValue(cli.Sources) is { } sourceText)
        {
            sources = LoadPlan.ParseSources(sourceText, out var sourceError);
            if (sourceError is not null)
            {
                errors.Add($"--sources {sourceText}: {sourceError}");
            }
        }

        var duration = args.GetValue(cli.Duration);
        var calls = args.GetValue(cli.Calls);
        if (duration is not null && calls is not null)
        {
            errors.Add("give --duration or --calls, not both");
        }

        var plan = new LoadPlan
        {
            Target = IPAddress.None,
            Phones = args.GetValue(cli.Phones),
            Protocol = protocol,
            Sources = sources,
            RegisterRate = args.GetValue(cli.RegisterRate),
            CallsPerSecond = args.GetValue(cli.Cps),
            Hold = args.GetValue(cli.Hold),
            Duration = calls is null ? duration ?? TimeSpan.FromSeconds(60) : null,
            Calls = calls,
            RampUp = args.GetValue(cli.RampUp),
            RampDown = args.GetValue(cli.RampDown),
            Mode = args.GetValue(cli.Mode) == "phone" ? CallMode.PhoneToPhone : CallMode.Server,
            Callers = args.GetValue(cli.Callers),
            MaxPending = args.GetValue(cli.MaxPending),
            Media = !args.GetValue(cli.NoMedia),
            Seed = args.GetValue(cli.Seed),
            ServerNumber = args.GetValue(cli.Number) ?? "1000",
        };
        if (planFile is not null)
        {
            // The plan file's members, except where the command line gives the option itself.
            plan = planFile.Apply(plan, name => name == "TARGET" || cli.Command.Options.FirstOrDefault(o => o.Name == name) is { } o && Given(args, o));
            sources = plan.Sources;
        }

        errors.AddRange(plan.Problems());
        if (errors.Count > 0)
        {
            return null;
        }

        IPAddress target;
        try
        {
            target = await CucmSim.Probe.ProbeCommand.ResolveAsync(targetText, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            errors.Add($"{Unreachable}{targetText}: {ex.Message}");
            return null;
        }

        // A shard needs its own sources alone (on Kubernetes, each pod has only its own).
        var shardSources = ShardSources.Of(plan, sharding.Shard);
        if (shardSources.Count > 0 && MissingSources(shardSources) is { Count: > 0 } missing)
        {
            errors.Add(MissingSourcesText(missing, shardSources.Count, target));
            return null;
        }

        IPEndPoint? At(string key) => ports.GetValueOrDefault(key) is { } port ? new IPEndPoint(target, port) : null;
        return new LoadRequest(
            plan with { Target = target },
            new LoadTargets(At("sccp"), At("sip/udp"), At("sip/tcp"), At("sip-tls")),
            new LoadRunOptions { Timeout = args.GetValue(cli.Timeout), Refresh = args.GetValue(cli.Refresh), SipPassword = args.GetValue(cli.SipPassword), MediaThreads = args.GetValue(cli.MediaThreads), MediaPorts = MediaPorts(profile, role) },
            args.GetValue(cli.MaxFailureRatio),
            args.GetValue(cli.Json),
            args.GetValue(cli.Html),
            args.GetValue(cli.Hlog),
            args.GetValue(cli.Quiet));
    }

    /// <summary>Whether the command line gives <paramref name="option"/> itself (not its default).</summary>
    private static bool Given(System.CommandLine.ParseResult args, System.CommandLine.Option option) => args.GetResult(option) is { Implicit: false };

    private static IEnumerable<string> Needed(LoadProtocol protocol) => protocol switch
    {
        LoadProtocol.Sccp => ["sccp"],
        LoadProtocol.Sip => ["sip/udp"],
        LoadProtocol.SipTcp => ["sip/tcp"],
        LoadProtocol.SipTls => ["sip-tls"],
        _ => ["sccp", "sip/udp"],
    };

    /// <summary>The target's signalling ports from the profile: "sccp", "sip/udp", "sip/tcp" and "sip-tls", the offset added.</summary>
    public static Dictionary<string, int?> Ports(Profile profile, string role, string targetRole, int offset)
    {
        var ports = new Dictionary<string, int?>(StringComparer.Ordinal);
        foreach (var flow in profile.Flows.Where(f => f.From == role && f.To == targetRole && !f.Ports.IsEphemeral && f.Ports.Count > 0).OrderBy(f => f.Table).ThenBy(f => f.Row))
        {
            var port = flow.Ports.Ports.First() + offset;
            switch (flow.Protocol)
            {
                case "sccp" when flow.HasTcp:
                    ports.TryAdd("sccp", port);
                    break;
                case "sip":
                    if (flow.HasUdp)
                    {
                        ports.TryAdd("sip/udp", port);
                    }

                    if (flow.HasTcp)
                    {
                        ports.TryAdd("sip/tcp", port);
                    }

                    break;
                case "sip-tls" when flow.HasTcp:
                    ports.TryAdd("sip-tls", port);
                    break;
            }
        }

        return ports;
    }

    /// <summary>
    /// The ports the load phones take their media on: the profile's RTP range toward <paramref name="role"/> (for a
    /// phone, t6.rtp-to-phone, 16384-32767), so that the calls' media is what a firewall that allows that range
    /// expects. Null when the profile names none: the kernel's ephemeral ports.
    /// </summary>
    public static (int First, int Last)? MediaPorts(Profile profile, string role) =>
        profile.Flows.Where(f => f.To == role && f.Protocol == "rtp" && f.HasUdp && !f.Ports.IsEphemeral && f.Ports.Ranges.Count > 0)
            .OrderBy(f => f.Table).ThenBy(f => f.Row)
            .Select(f => f.Ports.Ranges.MaxBy(r => r.Count))
            .Where(r => r.Count >= 2)
            .Select(r => ((int First, int Last)?)(r.Low, r.High))
            .FirstOrDefault();

    /// <summary>The sources no socket can bind to: they are on no interface of this host.</summary>
    public static List<IPAddress> MissingSources(IReadOnlyList<IPAddress> sources)
    {
        var missing = new List<IPAddress>();
        foreach (var source in sources)
        {
            using var socket = new Socket(source.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
            }
            catch (SocketException)
            {
                missing.Add(source);
            }
        }

        return missing;
    }

    /// <summary>Says which sources are missing and the exact commands that add them (to the interface toward the target).</summary>
    public static string MissingSourcesText(IReadOnlyList<IPAddress> missing, int of, IPAddress target)
    {
        const int Shown = 64;
        var device = DeviceToward(target);
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"--sources: {missing.Count} of {of} addresses are on no interface of this host; add them (as root) with:");
        foreach (var address in missing.Take(Shown))
        {
            var prefix = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
            text.Append(CultureInfo.InvariantCulture, $"\n  ip addr add {address}/{prefix} dev {device}");
        }

        if (missing.Count > Shown)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n  ... and {missing.Count - Shown} more of the same form, through {missing[^1]}");
        }

        return text.ToString();
    }

    /// <summary>The interface the route to <paramref name="target"/> leaves by; "lo" for a loopback target, "DEV" when unknown.</summary>
    public static string DeviceToward(IPAddress target)
    {
        if (IPAddress.IsLoopback(target))
        {
            return "lo";
        }

        try
        {
            using var probe = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            probe.Connect(new IPEndPoint(target, 9));
            var local = ((IPEndPoint)probe.LocalEndPoint!).Address;
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(local)))
                {
                    return nic.Name;
                }
            }
        }
        catch (SocketException)
        {
        }

        return "DEV";
    }

    private static void Fail(List<string> errors, TextWriter error)
    {
        foreach (var e in errors)
        {
            error.WriteLine($"cucmsim load: {e}");
        }

        error.WriteLine("see: cucmsim load --help");
    }
}

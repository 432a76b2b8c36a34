using System.CommandLine;
using System.Globalization;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Load;

/// <summary>The load command's sharding options: which share this process runs, how the shares start together.</summary>
internal sealed class ShardCli
{
    /// <summary>The environment variable in which a Kubernetes Indexed Job gives each pod its index.</summary>
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    public Option<string?> Plan { get; } = new Option<string?>("--plan") { Description = "read the plan from a JSON file (every shard reads the same; options given here win over its members)", HelpName = "FILE" }.Optional();

    public Option<string?> Shard { get; } = new Option<string?>("--shard") { Description = "run shard i of n: a fixed share of the phones, their source addresses and their calls", HelpName = "i/n" }.Optional();

    public Option<int?> Shards { get; } = new Option<int?>("--shards") { Description = $"run one of n shards, the index taken from {IndexVariable} (a Kubernetes Indexed Job)", HelpName = "n" }
        .LastWins((string text, out int? value) =>
        {
            value = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 10_000 ? n : null;
            return value is null ? "a whole number from 1 to 10000" : null;
        });

    public Option<string?> Coordinator { get; } = new Option<string?>("--coordinator") { Description = $"shard 0's address, for shards 1..n-1 (port {ShardSettings.DefaultPort} unless given)", HelpName = "HOST:PORT" }.Optional();

    public Option<string?> CoordinatorListen { get; } = new Option<string?>("--coordinator-listen")
    {
        Description = $"where shard 0 listens for the other shards (default 0.0.0.0 and --coordinator's port, else {ShardSettings.DefaultPort})",
        HelpName = "ADDR:PORT",
    }.Optional();

    public Option<string?> StartAt { get; } = new Option<string?>("--start-at") { Description = "start at this time (RFC 3339 or Unix seconds) instead of when shard 0 says: shards without a coordinator", HelpName = "TIME" }.Optional();

    public Option<TimeSpan> ShardTimeout { get; } = new Option<TimeSpan>("--shard-timeout")
    {
        Description = "how long shard 0 waits for every shard to be ready, and at the end for their reports",
        HelpName = "T",
        DefaultValueFactory = _ => TimeSpan.FromMinutes(2),
    }.LastWins(LoadCli.Span);

    public Option<int> LocalShards { get; } = new Option<int>("--local-shards") { Description = "run N processes of this command on this host, each a shard on its own source addresses", HelpName = "N", DefaultValueFactory = _ => 1 }.Whole(1, 256);

    public IEnumerable<Option> All => [Plan, Shard, Shards, Coordinator, CoordinatorListen, StartAt, ShardTimeout, LocalShards];

    /// <summary>
    /// The sharding of this process from the command line and <paramref name="environment"/> (JOB_COMPLETION_INDEX);
    /// null with every problem when it does not add up.
    /// </summary>
    public ShardSettings? Read(ParseResult parsed, Func<string, string?> environment, List<string> problems)
    {
        var before = problems.Count;
        var spec = ReadSpec(parsed, environment, problems);
        var shardText = parsed.GetValue(Shard);
        var shards = parsed.GetValue(Shards);
        var local = parsed.GetValue(LocalShards);
        if (local > 1 && (shardText is not null || shards is not null || parsed.GetValue(Coordinator) is not null))
        {
            problems.Add("--local-shards runs every shard itself: it goes without --shard, --shards and --coordinator");
        }

        (string Host, int Port)? coordinator = null;
        if (parsed.GetValue(Coordinator) is { } c)
        {
            coordinator = HostPort(c, "--coordinator", problems);
        }

        IPEndPoint? listen = null;
        if (parsed.GetValue(CoordinatorListen) is { } l)
        {
            if (HostPort(l, "--coordinator-listen", problems, anyPort: true) is { } hp)
            {
                if (IPAddress.TryParse(hp.Host, out var address))
                {
                    listen = new IPEndPoint(address, hp.Port);
                }
                else
                {
                    problems.Add($"--coordinator-listen {l}: an address of this host (0.0.0.0, ::, 10.0.0.5) and a port");
                }
            }
        }

        DateTimeOffset? startAt = null;
        if (parsed.GetValue(StartAt) is { } s)
        {
            startAt = ParseTime(s);
            if (startAt is null)
            {
                problems.Add($"--start-at {s}: a time in RFC 3339 (2026-01-31T12:00:00Z) or Unix seconds");
            }
        }

        if (!spec.IsWhole && startAt is null && spec.Index > 0 && coordinator is null)
        {
            problems.Add($"shard {spec} needs shard 0's address (--coordinator HOST:PORT), or a common --start-at");
        }

        if (problems.Count > before)
        {
            return null;
        }

        return new ShardSettings
        {
            Shard = spec,
            Coordinator = coordinator,
            Listen = listen ?? new IPEndPoint(IPAddress.Any, coordinator?.Port ?? ShardSettings.DefaultPort),
            StartAt = startAt,
            Timeout = parsed.GetValue(ShardTimeout),
            LocalShards = local,
            PlanFile = parsed.GetValue(Plan),
        };
    }

    /// <summary>The shard of this process: --shard i/n, or --shards n with the index from JOB_COMPLETION_INDEX; the whole run by default.</summary>
    public ShardSpec ReadSpec(ParseResult parsed, Func<string, string?> environment, List<string> problems)
    {
        var shardText = parsed.GetValue(Shard);
        var shards = parsed.GetValue(Shards);
        if (shardText is not null && shards is not null)
        {
            problems.Add("give --shard i/n or --shards n (with JOB_COMPLETION_INDEX), not both");
        }
        else if (shardText is not null)
        {
            if (ShardSpec.TryParse(shardText, out var spec, out var error))
            {
                return spec;
            }

            problems.Add(error!);
        }
        else if (shards is { } n)
        {
            var index = environment(IndexVariable);
            if (index is null)
            {
                problems.Add($"--shards {n} takes the shard's index from {IndexVariable}, which is not set: give --shard i/{n} instead");
            }
            else if (!int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out var i) || i >= n)
            {
                problems.Add($"{IndexVariable}={index} is not an index below --shards {n}");
            }
            else
            {
                return new ShardSpec(i, n);
            }
        }

        return ShardSpec.Whole;
    }

    /// <summary>RFC 3339 (with its offset) or Unix seconds; null when it is neither.</summary>
    public static DateTimeOffset? ParseTime(string text)
    {
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds))
        {
            return seconds is > 0 and < 253_402_300_799 ? DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000)) : null;
        }

        // RFC 3339 carries its offset: a time without one is refused rather than read in some local zone.
        var hasOffset = text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');
        return hasOffset && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ? at.ToUniversalTime() : null;
    }

    private static (string Host, int Port)? HostPort(string text, string option, List<string> problems, bool anyPort = false)
    {
        // HOST, HOST:PORT, [V6]:PORT or a bare V6 address.
        string host;
        var port = ShardSettings.DefaultPort;
        if (text.StartsWith('['))
        {
            var end = text.IndexOf(']', StringComparison.Ordinal);
            host = end > 0 ? text[1..end] : "";
            if (end > 0 && end + 1 < text.Length && (text[end + 1] != ':' || !int.TryParse(text.AsSpan(end + 2), NumberStyles.None, CultureInfo.InvariantCulture, out port)))
            {
                port = -1;
            }
        }
        else if (text.Count(ch => ch == ':') == 1)
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            host = text[..colon];
            if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                port = -1;
            }
        }
        else
        {
            host = text;
        }

        if (host.Length is 0 or > 253 || port < (anyPort ? 0 : 1) || port > 65535)
        {
            problems.Add($"{option} {text}: HOST:PORT (port 1..65535; {ShardSettings.DefaultPort} when left out)");
            return null;
        }

        return (host, port);
    }
}

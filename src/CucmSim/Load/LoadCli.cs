using System.CommandLine;
using System.Globalization;
using CucmSim.Catalog;
using CucmSim.Cli;

namespace CucmSim.Load;

/// <summary>The load command's command line on System.CommandLine: every option with its help, default and check.</summary>
internal sealed class LoadCli
{
    public LoadCli()
    {
        Command = new Command("load", "register thousands of SCCP and SIP phones and place calls with media through the firewall, measured")
        {
            Target, Phones, Protocol, Sources, RegisterRate, Cps, Hold, Duration, Calls, RampUp, RampDown, Mode, Callers, MaxPending, NoMedia, MediaThreads, Seed, Number,
            Profile, Role, TargetRole, PortOffset, Timeout, Refresh, SipPassword, MaxFailureRatio, Json, Html, Hlog, Quiet,
        };
        foreach (var option in Sharding.All)
        {
            Command.Options.Add(option);
        }

        Command.Subcommands.Add(ShardCommands.Merge());
        Command.Subcommands.Add(ShardCommands.Sources(Sharding));
        ProfileCompletions.SendingRoles(Role, Profile);
        ProfileCompletions.ListeningRoles(TargetRole, Profile);
    }

    /// <summary>What load --help says after the options.</summary>
    public const string Details = """
        Phones follow from their index: SCCP phone i registers SEP<MAC base + i> (line 1 is 100000 + i on serve),
        SIP phone i registers user 100000 + i; phone i sends from source address block ⌊i·S/N⌋ of --sources.
        Registrations come first at --register-rate; then calls at --cps from one seeded schedule (--seed), ramped
        up and down, each held --hold seconds, until --duration or --calls. Every call has media ports of its own:
        G.711 20 ms RTP both ways and RTCP on the next port (--no-media: signalling only). --mode phone pairs phones
        at random; with --callers K, phones 0..K-1 place every call, each to a partner among the others, which only
        answer: run as shards 0/2 and 1/2 on either side of a firewall, every call crosses it.

        Measured: registration delay, call attempts per second, concurrent calls, setup time (SIP INVITE to 200;
        SCCP OffHook to StartMediaTransmission) p50/p95/p99, session establishment ratio, failures by reason, and per
        media leg RTP loss, RFC 3550 jitter and an E-model MOS.

        Sharding: --shard i/n (or --shards n with JOB_COMPLETION_INDEX) runs a fixed share of the phones, sources and
        calls. Shard 0 listens on --coordinator-listen (port 9910) and hands out one start; the others join it with
        --coordinator HOST:PORT, push a snapshot a second and their report at the end; shard 0 shows and writes the
        merged run. --start-at TIME starts shards without a coordinator ('cucmsim load merge' joins their reports).
        --local-shards N runs N such processes on this host. --plan FILE reads the plan from JSON; options win.
        'cucmsim load merge' and 'cucmsim load sources' are described by their own --help.

        Exit codes: 0 failures within --max-failure-ratio, 1 above it (or a shard's report missing), 2 bad options,
        3 no phone reached the target, 4 the shards did not come together (a shard missing or refused, shard 0 not reached).
        """;

    public Command Command { get; }

    /// <summary>--plan, --shard, --shards, --coordinator, --start-at, --local-shards and their kin.</summary>
    public ShardCli Sharding { get; } = new();

    public Argument<string?> Target { get; } = new("TARGET") { Arity = ArgumentArity.ZeroOrOne, Description = "address or name of the host that runs 'cucmsim serve' (or a CUCM)" };

    public Option<int> Phones { get; } = new Option<int>("--phones") { Description = "phones in all", HelpName = "N", DefaultValueFactory = _ => 1000 }.Whole(1, LoadPlan.MaxPhones);

    public Option<string> Protocol { get; } = new Option<string>("--protocol") { Description = "the phones' signalling (mixed: even phones SCCP, odd ones SIP over UDP)", HelpName = "P", DefaultValueFactory = _ => "sip" }
        .OneOf("sccp", "sip", "sip-tcp", "sip-tls", "mixed");

    public Option<string?> Sources { get; } = new Option<string?>("--sources") { Description = "source addresses: networks and addresses, comma-separated (198.18.16.0/22,10.0.0.5); each must be on an interface", HelpName = "CIDR|LIST" }.Optional();

    public Option<double> RegisterRate { get; } = new Option<double>("--register-rate") { Description = "registrations started per second", HelpName = "R", DefaultValueFactory = _ => 100 }.LastWins(Positive);

    public Option<double> Cps { get; } = new Option<double>("--cps") { Description = "call attempts per second at full rate", HelpName = "C", DefaultValueFactory = _ => 10 }.LastWins(Positive);

    public Option<TimeSpan> Hold { get; } = new Option<TimeSpan>("--hold") { Description = "how long each call is held (30, 30s, 2m, 500ms)", HelpName = "T", DefaultValueFactory = _ => TimeSpan.FromSeconds(10) }.LastWins(Span);

    public Option<TimeSpan?> Duration { get; } = new Option<TimeSpan?>("--duration") { Description = "how long calls are placed, ramps included (default 60s unless --calls)", HelpName = "T" }.LastWins(OptionalSpan);

    public Option<long?> Calls { get; } = new Option<long?>("--calls") { Description = "how many calls are placed in all (instead of --duration)", HelpName = "K" }.LastWins(Count);

    public Option<TimeSpan> RampUp { get; } = new Option<TimeSpan>("--ramp-up") { Description = "the call rate rises linearly from 0 over this time", HelpName = "T", DefaultValueFactory = _ => TimeSpan.Zero }.LastWins(Span);

    public Option<TimeSpan> RampDown { get; } = new Option<TimeSpan>("--ramp-down") { Description = "the call rate falls linearly to 0 over this time at the end", HelpName = "T", DefaultValueFactory = _ => TimeSpan.Zero }.LastWins(Span);

    public Option<string> Mode { get; } = new Option<string>("--mode") { Description = "server: the server answers and echoes media; phone: calls go through the server to other load phones", HelpName = "M", DefaultValueFactory = _ => "server" }
        .OneOf("server", "phone");

    public Option<int?> Callers { get; } = new Option<int?>("--callers") { Description = "phone mode: only phones 0..K-1 call, each to a partner of its own among the others, which only answer (two sides of a firewall as two shards)", HelpName = "K" }.LastWins(PhoneCount);

    public Option<int> MaxPending { get; } = new Option<int>("--max-pending") { Description = "registrations in flight at most (sent, not yet answered) in each process: above what the path carries, --register-rate slows to the answers' pace instead of overflowing the target's accept queue (0: no cap)", HelpName = "N", DefaultValueFactory = _ => LoadPlan.DefaultMaxPending }.Whole(0, LoadPlan.MaxPhones);

    public Option<bool> NoMedia { get; } = new("--no-media") { Description = "signalling only: no RTP or RTCP" };

    public Option<int> MediaThreads { get; } = new Option<int>("--media-threads") { Description = "threads that send and receive the RTP and RTCP, the legs spread over them (0: one per core, at most 4)", HelpName = "N", DefaultValueFactory = _ => 0 }.Whole(0, 64);

    public Option<int> Seed { get; } = new Option<int>("--seed") { Description = "seed of the call schedule (the same seed places the same calls)", HelpName = "N", DefaultValueFactory = _ => 1 }.Whole(0, int.MaxValue);

    public Option<string> Number { get; } = new Option<string>("--number") { Description = "the number dialled in server mode (serve's test extension)", HelpName = "N", DefaultValueFactory = _ => "1000" }.LastWins();

    public Option<string> Profile { get; } = new Option<string>("--profile") { Description = "profile that names the target's ports (default: the embedded 'cucm')", HelpName = "NAME|FILE", DefaultValueFactory = _ => ProfileLoader.DefaultProfile }.LastWins();

    public Option<string> Role { get; } = new Option<string>("--role") { Description = "the role the phones play", HelpName = "ROLE", DefaultValueFactory = _ => "phone" }.LastWins();

    public Option<string> TargetRole { get; } = new Option<string>("--target-role") { Description = "the role the server plays", HelpName = "ROLE", DefaultValueFactory = _ => "cucm" }.LastWins();

    public Option<int> PortOffset { get; } = new Option<int>("--port-offset") { Description = "the offset serve was started with", HelpName = "N", DefaultValueFactory = _ => 0 }.Whole(0, 65535);

    public Option<TimeSpan> Timeout { get; } = new Option<TimeSpan>("--timeout") { Description = "longest wait for a registration, a call setup or a release", HelpName = "T", DefaultValueFactory = _ => TimeSpan.FromSeconds(5) }.LastWins(Span);

    public Option<string?> SipPassword { get; } = new Option<string?>("--sip-password") { Description = "digest password of every SIP phone, its user being its number (as serve --sip-password, or CUCM's digest credentials): a 401 to REGISTER is answered with credentials", HelpName = "P" }.Optional();

    public Option<TimeSpan?> Refresh { get; } = new Option<TimeSpan?>("--refresh") { Description = "SIP re-REGISTER and SCCP keepalive interval (default: 60s for SIP, RegisterAck's for SCCP)", HelpName = "T" }.LastWins(OptionalSpan);

    public Option<double> MaxFailureRatio { get; } = new Option<double>("--max-failure-ratio") { Description = "failed registrations and calls over attempts above which the run exits 1", HelpName = "F", DefaultValueFactory = _ => 0.01 }.LastWins(Ratio);

    public Option<string?> Json { get; } = new Option<string?>("--json") { Description = "write the report as JSON ('-' for stdout)", HelpName = "FILE" }.Optional();

    public Option<string?> Html { get; } = new Option<string?>("--html") { Description = "write one self-contained HTML report with charts of rates and latency over time", HelpName = "FILE" }.Optional();

    public Option<string?> Hlog { get; } = new Option<string?>("--hlog") { Description = "write the setup times as an HdrHistogram interval log", HelpName = "FILE" }.Optional();

    public Option<bool> Quiet { get; } = new("--quiet") { Description = "no live view: the summary only" };

    private static string? Positive(string text, out double value) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value) && value > 0 && value <= 1_000_000 ? null : "a number above 0";

    private static string? Ratio(string text, out double value) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value) && value is >= 0 and <= 1 ? null : "a ratio from 0 to 1";

    private static string? Count(string text, out long? value)
    {
        value = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 100_000_000 ? n : null;
        return value is null ? "a whole number from 0 to 100000000" : null;
    }

    private static string? PhoneCount(string text, out int? value)
    {
        value = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= LoadPlan.MaxPhones ? n : null;
        return value is null ? $"a whole number from 1 to {LoadPlan.MaxPhones}" : null;
    }

    private static string? OptionalSpan(string text, out TimeSpan? value)
    {
        var problem = Span(text, out TimeSpan span);
        value = problem is null ? span : null;
        return problem;
    }

    /// <summary>A time: seconds (30, 0.5), or with a unit (500ms, 30s, 2m, 1h); up to a day.</summary>
    public static string? Span(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var (number, scale) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : (text, 1.0);
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n * scale > 86_400)
        {
            return "a time such as 30, 30s, 500ms, 2m or 1h (at most a day)";
        }

        value = TimeSpan.FromSeconds(n * scale);
        return null;
    }
}

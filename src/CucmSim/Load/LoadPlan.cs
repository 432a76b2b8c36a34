using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Load;

/// <summary>The signalling a phone of the load speaks.</summary>
public enum LoadProtocol
{
    Sccp,
    Sip,
    SipTcp,
    SipTls,

    /// <summary>Even phone indices speak SCCP, odd ones SIP over UDP.</summary>
    Mixed,
}

/// <summary>Where a call goes: to the server, which answers and echoes media, or through it to another phone.</summary>
public enum CallMode
{
    Server,
    PhoneToPhone,
}

/// <summary>
/// Everything that decides what a load run does, before any socket opens. Two runs with the same plan (and
/// seed) make the same phones, from the same addresses, and place the same calls at the same offsets; a shard
/// (<see cref="ShardSpec"/>) takes a fixed share of both.
/// </summary>
public sealed record LoadPlan
{
    public const int MaxPhones = 1_000_000;

    public const int MaxSources = 65_536;

    /// <summary>The server, as an address (the profile names its ports).</summary>
    public required IPAddress Target { get; init; }

    public int Phones { get; init; } = 100;

    public LoadProtocol Protocol { get; init; } = LoadProtocol.Sip;

    /// <summary>Source addresses, in order; empty lets the system choose. Phone i uses <see cref="SourceOf"/>.</summary>
    public IReadOnlyList<IPAddress> Sources { get; init; } = [];

    /// <summary>Registrations started per second.</summary>
    public double RegisterRate { get; init; } = 100;

    /// <summary>Call attempts per second at full rate.</summary>
    public double CallsPerSecond { get; init; } = 10;

    public TimeSpan Hold { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long calls are placed (after the registration phase), ramps included; or null with <see cref="Calls"/>.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>How many calls are placed in all (all shards together); or null with <see cref="Duration"/>.</summary>
    public long? Calls { get; init; }

    public TimeSpan RampUp { get; init; } = TimeSpan.Zero;

    public TimeSpan RampDown { get; init; } = TimeSpan.Zero;

    public CallMode Mode { get; init; } = CallMode.Server;

    /// <summary>
    /// Phone to phone: only phones [0, Callers) place calls, each to its own partner among phones [Callers, Phones),
    /// which only answer (phones on two sides of a firewall, run as two shards, so that every call crosses it).
    /// Null: every phone calls and is called.
    /// </summary>
    public int? Callers { get; init; }

    public bool Media { get; init; } = true;

    /// <summary>The default <see cref="MaxPending"/>.</summary>
    public const int DefaultMaxPending = 1000;

    /// <summary>
    /// Registrations in flight at most in each process (connection or REGISTER sent, the answer not yet in); 0: no cap.
    /// A register rate above what the path carries then slows to the rate of the answers (closed loop) instead of
    /// overflowing the target's accept queue, whose dropped SYNs come back only after the kernel's 1 s and 3 s retries.
    /// </summary>
    public int MaxPending { get; init; } = DefaultMaxPending;

    public int Seed { get; init; } = 1;

    /// <summary>The first directory number: phone i has <c>DirectoryNumberBase + i</c>.</summary>
    public long DirectoryNumberBase { get; init; } = 100_000;

    /// <summary>The number dialled in <see cref="CallMode.Server"/> mode: one no phone registers.</summary>
    public string ServerNumber { get; init; } = "9999";

    /// <summary>
    /// The default <see cref="MacBase"/>: a multiple of 900,000, so that serve's rule for line 1 of SEP&lt;MAC m&gt;
    /// (directory number 100000 + (m mod 900000)) gives SCCP phone i the number <c>DirectoryNumberBase + i</c>, the
    /// number a SIP phone i registers.
    /// </summary>
    public const long DefaultMacBase = 12_293_151L * 900_000; // 0x0A1000023860

    /// <summary>The first MAC address of the SCCP device names (SEP + 12 hex digits): phone i has MacBase + i.</summary>
    public long MacBase { get; init; } = DefaultMacBase;

    /// <summary>The problems that make this plan unusable, in words a user can act on; empty when it is usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Phones is < 1 or > MaxPhones)
        {
            problems.Add($"--phones must be 1..{MaxPhones}");
        }

        if (Sources.Count > MaxSources)
        {
            problems.Add($"--sources names {Sources.Count} addresses; at most {MaxSources}");
        }

        if (!(RegisterRate > 0) || double.IsInfinity(RegisterRate))
        {
            problems.Add("--register-rate must be above 0");
        }

        if (!(CallsPerSecond > 0) || double.IsInfinity(CallsPerSecond))
        {
            problems.Add("--cps must be above 0");
        }

        if (Hold < TimeSpan.Zero || RampUp < TimeSpan.Zero || RampDown < TimeSpan.Zero)
        {
            problems.Add("--hold and the ramps cannot be negative");
        }

        if ((Duration is null) == (Calls is null))
        {
            problems.Add("give one of --duration and --calls");
        }

        if (Duration is { } d && d < RampUp + RampDown)
        {
            problems.Add("--duration must be at least the ramp up plus the ramp down");
        }

        if (MaxPending < 0)
        {
            problems.Add("--max-pending cannot be negative (0: no cap)");
        }

        if (Calls is < 0)
        {
            problems.Add("--calls cannot be negative");
        }

        if (Callers is { } callers)
        {
            if (Mode != CallMode.PhoneToPhone || Protocol == LoadProtocol.Mixed)
            {
                problems.Add("--callers needs --mode phone and one protocol (not mixed)");
            }
            else if (callers < 1 || callers > Phones - callers)
            {
                problems.Add($"--callers must be 1..{Phones / 2} (at most half of the phones: each caller has a partner of its own among the others)");
            }
            else if (callers / CallsPerSecond < Hold.TotalSeconds)
            {
                problems.Add($"{callers} callers cannot hold {CallsPerSecond.ToString(CultureInfo.InvariantCulture)} calls/s for {Hold.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s: give at least {Math.Ceiling(Hold.TotalSeconds * CallsPerSecond).ToString(CultureInfo.InvariantCulture)} callers, or lower --cps or --hold");
            }
        }
        else if (Mode == CallMode.PhoneToPhone)
        {
            foreach (var group in Enum.GetValues<LoadProtocol>().Where(p => p != LoadProtocol.Mixed))
            {
                var size = PhonesOf(group);
                if (size is 1)
                {
                    problems.Add($"phone-to-phone calls need at least two {Name(group)} phones");
                }
            }

            // Each phone is in two calls per cycle of the schedule (once calling, once called): the cycle must
            // outlast a call, or a phone would be asked to call while it still talks.
            var cycle = Phones / CallsPerSecond;
            if (cycle < 2 * Hold.TotalSeconds)
            {
                problems.Add($"{Phones} phones cannot hold {CallsPerSecond.ToString(CultureInfo.InvariantCulture)} calls/s for {Hold.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s phone to phone: give at least {Math.Ceiling(2 * Hold.TotalSeconds * CallsPerSecond).ToString(CultureInfo.InvariantCulture)} phones, or lower --cps or --hold");
            }
        }
        else if (Phones / CallsPerSecond < Hold.TotalSeconds)
        {
            problems.Add($"{Phones} phones cannot hold {CallsPerSecond.ToString(CultureInfo.InvariantCulture)} calls/s for {Hold.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s: give at least {Math.Ceiling(Hold.TotalSeconds * CallsPerSecond).ToString(CultureInfo.InvariantCulture)} phones, or lower --cps or --hold");
        }

        return problems;
    }

    /// <summary>The protocol of phone <paramref name="index"/>.</summary>
    public LoadProtocol ProtocolOf(int index) => Protocol == LoadProtocol.Mixed ? (index % 2 == 0 ? LoadProtocol.Sccp : LoadProtocol.Sip) : Protocol;

    /// <summary>The identity of phone <paramref name="index"/>: a pure function of the plan and the index.</summary>
    public PhoneIdentity Phone(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Phones);
        var mac = (MacBase + index).ToString("X12", CultureInfo.InvariantCulture);
        var dn = (DirectoryNumberBase + index).ToString(CultureInfo.InvariantCulture);
        return new PhoneIdentity(index, ProtocolOf(index), "SEP" + mac, dn, SourceOf(index));
    }

    /// <summary>
    /// The source address of phone <paramref name="index"/>: the phones are laid out on the sources in equal
    /// consecutive blocks (phones [⌈s·N/S⌉, ⌈(s+1)·N/S⌉) use source s), so a share of the sources is a share of
    /// the phones.
    /// </summary>
    public IPAddress? SourceOf(int index)
    {
        if (Sources.Count == 0)
        {
            return null;
        }

        // Source s serves phones [⌈s·N/S⌉, ⌈(s+1)·N/S⌉): ⌈s·N/S⌉ ≤ index exactly when s ≤ index·S/N.
        var s = (int)((long)index * Sources.Count / Phones);
        return Sources[Math.Min(s, Sources.Count - 1)];
    }

    /// <summary>The first phone that uses source <paramref name="source"/>: ⌈source·N/S⌉.</summary>
    public int FirstPhoneOfSource(int source) => (int)(((long)source * Phones + Sources.Count - 1) / Sources.Count);

    /// <summary>How many phones speak <paramref name="protocol"/> (Mixed: all).</summary>
    public int PhonesOf(LoadProtocol protocol) => protocol == LoadProtocol.Mixed
        ? Phones
        : Protocol == LoadProtocol.Mixed
            ? protocol switch { LoadProtocol.Sccp => (Phones + 1) / 2, LoadProtocol.Sip => Phones / 2, _ => 0 }
            : protocol == Protocol ? Phones : 0;

    public static string Name(LoadProtocol protocol) => protocol switch
    {
        LoadProtocol.Sccp => "sccp",
        LoadProtocol.Sip => "sip",
        LoadProtocol.SipTcp => "sip-tcp",
        LoadProtocol.SipTls => "sip-tls",
        _ => "mixed",
    };

    public static bool TryParseProtocol(string text, out LoadProtocol protocol)
    {
        foreach (var p in Enum.GetValues<LoadProtocol>())
        {
            if (string.Equals(Name(p), text, StringComparison.OrdinalIgnoreCase))
            {
                protocol = p;
                return true;
            }
        }

        protocol = default;
        return false;
    }

    /// <summary>
    /// Parses <c>--sources</c>: comma-separated addresses and networks (198.18.16.0/22, or an IPv6 network of at
    /// most 65,536 addresses). A network gives its hosts: without the network and broadcast addresses when IPv4
    /// with a prefix of 30 or shorter.
    /// </summary>
    public static IReadOnlyList<IPAddress> ParseSources(string text, out string? error)
    {
        var result = new List<IPAddress>();
        error = null;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPAddress.TryParse(part, out var single) && !part.Contains('/', StringComparison.Ordinal))
            {
                result.Add(single);
                continue;
            }

            if (!IPNetwork.TryParse(part, out var network))
            {
                error = $"'{part}' is neither an address nor a network such as 198.18.16.0/22";
                return [];
            }

            var bits = network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            var hostBits = bits - network.PrefixLength;
            if (hostBits > 16)
            {
                error = $"'{part}' has more than {MaxSources} addresses";
                return [];
            }

            var count = 1 << hostBits;
            var trimEnds = bits == 32 && network.PrefixLength <= 30;
            var start = network.BaseAddress.GetAddressBytes();
            for (var i = trimEnds ? 1 : 0; i < (trimEnds ? count - 1 : count); i++)
            {
                var bytes = (byte[])start.Clone();
                var carry = i;
                for (var b = bytes.Length - 1; b >= 0 && carry > 0; b--)
                {
                    var sum = bytes[b] + (carry & 0xff);
                    bytes[b] = (byte)sum;
                    carry = (carry >> 8) + (sum >> 8);
                }

                result.Add(new IPAddress(bytes));
            }

            if (result.Count > MaxSources)
            {
                error = $"--sources names more than {MaxSources} addresses";
                return [];
            }
        }

        if (result.Count == 0)
        {
            error = "--sources names no address";
        }

        return result;
    }
}

/// <summary>One phone of the plan. SCCP registers <see cref="DeviceName"/>; SIP registers <see cref="DirectoryNumber"/> as its user.</summary>
public sealed record PhoneIdentity(int Index, LoadProtocol Protocol, string DeviceName, string DirectoryNumber, IPAddress? Source);

/// <summary>
/// A share of a load run: shard <see cref="Index"/> of <see cref="Count"/> (<c>--shard i/n</c>, or the Indexed Job's
/// JOB_COMPLETION_INDEX). Shares are consecutive blocks of phones; when there are at least as many sources as
/// shards, the blocks follow whole sources, so no two shards share a source address. The shares of 0..n-1 add up
/// to every phone exactly once.
/// </summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    public static ShardSpec Whole => new(0, 1);

    public bool IsWhole => Count == 1;

    public override string ToString() => Index.ToString(CultureInfo.InvariantCulture) + "/" + Count.ToString(CultureInfo.InvariantCulture);

    public static bool TryParse(string text, out ShardSpec shard, out string? error)
    {
        shard = Whole;
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0
            || !int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            error = $"--shard '{text}' is not i/n (such as 0/4)";
            return false;
        }

        if (count is < 1 or > 10_000 || index >= count)
        {
            error = $"--shard '{text}': n must be 1..10000 and i below n";
            return false;
        }

        shard = new ShardSpec(index, count);
        return true;
    }

    /// <summary>The phones [Start, End) of this shard.</summary>
    public (int Start, int End) Phones(LoadPlan plan)
    {
        var sources = plan.Sources.Count;
        if (sources >= Count)
        {
            var firstSource = (int)((long)Index * sources / Count);
            var endSource = (int)((long)(Index + 1) * sources / Count);
            return (plan.FirstPhoneOfSource(firstSource), endSource == sources ? plan.Phones : plan.FirstPhoneOfSource(endSource));
        }

        return ((int)((long)Index * plan.Phones / Count), (int)((long)(Index + 1) * plan.Phones / Count));
    }

    public bool Owns(LoadPlan plan, int phone)
    {
        var (start, end) = Phones(plan);
        return phone >= start && phone < end;
    }
}

/// <summary>A registration of the schedule: phone <see cref="Phone"/> starts registering at <see cref="At"/> after the start.</summary>
public readonly record struct RegisterEvent(TimeSpan At, int Phone);

/// <summary>A call of the schedule: the <see cref="Seq"/>th call of the whole run, placed at <see cref="At"/> after the start.</summary>
public readonly record struct CallEvent(long Seq, TimeSpan At, int Caller, int? Callee, string Number, TimeSpan Hold);

/// <summary>
/// The one seeded schedule of a run, computed from the plan alone and split by caller: n shards that each place
/// the calls of their own phones together place exactly the calls of the single-machine run, at the same offsets.
/// Registrations come first, at the register rate; calls follow at the call rate, ramped up and down linearly.
/// </summary>
public sealed class LoadSchedule
{
    private readonly LoadPlan _plan;
    private readonly int[] _order;
    private readonly int[] _partner;
    private readonly double _rate;
    private readonly double _up;
    private readonly double _down;
    private readonly double _span;

    public LoadSchedule(LoadPlan plan)
    {
        _plan = plan;
        var random = new Random(plan.Seed);
        _order = Enumerable.Range(0, plan.Callers ?? plan.Phones).ToArray();
        random.Shuffle(_order);
        _partner = new int[plan.Phones];
        if (plan.Mode == CallMode.PhoneToPhone && plan.Callers is { } callers)
        {
            // Each caller has a partner of its own among the phones that only answer, so each of them is called once a cycle.
            var answerers = Enumerable.Range(callers, plan.Phones - callers).ToArray();
            random.Shuffle(answerers);
            for (var i = 0; i < _order.Length; i++)
            {
                _partner[_order[i]] = answerers[i];
            }
        }
        else if (plan.Mode == CallMode.PhoneToPhone)
        {
            // Partners are fixed pairs-at-a-distance within one protocol: half a group apart in the shuffled order.
            foreach (var group in _order.GroupBy(plan.ProtocolOf))
            {
                var members = group.ToArray();
                for (var i = 0; i < members.Length; i++)
                {
                    _partner[members[i]] = members[(i + Math.Max(1, members.Length / 2)) % members.Length];
                }
            }
        }

        _rate = plan.CallsPerSecond;
        _up = plan.RampUp.TotalSeconds;
        _down = plan.RampDown.TotalSeconds;
        _span = plan.Duration?.TotalSeconds ?? ((plan.Calls ?? 0) / _rate + (_up + _down) / 2);
        TotalCalls = plan.Calls ?? (long)Math.Floor(Cumulative(_span) + 1e-9);
    }

    /// <summary>When the last registration starts: the calls begin here.</summary>
    public TimeSpan RegistrationPhase => TimeSpan.FromSeconds(_plan.Phones / _plan.RegisterRate);

    /// <summary>When the last call is placed, measured from the start of the run.</summary>
    public TimeSpan CallPhaseEnd => RegistrationPhase + TimeSpan.FromSeconds(_span);

    /// <summary>
    /// When the run ends: the call phase over and the last call placed and held. A plan without calls (a
    /// registration and keepalive run) ends with its call phase, not a hold later.
    /// </summary>
    public TimeSpan End => TotalCalls == 0 ? CallPhaseEnd : TimeSpan.FromTicks(Math.Max(CallPhaseEnd.Ticks, (Call(TotalCalls - 1).At + _plan.Hold).Ticks));

    public long TotalCalls { get; }

    /// <summary>The registrations of the phones of <paramref name="shard"/>, in time order.</summary>
    public IEnumerable<RegisterEvent> Registrations(ShardSpec shard)
    {
        var (start, end) = shard.Phones(_plan);
        for (var i = start; i < end; i++)
        {
            yield return new RegisterEvent(TimeSpan.FromSeconds(i / _plan.RegisterRate), i);
        }
    }

    /// <summary>Call number <paramref name="seq"/> of the whole run.</summary>
    public CallEvent Call(long seq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seq);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(seq, TotalCalls);
        var caller = _order[seq % _order.Length];
        int? callee = _plan.Mode == CallMode.PhoneToPhone ? _partner[caller] : null;
        var number = callee is { } c ? _plan.Phone(c).DirectoryNumber : _plan.ServerNumber;
        return new CallEvent(seq, RegistrationPhase + TimeSpan.FromSeconds(InverseCumulative(seq + 0.5)), caller, callee, number, _plan.Hold);
    }

    /// <summary>The calls placed by the phones of <paramref name="shard"/>, in time order.</summary>
    public IEnumerable<CallEvent> Calls(ShardSpec shard)
    {
        var (start, end) = shard.Phones(_plan);
        for (long k = 0; k < TotalCalls; k++)
        {
            var caller = _order[k % _order.Length];
            if (caller >= start && caller < end)
            {
                yield return Call(k);
            }
        }
    }

    // The call rate ramps linearly from 0 to the full rate over the ramp up, holds, and ramps back to 0 over the
    // ramp down that ends the call phase; Cumulative(t) is the number of calls due by t.
    private double Cumulative(double t)
    {
        t = Math.Clamp(t, 0, _span);
        var full = _span - _down;
        var up = _up > 0 ? _rate * Math.Min(t, _up) * Math.Min(t, _up) / (2 * _up) : 0;
        var mid = _rate * Math.Max(0, Math.Min(t, full) - _up);
        var down = 0.0;
        if (t > full && _down > 0)
        {
            var into = t - full;
            down = _rate * into - _rate * into * into / (2 * _down);
        }

        return up + mid + down;
    }

    private double InverseCumulative(double calls)
    {
        // Cumulative is continuous and non-decreasing: bisection is exact enough (1 µs) and simple to trust.
        double lo = 0, hi = Math.Max(_span, calls / _rate + _up + _down);
        for (var i = 0; i < 64 && hi - lo > 1e-7; i++)
        {
            var mid = (lo + hi) / 2;
            if (Cumulative(mid) < calls && mid < _span)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return Math.Min(hi, _span);
    }
}

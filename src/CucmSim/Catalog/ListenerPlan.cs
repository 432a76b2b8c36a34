using System.Globalization;

namespace CucmSim.Catalog;

/// <summary>A socket the serving role binds: one transport, one port, one protocol, the flows it serves.</summary>
public sealed record ListenerSpec(string Id, string Role, Transport Transport, int Port, string Protocol, IReadOnlyList<Flow> Flows)
{
    public static string MakeId(Transport transport, int port) =>
        string.Create(CultureInfo.InvariantCulture, $"{(transport == Transport.Tcp ? "tcp" : "udp")}/{port}");
}

/// <summary>The media ports of the serving role: bound as one pool that echoes and measures RTP.</summary>
public sealed record RtpPoolSpec(string Role, IReadOnlyList<PortRange> Ranges, IReadOnlyList<Flow> Flows)
{
    public int Count => Ranges.Sum(r => r.Count);

    /// <summary>Ports of the media ranges that fixed listeners hold, so the pool leaves them out.</summary>
    public IReadOnlyList<int> Yielded { get; init; } = [];

    public string Id => "rtp/" + string.Join(",", Ranges);
}

/// <summary>Selects flows by table, protocol or flow id: "6", "table:6", "sip", "protocol:sip", "t6.sccp", "flow:t6.sccp".</summary>
public sealed class FlowFilter
{
    private readonly List<Func<Flow, bool>> _only = [];
    private readonly List<Func<Flow, bool>> _except = [];

    public static FlowFilter All { get; } = new();

    public bool Includes(Flow flow) =>
        (_only.Count == 0 || _only.Any(p => p(flow))) && !_except.Any(p => p(flow));

    /// <summary>The flows both filters include.</summary>
    public FlowFilter And(FlowFilter other)
    {
        var both = new FlowFilter();
        both._only.Add(f => Includes(f) && other.Includes(f));
        return both;
    }

    public static FlowFilter Parse(Profile profile, IEnumerable<string> only, IEnumerable<string> except, List<string> errors)
    {
        var filter = new FlowFilter();
        foreach (var token in only.SelectMany(Split))
        {
            if (ParseSelector(profile, token, errors) is { } p)
            {
                filter._only.Add(p);
            }
        }

        foreach (var token in except.SelectMany(Split))
        {
            if (ParseSelector(profile, token, errors) is { } p)
            {
                filter._except.Add(p);
            }
        }

        return filter;
    }

    private static IEnumerable<string> Split(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static Func<Flow, bool>? ParseSelector(Profile profile, string token, List<string> errors)
    {
        var colon = token.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? null : token[..colon].ToLowerInvariant();
        var value = colon < 0 ? token : token[(colon + 1)..];

        if ((kind is null or "table") && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var table))
        {
            if (profile.Flows.Any(f => f.Table == table))
            {
                return f => f.Table == table;
            }

            errors.Add($"selector '{token}': no flows in table {table}");
            return null;
        }

        if (kind is null or "protocol" && ProtocolCatalog.TryGet(value, out _))
        {
            return f => f.Protocol == value;
        }

        if (kind is null or "flow" && profile.Flows.Any(f => f.Id == value))
        {
            return f => f.Id == value;
        }

        errors.Add(kind switch
        {
            "table" => $"selector '{token}': '{value}' is not a table number",
            "protocol" => $"selector '{token}': unknown protocol '{value}'",
            "flow" => $"selector '{token}': unknown flow '{value}'",
            null => $"selector '{token}': not a table number, a protocol or a flow id of profile '{profile.Name}'",
            _ => $"selector '{token}': kind '{kind}' is not table, protocol or flow",
        });
        return null;
    }
}

/// <summary>What a role binds: its listeners (one per port and transport) and its RTP pool.</summary>
public sealed class ListenerPlan
{
    private ListenerPlan(string role, IReadOnlyList<ListenerSpec> listeners, RtpPoolSpec? rtp)
    {
        Role = role;
        Listeners = listeners;
        Rtp = rtp;
    }

    public string Role { get; }

    public IReadOnlyList<ListenerSpec> Listeners { get; }

    public RtpPoolSpec? Rtp { get; }

    public int TcpCount => Listeners.Count(l => l.Transport == Transport.Tcp);

    public int UdpCount => Listeners.Count(l => l.Transport == Transport.Udp);

    public static ListenerPlan Build(Profile profile, string role, FlowFilter? filter = null)
    {
        if (!profile.Roles.ContainsKey(role))
        {
            throw new ArgumentException($"profile '{profile.Name}' has no role '{role}' (roles: {string.Join(", ", profile.Roles.Keys)})", nameof(role));
        }

        filter ??= FlowFilter.All;
        var flows = profile.Flows.Where(f => f.To == role && f.IsBindable && filter.Includes(f)).ToList();

        var byKey = new SortedDictionary<(int Port, Transport Transport), (string Protocol, List<Flow> Flows)>();
        var rtpFlows = new List<Flow>();
        var rtpRanges = new List<PortRange>();
        foreach (var flow in flows)
        {
            if (flow.Protocol == "rtp")
            {
                rtpFlows.Add(flow);
                rtpRanges.AddRange(flow.Ports.Ranges);
                continue;
            }

            foreach (var port in flow.Ports.Ports)
            {
                if (flow.HasTcp)
                {
                    Add(byKey, port, Transport.Tcp, flow);
                }

                if (flow.HasUdp)
                {
                    Add(byKey, port, Transport.Udp, flow);
                }
            }
        }

        var listeners = byKey
            .OrderBy(kv => kv.Key.Transport).ThenBy(kv => kv.Key.Port)
            .Select(kv => new ListenerSpec(ListenerSpec.MakeId(kv.Key.Transport, kv.Key.Port), role, kv.Key.Transport, kv.Key.Port, kv.Value.Protocol, kv.Value.Flows))
            .ToList();

        RtpPoolSpec? rtp = null;
        if (rtpFlows.Count > 0)
        {
            var merged = PortRange.Merge(rtpRanges);

            // An RTP port that a signalling listener already holds stays with that listener.
            var taken = listeners.Where(l => l.Transport == Transport.Udp).Select(l => l.Port).ToHashSet();
            var pool = new List<PortRange>();
            foreach (var range in merged)
            {
                var start = range.Low;
                for (var p = range.Low; p <= range.High + 1; p++)
                {
                    if (p > range.High || taken.Contains(p))
                    {
                        if (p > start)
                        {
                            pool.Add(new PortRange(start, p - 1));
                        }

                        start = p + 1;
                    }
                }
            }

            rtp = new RtpPoolSpec(role, pool, rtpFlows)
            {
                Yielded = taken.Where(p => merged.Any(r => r.Contains(p))).Order().ToArray(),
            };
        }

        return new ListenerPlan(role, listeners, rtp);
    }

    private static void Add(SortedDictionary<(int, Transport), (string Protocol, List<Flow> Flows)> map, int port, Transport transport, Flow flow)
    {
        if (!map.TryGetValue((port, transport), out var entry))
        {
            entry = (flow.Protocol, []);
            map[(port, transport)] = entry;
        }

        entry.Flows.Add(flow);
    }
}

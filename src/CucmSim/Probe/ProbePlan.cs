using System.Globalization;
using CucmSim.Catalog;

namespace CucmSim.Probe;

/// <summary>One port of a flow to probe: its transport, its port in the profile and the port dialled (with the offset).</summary>
public sealed record ProbeTarget(Transport Transport, int Port, int Dial)
{
    public string Listener => ListenerSpec.MakeId(Transport, Port);
}

/// <summary>A flow to run: the ports to probe, the RTP sample, or why it is skipped.</summary>
public sealed record PlannedFlow(Flow Flow, IReadOnlyList<ProbeTarget> Targets, string? SkipReason)
{
    public bool IsRtp => Flow.Protocol == "rtp";

    /// <summary>What the probe does on each port, in words (the plan and the reports).</summary>
    public string Exchange => SkipReason is not null ? "skipped: " + SkipReason : Exchanges.Describe(Flow.Protocol, Targets.Count);
}

/// <summary>
/// The flows a probe runs: every flow of the profile whose sender is the probe's role and whose listener is the
/// target role, narrowed by --only and --except, with the ports the target role's listener plan binds.
/// </summary>
public sealed class ProbePlan
{
    private ProbePlan(IReadOnlyList<PlannedFlow> flows) => Flows = flows;

    public IReadOnlyList<PlannedFlow> Flows { get; }

    public int TargetCount => Flows.Sum(f => f.Targets.Count);

    public static ProbePlan Build(Profile profile, string role, string targetRole, FlowFilter filter, int portOffset, int? rtpSample)
    {
        foreach (var r in new[] { role, targetRole })
        {
            if (!profile.Roles.ContainsKey(r))
            {
                throw new ArgumentException($"profile '{profile.Name}' has no role '{r}' (roles: {string.Join(", ", profile.Roles.Keys)})");
            }
        }

        var listeners = ListenerPlan.Build(profile, targetRole, filter);
        var flows = new List<PlannedFlow>();
        foreach (var flow in profile.Flows.Where(f => f.From == role && f.To == targetRole && filter.Includes(f)).OrderBy(f => f.Table).ThenBy(f => f.Row))
        {
            if (flow.Transport == Transport.Ip)
            {
                flows.Add(new PlannedFlow(flow, [], "an IP protocol, not a port: the probe sends TCP and UDP only"));
                continue;
            }

            if (flow.Ports.IsEphemeral)
            {
                flows.Add(new PlannedFlow(flow, [], "ephemeral ports: the listener picks them per session, nothing fixed to probe"));
                continue;
            }

            if (flow.Protocol == "rtp")
            {
                var pool = listeners.Rtp?.Ranges.SelectMany(r => Enumerable.Range(r.Low, r.Count)).Where(p => flow.Ports.Ranges.Any(r => r.Contains(p))).ToArray() ?? [];
                var sample = Sample(pool, rtpSample);
                flows.Add(new PlannedFlow(flow, sample.Select(p => new ProbeTarget(Transport.Udp, p, p + portOffset)).ToArray(),
                    sample.Count == 0 ? "no port of the range is in the target's media pool" : null));
                continue;
            }

            var targets = new List<ProbeTarget>();
            foreach (var port in flow.Ports.Ports)
            {
                if (flow.HasUdp)
                {
                    targets.Add(new ProbeTarget(Transport.Udp, port, port + portOffset));
                }

                if (flow.HasTcp)
                {
                    targets.Add(new ProbeTarget(Transport.Tcp, port, port + portOffset));
                }
            }

            var tooHigh = targets.FirstOrDefault(t => t.Dial > 65535);
            flows.Add(tooHigh is null
                ? new PlannedFlow(flow, targets, null)
                : new PlannedFlow(flow, [], string.Create(CultureInfo.InvariantCulture, $"port {tooHigh.Port} plus the offset is past 65535")));
        }

        return new ProbePlan(flows);
    }

    /// <summary>N ports spread evenly over the pool, the first and the last included; all of them for null.</summary>
    public static IReadOnlyList<int> Sample(IReadOnlyList<int> pool, int? count)
    {
        if (count is not { } n || n >= pool.Count)
        {
            return pool;
        }

        if (n <= 0)
        {
            return [];
        }

        if (n == 1)
        {
            return [pool[0]];
        }

        var result = new SortedSet<int>();
        for (var i = 0; i < n; i++)
        {
            result.Add(pool[(int)((long)i * (pool.Count - 1) / (n - 1))]);
        }

        return [.. result];
    }

    /// <summary>Titles of the port guide's tables (the embedded cucm profile follows its numbering).</summary>
    public static string TableTitle(int table) => table switch
    {
        1 => "Table 1: intracluster ports between CUCM nodes",
        2 => "Table 2: common service ports",
        3 => "Table 3: CUCM and the LDAP directory",
        4 => "Table 4: web requests from CCMAdmin or CCMUser to CUCM",
        5 => "Table 5: web requests from CUCM to phones",
        6 => "Table 6: phones and CUCM",
        7 => "Table 7: gateways and CUCM",
        8 => "Table 8: applications and CUCM",
        9 => "Table 9: the CTL client and firewalls",
        10 => "Table 10: Smart Licensing and CSSM",
        11 => "Table 11: special ports on HP servers",
        _ => string.Create(CultureInfo.InvariantCulture, $"Table {table}"),
    };
}

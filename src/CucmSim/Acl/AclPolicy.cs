using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;

namespace CucmSim.Acl;

/// <summary>The firewall syntaxes <c>cucmsim acl</c> writes.</summary>
public enum AclFormat
{
    Asa,
    Ios,
    Nftables,
    Iptables,
}

/// <summary>What an entry of the policy is.</summary>
public enum AclEntryKind
{
    /// <summary>Traffic from the sender to the listener's fixed ports (or IP protocols).</summary>
    Permit,

    /// <summary>A flow toward ports the listener picks (ephemeral): an open range, unless inspection is asked for instead.</summary>
    EphemeralRange,

    /// <summary>
    /// The secondary channel a flow opens back toward the sender (TFTP's data from a fresh port): a range opened back,
    /// unless inspection is asked for instead.
    /// </summary>
    SecondaryHole,
}

/// <summary>
/// One permit of the policy. <see cref="Protocol"/> is "tcp", "udp" or an IP protocol number; <see cref="Ports"/> are
/// destination ports (empty for IP protocols, whose numbers are in <see cref="IpProtocols"/>).
/// <see cref="Reversed"/> entries go from the listener back to the sender.
/// </summary>
public sealed record AclEntry(Flow Flow, AclEntryKind Kind, string Protocol, IReadOnlyList<PortRange> Ports, IReadOnlyList<int> IpProtocols, bool Reversed)
{
    /// <summary>False when the entry is written as a comment only: --no-ephemeral-holes, or inspection makes it needless.</summary>
    public bool Emitted { get; init; } = true;

    /// <summary>Why an entry is a comment only, or what it needs; null for plain permits.</summary>
    public string? Advice { get; init; }

    /// <summary>The comment every rule carries: flow id, the guide's table and row, and what the flow is.</summary>
    public string Comment
    {
        get
        {
            var what = Kind switch
            {
                AclEntryKind.SecondaryHole => $"{Flow.Id} table {Flow.Table} row {Flow.Row}: secondary channel ({Flow.Then}) of {Flow.Protocol}",
                _ => $"{Flow.Id} table {Flow.Table} row {Flow.Row}: {Flow.Purpose}",
            };
            return Clean(what);
        }
    }

    /// <summary>Comments must survive every syntax: printable ASCII without quotes, shortened to fit ASA's remark.</summary>
    private static string Clean(string text)
    {
        var chars = text.Select(c => c is >= ' ' and <= '~' && c != '"' && c != '\'' && c != '\\' ? c : ' ').ToArray();
        var clean = string.Join(' ', new string(chars).Split(' ', StringSplitOptions.RemoveEmptyEntries));
        return clean.Length <= AclPolicy.MaxComment ? clean : clean[..(AclPolicy.MaxComment - 3)].TrimEnd() + "...";
    }
}

/// <summary>An inspection (ASA), zone-based inspection class (IOS) or conntrack helper (nftables, iptables) a flow needs.</summary>
public sealed record AclInspection(string Protocol, string Asa, string? Ios, string? ConntrackHelper, string HelperProtocol, IReadOnlyList<PortRange> Ports, IReadOnlyList<string> FlowIds);

/// <summary>
/// The profile's flows from one role to another as a firewall policy, independent of syntax: one entry per flow and
/// transport, the secondary channels they open, and the inspections that make those channels work.
/// </summary>
public sealed class AclPolicy
{
    /// <summary>ASA's remark is at most 100 characters; nftables comments at most 128.</summary>
    public const int MaxComment = 100;

    /// <summary>Where a listener's ephemeral ports are when its role names no range (the Linux and CUCM default lies within).</summary>
    public static readonly PortRange DefaultEphemeral = new(1024, 65535);

    private AclPolicy(string from, string to, IReadOnlyList<AclEntry> entries, IReadOnlyList<AclInspection> inspections, IReadOnlyList<IPNetwork> fromNets, IReadOnlyList<IPNetwork> toNets, AclOptions options)
    {
        From = from;
        To = to;
        Entries = entries;
        Inspections = inspections;
        FromNetworks = fromNets;
        ToNetworks = toNets;
        Options = options;
    }

    public string From { get; }

    public string To { get; }

    public IReadOnlyList<AclEntry> Entries { get; }

    /// <summary>The inspections the flows need, emitted only with <see cref="AclOptions.Inspect"/>.</summary>
    public IReadOnlyList<AclInspection> Inspections { get; }

    /// <summary>The sender's networks; empty means any.</summary>
    public IReadOnlyList<IPNetwork> FromNetworks { get; }

    /// <summary>The listener's networks; empty means any.</summary>
    public IReadOnlyList<IPNetwork> ToNetworks { get; }

    public AclOptions Options { get; }

    /// <summary>A name for the access list: CUCMSIM-PHONE-TO-CUCM.</summary>
    public string Name => Options.Name ?? $"CUCMSIM-{From.ToUpperInvariant()}-TO-{To.ToUpperInvariant()}";

    public static AclPolicy Build(Profile profile, AclOptions options, List<string> errors)
    {
        foreach (var r in new[] { options.From, options.To })
        {
            if (!profile.Roles.ContainsKey(r))
            {
                errors.Add($"profile '{profile.Name}' has no role '{r}' (roles: {string.Join(", ", profile.Roles.Keys)})");
            }
        }

        var networks = options.Addresses.Keys.Order(StringComparer.Ordinal).ToDictionary(role => role, role => Networks(options, role, errors));
        foreach (var role in options.Addresses.Keys.Where(k => !profile.Roles.ContainsKey(k)))
        {
            errors.Add($"--addresses: profile '{profile.Name}' has no role '{role}'");
        }

        var fromNets = networks.GetValueOrDefault(options.From) ?? [];
        var toNets = networks.GetValueOrDefault(options.To) ?? [];

        var entries = new List<AclEntry>();
        var flows = profile.Flows.Where(f => f.From == options.From && f.To == options.To && options.Filter.Includes(f))
            .OrderBy(f => f.Table).ThenBy(f => f.Row).ThenBy(f => f.Id, StringComparer.Ordinal).ToList();
        foreach (var flow in flows)
        {
            if (flow.Transport == Transport.Ip)
            {
                entries.Add(new AclEntry(flow, AclEntryKind.Permit, "ip", [], [.. flow.Ports.Ports], false));
                continue;
            }

            var ephemeral = flow.Ports.IsEphemeral;
            IReadOnlyList<PortRange> ports = ephemeral
                ? [flow.Ports.Ranges.Count > 0 ? flow.Ports.Ranges[0] : profile.Roles.GetValueOrDefault(flow.To)?.Ephemeral ?? DefaultEphemeral]
                : [.. flow.Ports.Ranges.Select(r => Offset(r, options.PortOffset, errors, flow))];
            var inspection = InspectionFor(flow.Protocol, flow.HasUdp ? "udp" : "tcp");
            foreach (var protocol in Protocols(flow))
            {
                var entry = new AclEntry(flow, ephemeral ? AclEntryKind.EphemeralRange : AclEntryKind.Permit, protocol, ports, [], false);
                if (ephemeral && options.NoEphemeralHoles)
                {
                    entry = entry with
                    {
                        Emitted = false,
                        Advice = inspection is null
                            ? $"ports {ports[0]} are chosen per session: no inspection opens them; left closed (--no-ephemeral-holes)"
                            : $"ports chosen per session: left closed; {Needs(inspection)} opens them",
                    };
                }
                else if (ephemeral)
                {
                    entry = entry with { Advice = inspection is null ? "ports chosen per session: an open range" : $"ports chosen per session: an open range; {Needs(inspection)} would open only what is used" };
                }

                entries.Add(entry);
            }

            // A secondary channel back toward the sender, from a port the listener picks: TFTP's data.
            if (flow.Then is not null && flow.Protocol == "tftp")
            {
                var back = profile.Roles.GetValueOrDefault(flow.From)?.Ephemeral ?? DefaultEphemeral;
                var hole = new AclEntry(flow, AclEntryKind.SecondaryHole, "udp", [back], [], Reversed: true);
                entries.Add(options.Inspect || options.NoEphemeralHoles
                    ? hole with
                    {
                        Emitted = false,
                        Advice = options.Inspect
                            ? $"opened per transfer by {Needs(inspection!)}"
                            : $"left closed (--no-ephemeral-holes): {Needs(inspection!)} opens the data channel per transfer",
                    }
                    : hole with { Advice = $"the data channel from a fresh server port: an open range back; {Needs(inspection!)} would open only what is used" });
            }
        }

        // One inspection per engine and transport: SIP over UDP and over TCP each need their conntrack helper.
        var inspections = flows
            .Where(f => f.Transport != Transport.Ip && !f.Ports.IsEphemeral)
            .SelectMany(f => Protocols(f).Select(p => (Flow: f, Inspection: InspectionFor(f.Protocol, p))))
            .Where(x => x.Inspection is not null)
            .GroupBy(x => (x.Inspection!.Asa, x.Inspection.HelperProtocol))
            .Select(g =>
            {
                var first = g.First().Inspection!;
                var ports = g.SelectMany(x => x.Flow.Ports.Ranges.Select(r => Offset(r, options.PortOffset, null, x.Flow))).Distinct().OrderBy(r => r.Low).ToList();
                return first with { Ports = ports, FlowIds = [.. g.Select(x => x.Flow.Id).Distinct()] };
            })
            .OrderBy(i => i.Asa, StringComparer.Ordinal).ThenBy(i => i.HelperProtocol, StringComparer.Ordinal)
            .ToList();

        return new AclPolicy(options.From, options.To, entries, inspections, fromNets, toNets, options);
    }

    private static string Needs(AclInspection inspection) =>
        inspection.ConntrackHelper is { } helper ? $"'{inspection.Asa}' (ASA) or the '{helper}' conntrack helper" : $"'{inspection.Asa}' (ASA)";

    private static IEnumerable<string> Protocols(Flow flow)
    {
        if (flow.HasTcp)
        {
            yield return "tcp";
        }

        if (flow.HasUdp)
        {
            yield return "udp";
        }
    }

    private static PortRange Offset(PortRange range, int offset, List<string>? errors, Flow flow)
    {
        if (offset == 0)
        {
            return range;
        }

        if (range.High + offset > 65535)
        {
            errors?.Add(string.Create(CultureInfo.InvariantCulture, $"{flow.Id}: port {range} plus the offset {offset} is past 65535"));
            return range;
        }

        return new PortRange(range.Low + offset, range.High + offset);
    }

    private static List<IPNetwork> Networks(AclOptions options, string role, List<string> errors)
    {
        var result = new List<IPNetwork>();
        foreach (var text in options.Addresses.GetValueOrDefault(role) ?? [])
        {
            if (IPNetwork.TryParse(text, out var net))
            {
                result.Add(net);
            }
            else if (IPAddress.TryParse(text, out var address))
            {
                result.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                errors.Add($"--addresses {role}={text}: not an address or a CIDR with its host bits clear (10.1.0.0/16, 10.0.0.5)");
            }
        }

        return result;
    }

    /// <summary>
    /// The inspection that follows a protocol's secondary channels (over <paramref name="transport"/>, "tcp" or "udp"),
    /// by protocol id: ASA's engine, IOS's zone-based match protocol and Linux's conntrack helper (null where Linux has
    /// none for that transport). Null when no inspection opens channels for the protocol.
    /// </summary>
    public static AclInspection? InspectionFor(string protocol, string transport = "udp") => (protocol, transport) switch
    {
        ("sccp", _) => new(protocol, "inspect skinny", "skinny", null, "tcp", [], []),
        ("sip", "tcp") => new(protocol, "inspect sip", "sip", "sip", "tcp", [], []),
        ("sip", _) => new(protocol, "inspect sip", "sip", "sip", "udp", [], []),
        ("tftp", _) => new(protocol, "inspect tftp", "tftp", "tftp", "udp", [], []),
        ("h225" or "h245", _) => new(protocol, "inspect h323 h225", "h323", "Q.931", "tcp", [], []),
        ("h225-ras", _) => new(protocol, "inspect h323 ras", "h323", "RAS", "udp", [], []),
        ("mgcp", _) => new(protocol, "inspect mgcp", null, null, "udp", [], []),
        _ => null,
    };
}

/// <summary>What <c>cucmsim acl</c> was asked for.</summary>
public sealed record AclOptions(string From, string To, AclFormat Format)
{
    /// <summary>Networks per role (role to CIDRs or addresses); a role without any is "any".</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Addresses { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    public FlowFilter Filter { get; init; } = FlowFilter.All;

    /// <summary>Add the inspections or conntrack helpers that open secondary channels, instead of open ranges.</summary>
    public bool Inspect { get; init; }

    /// <summary>Open no range for ports chosen per session: say where inspection is needed instead.</summary>
    public bool NoEphemeralHoles { get; init; }

    /// <summary>A counter on every nftables rule (iptables counts always), so that hits can be read back.</summary>
    public bool Counters { get; init; }

    /// <summary>The offset a serve was started with (labs on shared hosts).</summary>
    public int PortOffset { get; init; }

    /// <summary>The access list's (or nftables table's) name; null for CUCMSIM-FROM-TO.</summary>
    public string? Name { get; init; }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Catalog;

namespace CucmSim.Acl;

/// <summary>
/// Writes an <see cref="AclPolicy"/> in one syntax. The output is deterministic (same profile and options, same
/// bytes), every rule carries its flow id with the guide's table and row, and what is left out says why.
/// </summary>
public static class AclWriters
{
    public static string Write(AclPolicy policy, string profileName) => policy.Options.Format switch
    {
        AclFormat.Nftables => Nftables(policy, profileName),
        AclFormat.Iptables => Iptables(policy, profileName),
        AclFormat.Asa => Asa(policy, profileName),
        AclFormat.Ios => Ios(policy, profileName),
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    /// <summary>Formats that cannot carry an address family say so before anything is written.</summary>
    public static void Check(AclPolicy policy, List<string> errors)
    {
        var families = policy.FromNetworks.Concat(policy.ToNetworks).Select(n => n.BaseAddress.AddressFamily).Distinct().ToList();
        if (policy.Options.Format is AclFormat.Iptables or AclFormat.Ios && families.Contains(AddressFamily.InterNetworkV6))
        {
            errors.Add($"--format {policy.Options.Format.ToString().ToLowerInvariant()} writes IPv4 rules; give IPv4 networks, or use nftables or asa for IPv6");
        }

        if (Families(policy).Count == 0)
        {
            errors.Add("--addresses: the two roles have no address family in common");
        }
    }

    private static string Header(AclPolicy policy, string profileName, string commentPrefix)
    {
        var b = new StringBuilder();
        var emitted = policy.Entries.Count(e => e.Emitted);
        var flows = policy.Entries.Select(e => e.Flow.Id).Distinct().Count();
        b.Append(commentPrefix).Append(CultureInfo.InvariantCulture, $"cucmsim acl: profile {profileName}, flows from {policy.From} to {policy.To}: {flows} flows, {emitted} rules").Append('\n');
        b.Append(commentPrefix).Append(CultureInfo.InvariantCulture, $"{policy.From}: {Describe(policy.FromNetworks)}; {policy.To}: {Describe(policy.ToNetworks)}").Append('\n');
        if (policy.Options.PortOffset != 0)
        {
            b.Append(commentPrefix).Append(CultureInfo.InvariantCulture, $"ports are the profile's plus {policy.Options.PortOffset} (--port-offset)").Append('\n');
        }

        return b.ToString();
    }

    private static string Describe(IReadOnlyList<IPNetwork> networks) => networks.Count == 0 ? "any" : string.Join(", ", networks.Select(n => n.ToString()));

    /// <summary>The address families rules are written for: both sides any gives one rule without addresses (null).</summary>
    private static List<AddressFamily?> Families(AclPolicy policy)
    {
        if (policy.FromNetworks.Count == 0 && policy.ToNetworks.Count == 0)
        {
            return [null];
        }

        var result = new List<AddressFamily?>();
        foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            bool Fits(IReadOnlyList<IPNetwork> nets) => nets.Count == 0 || nets.Any(n => n.BaseAddress.AddressFamily == family);
            if (Fits(policy.FromNetworks) && Fits(policy.ToNetworks)
                && (policy.FromNetworks.Concat(policy.ToNetworks).Any(n => n.BaseAddress.AddressFamily == family)))
            {
                result.Add(family);
            }
        }

        return result;
    }

    private static string Ports(IReadOnlyList<PortRange> ports, string separator, string rangeSeparator) =>
        string.Join(separator, ports.Select(p => p.Low == p.High ? p.Low.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{p.Low}{rangeSeparator}{p.High}")));

    // ---------------------------------------------------------------- nftables

    private static string Nftables(AclPolicy policy, string profileName)
    {
        var table = (policy.Options.Name ?? $"cucmsim_{policy.From}_to_{policy.To}").Replace('-', '_').ToLowerInvariant();
        var b = new StringBuilder(Header(policy, profileName, "# "));
        b.Append("# load with: nft -f FILE (replaces this table only; other tables are left alone)\n");
        b.Append(CultureInfo.InvariantCulture, $"table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n");
        var helpers = policy.Options.Inspect ? policy.Inspections.Where(i => i.ConntrackHelper is not null).ToList() : [];
        foreach (var inspection in helpers)
        {
            b.Append(CultureInfo.InvariantCulture, $"  ct helper {HelperName(inspection)} {{ type \"{inspection.ConntrackHelper}\" protocol {inspection.HelperProtocol}; l3proto inet; }}\n");
        }

        if (helpers.Count > 0)
        {
            b.Append("\n  chain helpers {\n    type filter hook prerouting priority filter; policy accept;\n");
            foreach (var inspection in helpers)
            {
                foreach (var family in Families(policy))
                {
                    b.Append(CultureInfo.InvariantCulture, $"    {NftAddresses(policy, family, false)}{inspection.HelperProtocol} dport {{ {Ports(inspection.Ports, ", ", "-")} }} ct helper set \"{HelperName(inspection)}\" comment \"{string.Join(" ", inspection.FlowIds)}: {inspection.Asa}\"\n");
                }
            }

            b.Append("  }\n");
        }

        b.Append("\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n");
        var counter = policy.Options.Counters ? " counter" : string.Empty;
        b.Append(CultureInfo.InvariantCulture, $"    ct state established,related{counter} accept comment \"replies, and the channels that conntrack helpers expect\"\n");
        b.Append(CultureInfo.InvariantCulture, $"    ct state invalid{counter} drop\n");
        foreach (var entry in policy.Entries)
        {
            var match = entry.Protocol == "ip"
                ? $"meta l4proto {{ {string.Join(", ", entry.IpProtocols.Select(p => p.ToString(CultureInfo.InvariantCulture)))} }}"
                : $"{entry.Protocol} dport {{ {Ports(entry.Ports, ", ", "-")} }}";
            if (entry.Advice is { } advice)
            {
                b.Append(CultureInfo.InvariantCulture, $"    # {entry.Flow.Id}: {advice}\n");
            }

            foreach (var family in Families(policy))
            {
                var rule = $"{NftAddresses(policy, family, entry.Reversed)}{match}{(policy.Options.Counters ? " counter" : "")} accept comment \"{entry.Comment}\"";
                b.Append(entry.Emitted ? "    " : "    # ").Append(rule).Append('\n');
            }
        }

        b.Append("  }\n}\n");
        return b.ToString();
    }

    private static string HelperName(AclInspection inspection) => $"cucmsim-{inspection.Protocol}-{inspection.HelperProtocol}";

    private static string NftAddresses(AclPolicy policy, AddressFamily? family, bool reversed)
    {
        if (family is null)
        {
            return string.Empty;
        }

        var keyword = family == AddressFamily.InterNetwork ? "ip" : "ip6";
        var (source, destination) = reversed ? (policy.ToNetworks, policy.FromNetworks) : (policy.FromNetworks, policy.ToNetworks);
        var b = new StringBuilder();
        void Side(IReadOnlyList<IPNetwork> nets, string direction)
        {
            var same = nets.Where(n => n.BaseAddress.AddressFamily == family).ToList();
            if (same.Count > 0)
            {
                b.Append(CultureInfo.InvariantCulture, $"{keyword} {direction} {{ {string.Join(", ", same.Select(NftNetwork))} }} ");
            }
        }

        Side(source, "saddr");
        Side(destination, "daddr");
        if (b.Length == 0)
        {
            b.Append("meta nfproto ").Append(family == AddressFamily.InterNetwork ? "ipv4" : "ipv6").Append(' ');
        }

        return b.ToString();
    }

    private static string NftNetwork(IPNetwork network) =>
        network.PrefixLength == (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) ? network.BaseAddress.ToString() : network.ToString();

    // ---------------------------------------------------------------- iptables

    private static string Iptables(AclPolicy policy, string profileName)
    {
        var chain = IptablesChain(policy.Name);
        var b = new StringBuilder(Header(policy, profileName, "# "));
        b.Append("# load with: iptables-restore --noflush FILE, then send the traffic through the chain:\n");
        b.Append(CultureInfo.InvariantCulture, $"#   iptables -A FORWARD -j {chain}   (with the FORWARD policy DROP)\n");
        if (policy.Options.Inspect && policy.Inspections.Any(i => i.ConntrackHelper is not null))
        {
            b.Append("*raw\n");
            foreach (var inspection in policy.Inspections.Where(i => i.ConntrackHelper is not null))
            {
                foreach (var group in Multiport(inspection.Ports))
                {
                    b.Append(CultureInfo.InvariantCulture, $"-A PREROUTING {IptAddresses(policy, false)}-p {inspection.HelperProtocol} -m multiport --dports {group} -m comment --comment \"{string.Join(" ", inspection.FlowIds)}: {inspection.Asa}\" -j CT --helper {inspection.ConntrackHelper}\n");
                }
            }

            b.Append("COMMIT\n");
        }

        b.Append(CultureInfo.InvariantCulture, $"*filter\n:{chain} - [0:0]\n");
        b.Append(CultureInfo.InvariantCulture, $"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment \"replies, and the channels that conntrack helpers expect\" -j ACCEPT\n");
        b.Append(CultureInfo.InvariantCulture, $"-A {chain} -m conntrack --ctstate INVALID -j DROP\n");
        foreach (var entry in policy.Entries)
        {
            if (entry.Advice is { } advice)
            {
                b.Append(CultureInfo.InvariantCulture, $"# {entry.Flow.Id}: {advice}\n");
            }

            var prefix = entry.Emitted ? string.Empty : "# ";
            if (entry.Protocol == "ip")
            {
                foreach (var number in entry.IpProtocols)
                {
                    b.Append(prefix).Append(CultureInfo.InvariantCulture, $"-A {chain} {IptAddresses(policy, entry.Reversed)}-p {number} -m comment --comment \"{entry.Comment}\" -j ACCEPT\n");
                }

                continue;
            }

            foreach (var group in Multiport(entry.Ports))
            {
                b.Append(prefix).Append(CultureInfo.InvariantCulture, $"-A {chain} {IptAddresses(policy, entry.Reversed)}-p {entry.Protocol} -m multiport --dports {group} -m comment --comment \"{entry.Comment}\" -j ACCEPT\n");
            }
        }

        b.Append("COMMIT\n");
        return b.ToString();
    }

    /// <summary>iptables takes chain names under 29 characters: a longer name keeps its start and gets a stable hash.</summary>
    public static string IptablesChain(string name)
    {
        if (name.Length <= 28)
        {
            return name;
        }

        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(name));
        return name[..23].TrimEnd('-') + "-" + Convert.ToHexString(hash, 0, 2);
    }

    /// <summary>multiport takes at most 15 ports, a range counting as two.</summary>
    private static IEnumerable<string> Multiport(IReadOnlyList<PortRange> ports)
    {
        var group = new List<PortRange>();
        var weight = 0;
        foreach (var p in ports)
        {
            var w = p.Low == p.High ? 1 : 2;
            if (weight + w > 15)
            {
                yield return Ports(group, ",", ":");
                group.Clear();
                weight = 0;
            }

            group.Add(p);
            weight += w;
        }

        if (group.Count > 0)
        {
            yield return Ports(group, ",", ":");
        }
    }

    private static string IptAddresses(AclPolicy policy, bool reversed)
    {
        var (source, destination) = reversed ? (policy.ToNetworks, policy.FromNetworks) : (policy.FromNetworks, policy.ToNetworks);
        var b = new StringBuilder();
        if (source.Count > 0)
        {
            b.Append("-s ").Append(string.Join(",", source.Select(NftNetwork))).Append(' ');
        }

        if (destination.Count > 0)
        {
            b.Append("-d ").Append(string.Join(",", destination.Select(NftNetwork))).Append(' ');
        }

        return b.ToString();
    }

    // ---------------------------------------------------------------- Cisco ASA

    private static string Asa(AclPolicy policy, string profileName)
    {
        var b = new StringBuilder(Header(policy, profileName, "! "));
        CiscoLists(b, policy,
            n => n.PrefixLength == (n.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) ? $" network-object host {n.BaseAddress}"
                : n.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? $" network-object {n.BaseAddress} {Mask(n.PrefixLength)}" : $" network-object {n}",
            name => name.EndsWith("-RETURN", StringComparison.Ordinal) ? $"! {name}: for the access group on the {policy.To} side (traffic back toward {policy.From})\n" : string.Empty,
            (name, remark) => $"access-list {name} remark {remark}",
            (name, ace, emitted) => $"{(emitted ? "" : "! ")}access-list {name} extended {ace}");
        if (policy.Options.Inspect && policy.Inspections.Count > 0)
        {
            b.Append("! inspection: opens the secondary channels (TFTP data, media, H.245) per session\n");
            foreach (var inspection in policy.Inspections)
            {
                foreach (var (range, index) in inspection.Ports.Select((r, i) => (r, i)))
                {
                    b.Append(CultureInfo.InvariantCulture, $"class-map {ClassName(policy, inspection, index)}\n match port {inspection.HelperProtocol} {CiscoPort(range)}\n");
                }
            }

            b.Append("policy-map global_policy\n");
            foreach (var inspection in policy.Inspections)
            {
                for (var i = 0; i < inspection.Ports.Count; i++)
                {
                    b.Append(CultureInfo.InvariantCulture, $" class {ClassName(policy, inspection, i)}\n  {inspection.Asa}\n");
                }
            }

            b.Append("service-policy global_policy global\n");
        }

        return b.ToString();
    }

    private static string ClassName(AclPolicy policy, AclInspection inspection, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{policy.Name}-{inspection.Protocol.ToUpperInvariant()}-{inspection.HelperProtocol.ToUpperInvariant()}{(index == 0 ? "" : "-" + (index + 1))}");

    /// <summary>
    /// The object groups of both roles and the access lists (the flows', then the channels back as NAME-RETURN), in
    /// a Cisco dialect given by its line forms: a network object, a list's opening, a remark and an entry.
    /// </summary>
    private static void CiscoLists(StringBuilder b, AclPolicy policy, Func<IPNetwork, string> networkObject, Func<string, string> listHeader,
        Func<string, string, string> remarkLine, Func<string, string, bool, string> aceLine)
    {
        var (fromGroup, toGroup) = ($"CUCMSIM-{policy.From.ToUpperInvariant()}", $"CUCMSIM-{policy.To.ToUpperInvariant()}");
        foreach (var (group, nets) in new[] { (fromGroup, policy.FromNetworks), (toGroup, policy.ToNetworks) })
        {
            if (nets.Count == 0)
            {
                continue;
            }

            b.Append(CultureInfo.InvariantCulture, $"object-group network {group}\n");
            foreach (var n in nets)
            {
                b.Append(networkObject(n)).Append('\n');
            }
        }

        var from = policy.FromNetworks.Count == 0 ? "any" : "object-group " + fromGroup;
        var to = policy.ToNetworks.Count == 0 ? "any" : "object-group " + toGroup;
        foreach (var reversed in new[] { false, true })
        {
            var entries = policy.Entries.Where(e => e.Reversed == reversed).ToList();
            if (entries.Count == 0)
            {
                continue;
            }

            var name = reversed ? policy.Name + "-RETURN" : policy.Name;
            b.Append(listHeader(name));
            string? last = null;
            foreach (var entry in entries)
            {
                if (entry.Flow.Id != last)
                {
                    b.Append(remarkLine(name, entry.Comment)).Append('\n');
                }

                last = entry.Flow.Id;
                if (entry.Advice is { } advice)
                {
                    b.Append(CultureInfo.InvariantCulture, $"! {entry.Flow.Id}: {advice}\n");
                }

                var (src, dst) = reversed ? (to, from) : (from, to);
                foreach (var ace in CiscoAces(entry, src, dst))
                {
                    b.Append(aceLine(name, ace, entry.Emitted)).Append('\n');
                }
            }
        }
    }

    private static IEnumerable<string> CiscoAces(AclEntry entry, string source, string destination)
    {
        if (entry.Protocol == "ip")
        {
            foreach (var number in entry.IpProtocols)
            {
                yield return $"permit {IpProtocolName(number)} {source} {destination}";
            }

            yield break;
        }

        foreach (var range in entry.Ports)
        {
            yield return $"permit {entry.Protocol} {source} {destination} {CiscoPort(range)}";
        }
    }

    private static string CiscoPort(PortRange range) =>
        range.Low == range.High
            ? string.Create(CultureInfo.InvariantCulture, $"eq {range.Low}")
            : string.Create(CultureInfo.InvariantCulture, $"range {range.Low} {range.High}");

    private static string IpProtocolName(int number) => number switch
    {
        1 => "icmp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        _ => number.ToString(CultureInfo.InvariantCulture),
    };

    private static string Mask(int prefix) =>
        new IPAddress(prefix == 0 ? 0u : (uint)IPAddress.HostToNetworkOrder(unchecked((int)(uint.MaxValue << (32 - prefix))))).ToString();

    // ---------------------------------------------------------------- Cisco IOS

    private static string Ios(AclPolicy policy, string profileName)
    {
        var b = new StringBuilder(Header(policy, profileName, "! "));
        CiscoLists(b, policy,
            n => n.PrefixLength == 32 ? $" host {n.BaseAddress}" : $" {n.BaseAddress} {Mask(n.PrefixLength)}",
            name => $"ip access-list extended {name}\n",
            (_, remark) => $" remark {remark}",
            (_, ace, emitted) => $"{(emitted ? " " : "! ")}{ace}");

        var zbf = policy.Options.Inspect ? policy.Inspections.Where(i => i.Ios is not null).Select(i => i.Ios!).Distinct().Order(StringComparer.Ordinal).ToList() : [];
        if (zbf.Count > 0)
        {
            b.Append("! zone-based inspection: attach the policy with a 'zone-pair security' from the ")
                .Append(policy.From).Append(" zone to the ").Append(policy.To).Append(" zone\n");
            b.Append(CultureInfo.InvariantCulture, $"class-map type inspect match-any {policy.Name}-INSPECT\n");
            foreach (var protocol in zbf)
            {
                b.Append(CultureInfo.InvariantCulture, $" match protocol {protocol}\n");
            }

            b.Append(CultureInfo.InvariantCulture, $"class-map type inspect match-all {policy.Name}-ACL\n match access-group name {policy.Name}\n");
            b.Append(CultureInfo.InvariantCulture, $"policy-map type inspect {policy.Name}-POLICY\n class type inspect {policy.Name}-INSPECT\n  inspect\n class type inspect {policy.Name}-ACL\n  inspect\n class class-default\n  drop log\n");
        }

        return b.ToString();
    }
}

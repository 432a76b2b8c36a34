using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace CucmSim.Tests.Acl;

/// <summary>
/// A small checker of the Cisco ASA and IOS configuration forms that <c>cucmsim acl</c> writes: each line must be one
/// of them, in the block it belongs to, with valid ports, masks and addresses, names defined before use and remarks
/// within the 100 characters both platforms take. It returns every problem with its line.
/// </summary>
internal static partial class CiscoSyntax
{
    private const string Port = @"(?:eq (?<p1>\d+)|range (?<r1>\d+) (?<r2>\d+))";

    public static List<string> CheckAsa(string text)
    {
        var problems = new List<string>();
        var groups = new HashSet<string>(StringComparer.Ordinal);
        var classes = new HashSet<string>(StringComparer.Ordinal);
        var block = "";
        foreach (var (line, number) in Lines(text))
        {
            void Bad(string why) => problems.Add($"line {number}: {why}: {line}");
            Match m;
            if (line.StartsWith('!'))
            {
                continue;
            }

            if ((m = Regex.Match(line, @"^object-group network (?<name>[A-Z0-9-]+)$")).Success)
            {
                groups.Add(m.Groups["name"].Value);
                block = "object-group";
            }
            else if (block == "object-group" && (m = Regex.Match(line, @"^ network-object (?:host (?<host>\S+)|(?<net>[0-9.]+) (?<mask>[0-9.]+)|(?<v6>[0-9a-fA-F:]+/\d+))$")).Success)
            {
                if (m.Groups["host"].Success && !IPAddress.TryParse(m.Groups["host"].Value, out _))
                {
                    Bad("not an address");
                }

                if (m.Groups["net"].Success && !(IPAddress.TryParse(m.Groups["net"].Value, out _) && IsMask(m.Groups["mask"].Value)))
                {
                    Bad("not an address and a contiguous mask");
                }

                if (m.Groups["v6"].Success && !IPNetwork.TryParse(m.Groups["v6"].Value, out _))
                {
                    Bad("not an IPv6 prefix");
                }
            }
            else if ((m = Regex.Match(line, @"^access-list (?<name>[A-Z0-9-]+) remark (?<text>.+)$")).Success)
            {
                block = "";
                if (m.Groups["text"].Value.Length > 100)
                {
                    Bad("remark longer than 100 characters");
                }
            }
            else if ((m = Regex.Match(line, $@"^access-list [A-Z0-9-]+ extended permit (?:(?:tcp|udp) (?<src>any|object-group \S+) (?<dst>any|object-group \S+) {Port}|(?:icmp|gre|esp|ah|\d+) (?<src>any|object-group \S+) (?<dst>any|object-group \S+))$")).Success)
            {
                block = "";
                CheckEnds(m, groups, Bad);
                CheckPorts(m, Bad);
            }
            else if ((m = Regex.Match(line, @"^class-map (?<name>[A-Z0-9-]+)$")).Success)
            {
                classes.Add(m.Groups["name"].Value);
                block = "class-map";
            }
            else if (block == "class-map" && (m = Regex.Match(line, $@"^ match port (?:tcp|udp) {Port}$")).Success)
            {
                CheckPorts(m, Bad);
            }
            else if (line == "policy-map global_policy")
            {
                block = "policy-map";
            }
            else if (block is "policy-map" or "class" && (m = Regex.Match(line, @"^ class (?<name>\S+)$")).Success)
            {
                block = "class";
                if (!classes.Contains(m.Groups["name"].Value))
                {
                    Bad("class-map not defined");
                }
            }
            else if (block == "class" && Regex.IsMatch(line, @"^  inspect (?:skinny|sip|tftp|h323 h225|h323 ras|mgcp|dns|snmp)$"))
            {
            }
            else if (line == "service-policy global_policy global")
            {
                block = "";
            }
            else
            {
                Bad(block.Length == 0 ? "not a form of the ASA configuration" : $"not a line of a {block} block");
            }
        }

        return problems;
    }

    public static List<string> CheckIos(string text)
    {
        var problems = new List<string>();
        var groups = new HashSet<string>(StringComparer.Ordinal);
        var acls = new HashSet<string>(StringComparer.Ordinal);
        var classes = new HashSet<string>(StringComparer.Ordinal);
        var block = "";
        foreach (var (line, number) in Lines(text))
        {
            void Bad(string why) => problems.Add($"line {number}: {why}: {line}");
            Match m;
            if (line.StartsWith('!'))
            {
                continue;
            }

            if ((m = Regex.Match(line, @"^object-group network (?<name>[A-Z0-9-]+)$")).Success)
            {
                groups.Add(m.Groups["name"].Value);
                block = "object-group";
            }
            else if (block == "object-group" && (m = Regex.Match(line, @"^ (?:host (?<host>\S+)|(?<net>[0-9.]+) (?<mask>[0-9.]+))$")).Success)
            {
                if ((m.Groups["host"].Success && !IPAddress.TryParse(m.Groups["host"].Value, out _))
                    || (m.Groups["net"].Success && !(IPAddress.TryParse(m.Groups["net"].Value, out _) && IsMask(m.Groups["mask"].Value))))
                {
                    Bad("not a host, or an address and a contiguous mask");
                }
            }
            else if ((m = Regex.Match(line, @"^ip access-list extended (?<name>[A-Z0-9-]+)$")).Success)
            {
                acls.Add(m.Groups["name"].Value);
                block = "acl";
            }
            else if (block == "acl" && (m = Regex.Match(line, @"^ remark (?<text>.+)$")).Success)
            {
                if (m.Groups["text"].Value.Length > 100)
                {
                    Bad("remark longer than 100 characters");
                }
            }
            else if (block == "acl" && (m = Regex.Match(line, $@"^ permit (?:(?:tcp|udp) (?<src>any|object-group \S+) (?<dst>any|object-group \S+) {Port}|(?:icmp|gre|esp|ah|\d+) (?<src>any|object-group \S+) (?<dst>any|object-group \S+))$")).Success)
            {
                CheckEnds(m, groups, Bad);
                CheckPorts(m, Bad);
            }
            else if ((m = Regex.Match(line, @"^class-map type inspect match-(?:any|all) (?<name>[A-Z0-9-]+)$")).Success)
            {
                classes.Add(m.Groups["name"].Value);
                block = "class-map";
            }
            else if (block == "class-map" && (m = Regex.Match(line, @"^ match (?:protocol (?:sip|skinny|tftp|h323|dns)|access-group name (?<acl>\S+))$")).Success)
            {
                if (m.Groups["acl"].Success && !acls.Contains(m.Groups["acl"].Value))
                {
                    Bad("access list not defined");
                }
            }
            else if (Regex.IsMatch(line, @"^policy-map type inspect [A-Z0-9-]+$"))
            {
                block = "policy-map";
            }
            else if (block is "policy-map" or "class" && (m = Regex.Match(line, @"^ class (?:type inspect (?<name>\S+)|class-default)$")).Success)
            {
                block = "class";
                if (m.Groups["name"].Success && !classes.Contains(m.Groups["name"].Value))
                {
                    Bad("class-map not defined");
                }
            }
            else if (block == "class" && line is "  inspect" or "  drop log" or "  drop" or "  pass")
            {
            }
            else
            {
                Bad(block.Length == 0 ? "not a form of the IOS configuration" : $"not a line of a {block} block");
            }
        }

        return problems;
    }

    private static IEnumerable<(string Line, int Number)> Lines(string text) =>
        text.Split('\n').Select((l, i) => (l, i + 1)).Where(x => x.l.Length > 0);

    private static void CheckEnds(Match m, HashSet<string> groups, Action<string> bad)
    {
        foreach (var end in new[] { m.Groups["src"].Value, m.Groups["dst"].Value })
        {
            if (end.StartsWith("object-group ", StringComparison.Ordinal) && !groups.Contains(end["object-group ".Length..]))
            {
                bad($"object-group {end} not defined");
            }
        }
    }

    private static void CheckPorts(Match m, Action<string> bad)
    {
        static int P(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);
        if (m.Groups["p1"].Success && P(m.Groups["p1"]) is < 1 or > 65535)
        {
            bad("port out of range");
        }

        if (m.Groups["r1"].Success && !(P(m.Groups["r1"]) >= 1 && P(m.Groups["r2"]) <= 65535 && P(m.Groups["r1"]) < P(m.Groups["r2"])))
        {
            bad("range out of order or out of range");
        }
    }

    private static bool IsMask(string text)
    {
        if (!IPAddress.TryParse(text, out var mask) || mask.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return false;
        }

        var bits = (uint)IPAddress.NetworkToHostOrder(BitConverter.ToInt32(mask.GetAddressBytes()));
        return (~bits & (~bits + 1)) == 0;
    }
}

using System.Globalization;
using CucmSim.Catalog;

namespace CucmSim.Probe;

/// <summary>
/// What the firewall policy is meant to do, by selector: one rule a line, "SELECTOR EXPECTED", '#' starts a
/// comment. A selector is a flow id (t6.sccp-tls), a table (6, table:6), a protocol (sip, protocol:sip) or a port
/// (port:2443, tcp/2443, udp/69); EXPECTED is allowed, denied or any verdict name. The last rule that matches a
/// flow wins; a flow no rule matches is expected allowed.
/// </summary>
public sealed class Expectations
{
    private readonly List<(Func<FlowResult, bool> Match, string Expected)> _rules = [];

    public static Expectations AllAllowed { get; } = new();

    public string For(FlowResult flow)
    {
        for (var i = _rules.Count - 1; i >= 0; i--)
        {
            if (_rules[i].Match(flow))
            {
                return _rules[i].Expected;
            }
        }

        return "allowed";
    }

    public static Expectations Parse(string path, string text, Profile profile, List<string> errors)
    {
        var result = new Expectations();
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.Split('#', 2)[0].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            var where = string.Create(CultureInfo.InvariantCulture, $"{path}:{lineNumber}");
            if (parts.Length != 2)
            {
                errors.Add($"{where}: write 'SELECTOR allowed' or 'SELECTOR denied'");
                continue;
            }

            var expected = parts[1].ToLowerInvariant();
            if (expected is not ("allowed" or "denied") && !Verdicts.TryParse(expected, out _))
            {
                errors.Add($"{where}: '{parts[1]}' is not allowed, denied or a verdict name");
                continue;
            }

            if (Selector(parts[0], profile) is { } match)
            {
                result._rules.Add((match, expected));
            }
            else
            {
                errors.Add($"{where}: '{parts[0]}' is not a flow id, table, protocol or port of profile '{profile.Name}'");
            }
        }

        return result;
    }

    private static Func<FlowResult, bool>? Selector(string token, Profile profile)
    {
        var colon = token.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? null : token[..colon].ToLowerInvariant();
        var value = colon < 0 ? token : token[(colon + 1)..];
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (kind is null && slash > 0 && value[..slash] is "tcp" or "udp" && int.TryParse(value[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var tport))
        {
            var transport = value[..slash];
            return f => f.Legs.Any(l => l.Listener == $"{transport}/{tport}") || (f.Transport.Contains(transport, StringComparison.Ordinal) || f.Transport == "both") && HasPort(f, tport);
        }

        if (kind == "port" && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return f => HasPort(f, port);
        }

        if (kind is null or "table" && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var table) && profile.Flows.Any(f => f.Table == table))
        {
            return f => f.Table == table;
        }

        if (kind is null or "protocol" && ProtocolCatalog.TryGet(value, out _))
        {
            return f => f.Protocol == value;
        }

        if (kind is null or "flow" && profile.Flows.Any(f => f.Id == value))
        {
            return f => f.Id == value;
        }

        return null;
    }

    private static bool HasPort(FlowResult flow, int port) =>
        PortSet.TryParse(flow.Ports, 65535, out var set, out _) && set is not null && set.Ranges.Any(r => r.Contains(port));
}

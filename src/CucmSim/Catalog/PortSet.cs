using System.Globalization;

namespace CucmSim.Catalog;

/// <summary>An inclusive range of port (or IP protocol) numbers.</summary>
public readonly record struct PortRange(int Low, int High)
{
    public int Count => High - Low + 1;

    public bool Contains(int port) => port >= Low && port <= High;

    public bool Overlaps(PortRange other) => Low <= other.High && other.Low <= High;

    public override string ToString() => Low == High ? Low.ToString(CultureInfo.InvariantCulture) : $"{Low}-{High}";

    /// <summary>The ranges sorted, overlapping and adjacent ones joined: "8443", "50000-50002" and "50003" give "8443", "50000-50003".</summary>
    public static List<PortRange> Merge(IEnumerable<PortRange> ranges)
    {
        var merged = new List<PortRange>();
        foreach (var r in ranges.OrderBy(r => r.Low))
        {
            if (merged.Count > 0 && r.Low <= merged[^1].High + 1)
            {
                merged[^1] = new PortRange(merged[^1].Low, Math.Max(merged[^1].High, r.High));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    public static bool TryParse(string text, out PortRange range, out string? error)
    {
        range = default;
        error = null;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var lowText = dash < 0 ? text : text[..dash];
        var highText = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(lowText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var low) ||
            !int.TryParse(highText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var high))
        {
            error = $"'{text}' is not a port or a range of ports";
            return false;
        }

        if (high < low)
        {
            error = $"range '{text}' ends before it starts";
            return false;
        }

        range = new PortRange(low, high);
        return true;
    }
}

/// <summary>
/// The ports of a flow: a list of ports and ranges ("514", "1090,1099", "8888-8889"), or ephemeral
/// ("ephemeral", "ephemeral:11000-65535"): chosen by the operating system, modelled but never bound.
/// </summary>
public sealed class PortSet
{
    private PortSet(IReadOnlyList<PortRange> ranges, bool ephemeral, string text)
    {
        Ranges = ranges;
        IsEphemeral = ephemeral;
        Text = text;
    }

    public IReadOnlyList<PortRange> Ranges { get; }

    public bool IsEphemeral { get; }

    public string Text { get; }

    public int Count => Ranges.Sum(r => r.Count);

    public IEnumerable<int> Ports => Ranges.SelectMany(r => Enumerable.Range(r.Low, r.Count));

    public bool IsRange => Ranges.Count > 1 || (Ranges.Count == 1 && Ranges[0].Count > 1);

    public override string ToString() => Text;

    public static PortSet Single(int port) => new([new PortRange(port, port)], false, port.ToString(CultureInfo.InvariantCulture));

    public static PortSet FromRanges(IReadOnlyList<PortRange> ranges) => new(ranges, false, string.Join(",", ranges));

    /// <summary>Parses the text; <paramref name="max"/> is 65535 for ports, 255 for IP protocol numbers.</summary>
    public static bool TryParse(string text, int max, out PortSet? set, out string? error)
    {
        set = null;
        error = null;
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            error = "ports are empty";
            return false;
        }

        if (trimmed.StartsWith("ephemeral", StringComparison.OrdinalIgnoreCase))
        {
            var rest = trimmed["ephemeral".Length..];
            if (rest.Length == 0)
            {
                set = new PortSet([], true, "ephemeral");
                return true;
            }

            if (rest[0] != ':' || !PortRange.TryParse(rest[1..], out var eph, out error))
            {
                error ??= $"'{text}': write 'ephemeral' or 'ephemeral:LOW-HIGH'";
                return false;
            }

            if (eph.Low < 1 || eph.High > max)
            {
                error = $"ephemeral range {eph} is out of range (1-{max})";
                return false;
            }

            set = new PortSet([eph], true, trimmed);
            return true;
        }

        var ranges = new List<PortRange>();
        foreach (var part in trimmed.Split(','))
        {
            if (!PortRange.TryParse(part, out var range, out error))
            {
                return false;
            }

            var min = max == 255 ? 0 : 1;
            if (range.Low < min || range.High > max)
            {
                error = max == 255
                    ? $"IP protocol number {range} is out of range (0-255)"
                    : $"port {range} is out of range (1-65535)";
                return false;
            }

            ranges.Add(range);
        }

        ranges.Sort((a, b) => a.Low.CompareTo(b.Low));
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Overlaps(ranges[i - 1]))
            {
                error = $"'{text}' names port {ranges[i].Low} twice";
                return false;
            }
        }

        set = new PortSet(ranges, false, trimmed);
        return true;
    }
}

using System.Globalization;
using CucmSim.Catalog;

namespace CucmSim.Serve;

/// <summary>
/// Listener ports inside the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default). The
/// kernel hands those ports to outgoing connections and to sockets bound to port 0, of any program; one that holds a
/// listener's port while serve is down (a client connection, even one left in CLOSE_WAIT) makes the next start fail
/// with "address already in use". CUCM's profile has such ports (50000-50004), and --port-offset can move more into
/// the range. Ports listed in net.ipv4.ip_local_reserved_ports are never handed out: serve names the ones to reserve.
/// </summary>
public static class EphemeralPorts
{
    public const string RangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    public const string ReservedFile = "/proc/sys/net/ipv4/ip_local_reserved_ports";

    /// <summary>Longest sysctl text read: a reserved list of a few thousand ranges.</summary>
    public const int MaxText = 64 * 1024;

    /// <summary>ip_local_port_range's "LOW HIGH" (tab or spaces); null when it is not two ports in order.</summary>
    public static PortRange? ParseRange(string? text)
    {
        if (text is null || text.Length > MaxText)
        {
            return null;
        }

        var parts = text.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2 && Port(parts[0]) is { } low && Port(parts[1]) is { } high && low <= high ? new PortRange(low, high) : null;
    }

    /// <summary>ip_local_reserved_ports' "P,P-Q,..." (empty: none), read as a profile's port list; null when any part is not a port or a range of them.</summary>
    public static IReadOnlyList<PortRange>? ParseReserved(string? text)
    {
        if (text is null || text.Length > MaxText)
        {
            return null;
        }

        return text.Trim().Length == 0 ? [] : PortSet.TryParse(text, 65535, out var set, out _) && !set!.IsEphemeral ? set.Ranges : null;
    }

    /// <summary>
    /// The warning for <paramref name="ports"/> (bound listener ports) that lie in <paramref name="range"/> and are not
    /// in <paramref name="reserved"/>, with the sysctl that reserves them (the ones already reserved kept); null when
    /// there are none.
    /// </summary>
    public static string? Warning(IEnumerable<int> ports, PortRange range, IReadOnlyList<PortRange> reserved)
    {
        var exposed = PortRange.Merge(ports.Where(p => range.Contains(p) && !reserved.Any(r => r.Contains(p))).Select(p => new PortRange(p, p)));
        if (exposed.Count == 0)
        {
            return null;
        }

        var count = exposed.Sum(r => r.Count);
        var list = string.Join(",", exposed);
        var keep = string.Join(",", PortRange.Merge(reserved.Concat(exposed)));
        return string.Create(CultureInfo.InvariantCulture,
            $"{count} listener or media port(s) lie in the kernel's ephemeral range {range} ({list}): any program's outgoing connection can take one while serve is down, and serve then cannot bind it. Reserve them: sysctl -w net.ipv4.ip_local_reserved_ports={keep}{(count > 256 ? "; or, as that leaves few ports to outgoing connections, choose a --port-offset that keeps the media out of the range" : string.Empty)}");
    }

    /// <summary>The warning for this host's settings; null when there is nothing to reserve or the settings cannot be read.</summary>
    public static string? WarningForHost(IEnumerable<int> ports)
    {
        var range = ParseRange(Read(RangeFile));
        var reserved = ParseReserved(Read(ReservedFile) ?? string.Empty);
        return range is { } r && reserved is not null ? Warning(ports, r, reserved) : null;
    }

    /// <summary>The fix to add to an "address already in use" for a port in the ephemeral range; null outside it, or when it cannot be read.</summary>
    public static string? BindAdvice(int port) => ParseRange(Read(RangeFile)) is { } range && range.Contains(port)
        ? string.Create(CultureInfo.InvariantCulture, $"the port lies in the ephemeral range {range}, where outgoing connections take their ports: once it is free, reserve it (sysctl -w net.ipv4.ip_local_reserved_ports={port}, keeping the ports already listed there)")
        : null;

    private static int? Port(string text) =>
        text.Length is > 0 and <= 5 && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= 65535 ? p : null;

    private static string? Read(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var buffer = new byte[MaxText + 1];
            var n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return n > MaxText ? null : System.Text.Encoding.ASCII.GetString(buffer, 0, n);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

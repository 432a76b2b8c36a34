using System.Globalization;
using System.Text;

namespace CucmSim.Protocols.Sccp;

/// <summary>
/// The directory numbers the server gives SCCP devices, a pure function of the device name and the line, so
/// that a caller can compute the number of any phone without asking the server.
/// </summary>
public static class SccpDirectory
{
    /// <summary>Numbers are 100000 + (m + line - 1) mod 900000: always six digits.</summary>
    public const int First = 100_000;

    public const int Count = 900_000;

    /// <summary>
    /// The directory number of <paramref name="line"/> (1-based) of <paramref name="deviceName"/>:
    /// 100000 + ((m + line - 1) mod 900000), as decimal text, where m is the 48-bit MAC of a name
    /// "SEP" + 12 hex digits (either case), and for any other name the FNV-1a 64-bit hash of its UTF-8 bytes.
    /// </summary>
    public static string Number(string deviceName, int line)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        ArgumentOutOfRangeException.ThrowIfLessThan(line, 1);
        var m = Key(deviceName);
        // Exact arithmetic: m + line - 1 may exceed 64 bits for a hash.
        var n = ((m % Count) + (ulong)(line - 1)) % Count;
        return (First + (long)n).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>m of <see cref="Number"/>: the MAC of a SEP name, else FNV-1a 64 of the UTF-8 bytes.</summary>
    public static ulong Key(string deviceName)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        if (deviceName.Length == 15 && deviceName.StartsWith("SEP", StringComparison.Ordinal)
            && ulong.TryParse(deviceName.AsSpan(3), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var mac))
        {
            return mac;
        }

        return Fnv1a64(Encoding.UTF8.GetBytes(deviceName));
    }

    /// <summary>FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211).</summary>
    public static ulong Fnv1a64(ReadOnlySpan<byte> bytes)
    {
        var h = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            h ^= b;
            h *= 1099511628211UL;
        }

        return h;
    }
}

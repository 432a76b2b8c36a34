using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Serve.Dhcp;

/// <summary>An inclusive range of IPv4 addresses, as host-order numbers.</summary>
public readonly record struct DhcpPool(uint First, uint Last, uint Mask)
{
    public long Count => (long)Last - First + 1;

    public bool Contains(uint address) => address >= First && address <= Last;

    public static uint ToNumber(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian((address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).GetAddressBytes());

    public static IPAddress ToAddress(uint number)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, number);
        return new IPAddress(bytes);
    }

    public static uint MaskOf(int prefixLength) => prefixLength <= 0 ? 0 : uint.MaxValue << (32 - Math.Min(prefixLength, 32));

    /// <summary>The host addresses of a subnet (network and broadcast left out, a /31 or /32 kept whole).</summary>
    public static DhcpPool OfSubnet(uint address, int prefixLength)
    {
        var mask = MaskOf(prefixLength);
        var network = address & mask;
        var broadcast = network | ~mask;
        return prefixLength >= 31 ? new DhcpPool(network, broadcast, mask) : new DhcpPool(network + 1, broadcast - 1, mask);
    }

    /// <summary>"10.1.2.0/24" (its host addresses) or "10.1.2.100-10.1.2.199" (a /24 mask unless a CIDR says otherwise).</summary>
    public static bool TryParse(string text, out DhcpPool pool, out string? error)
    {
        pool = default;
        error = null;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0)
        {
            if (!IPAddress.TryParse(text[..dash], out var first) || !IPAddress.TryParse(text[(dash + 1)..], out var last) ||
                first.AddressFamily != AddressFamily.InterNetwork || last.AddressFamily != AddressFamily.InterNetwork)
            {
                error = "write FIRST-LAST of IPv4 addresses, or a CIDR such as 10.1.2.0/24";
                return false;
            }

            var (a, b) = (ToNumber(first), ToNumber(last));
            if (b < a)
            {
                error = "the last address is below the first";
                return false;
            }

            var prefix = 24;
            while (prefix > 0 && (a & MaskOf(prefix)) != (b & MaskOf(prefix)))
            {
                prefix--;
            }

            pool = new DhcpPool(a, b, MaskOf(prefix));
            return true;
        }

        if (!IPNetwork.TryParse(text, out var network) || network.BaseAddress.AddressFamily != AddressFamily.InterNetwork || network.PrefixLength < 8)
        {
            error = "write a CIDR of IPv4 (prefix 8 to 32), e.g. 10.1.2.0/24, or FIRST-LAST";
            return false;
        }

        pool = OfSubnet(ToNumber(network.BaseAddress), network.PrefixLength);
        return true;
    }

    public override string ToString() => $"{ToAddress(First)}-{ToAddress(Last)}";
}

/// <summary>
/// serve --dhcp: the DHCP server on 67/udp (off by default: Cisco advises against running it on CUCM). The pool is
/// --dhcp-pool, else the subnet of the interface a request arrived on (of the relay's address, as a /24, for a
/// relayed request), less the node's own address. docs/dhcp.md.
/// </summary>
public sealed record DhcpOptions
{
    public DhcpPool? Pool { get; init; }

    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long an offered address is kept for the client that was offered it before it is free again.</summary>
    public TimeSpan OfferHold { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Addresses considered from a pool or subnet (a /16's worth).</summary>
    public const int MaxPoolSize = 65_534;
}

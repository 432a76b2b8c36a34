using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Clients.Net;

/// <summary>Linux's sockaddr_in and sockaddr_in6, and the few socket calls (getsockname, the DSCP mark) made without the runtime's sockets.</summary>
public static class SockAddr
{
    /// <summary>Bytes enough for either (sizeof(sockaddr_in6)).</summary>
    public const int MaxLength = 28;

    private const ushort Inet = 2;
    private const ushort Inet6 = 10;

    /// <summary>Writes <paramref name="address"/> and <paramref name="port"/> into <paramref name="destination"/> (at least <see cref="MaxLength"/> bytes); returns the length to pass.</summary>
    public static int Write(IPAddress address, int port, Span<byte> destination)
    {
        destination[..MaxLength].Clear();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination, Inet);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)port);
            address.TryWriteBytes(destination[4..8], out _);
            return 16;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, Inet6);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)port);
        address.TryWriteBytes(destination[8..24], out _);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], (uint)address.ScopeId);
        return 28;
    }

    /// <summary>
    /// The local address and port of a socket (getsockname), an IPv4-mapped address as IPv4; null on failure. Unlike
    /// <see cref="System.Net.Sockets.Socket.LocalEndPoint"/>, right for a socket bound or connected by system calls
    /// made without the runtime's sockets.
    /// </summary>
    public static unsafe IPEndPoint? Local(int fd)
    {
        Span<byte> address = stackalloc byte[MaxLength];
        var length = (Tmds.Linux.socklen_t)MaxLength;
        fixed (byte* a = address)
        {
            return Tmds.Linux.LibC.getsockname(fd, (Tmds.Linux.sockaddr*)a, &length) == 0 ? Parse(address[..Math.Min(MaxLength, (int)length)]) : null;
        }
    }

    /// <summary>The address and port of a sockaddr_in or sockaddr_in6 (an IPv4-mapped address as IPv4); null for another family or too few bytes.</summary>
    public static IPEndPoint? Parse(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return null;
        }

        var family = BinaryPrimitives.ReadUInt16LittleEndian(sockaddr);
        if (family == Inet && sockaddr.Length >= 8)
        {
            return new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
        }

        if (family == Inet6 && sockaddr.Length >= 24)
        {
            var address = new IPAddress(sockaddr.Slice(8, 16));
            return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
        }

        return null;
    }

    /// <summary>
    /// Marks what a socket sends with <paramref name="dscp"/> (IP_TOS, or IPV6_TCLASS for an IPv6 socket); false when
    /// the kernel refused (the traffic still goes, unmarked).
    /// </summary>
    public static unsafe bool MarkDscp(int fd, bool ipv6, int dscp)
    {
        var tos = dscp << 2;
        return ipv6
            ? Tmds.Linux.LibC.setsockopt(fd, Tmds.Linux.LibC.IPPROTO_IPV6, Ipv6TrafficClass, &tos, sizeof(int)) == 0
            : Tmds.Linux.LibC.setsockopt(fd, Tmds.Linux.LibC.IPPROTO_IP, IpTos, &tos, sizeof(int)) == 0;
    }

    private const int IpTos = 1;
    private const int Ipv6TrafficClass = 67;
}

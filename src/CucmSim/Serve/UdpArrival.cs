using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static CucmSim.Clients.Net.LinuxMessages;

namespace CucmSim.Serve;

/// <summary>
/// The local address a datagram was sent to, as the kernel reported it (IP_PKTINFO, IPV6_PKTINFO). A reply must
/// leave from it: a host with several addresses otherwise answers from the one its routing table prefers, and a
/// stateful firewall (or the client's own connected socket) drops an answer from an address it never asked.
/// A value type with no allocation; <see cref="IsKnown"/> is false where no address was reported (a socket bound
/// to one address, which needs none).
/// </summary>
public readonly struct ArrivalAddress : IEquatable<ArrivalAddress>
{
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly byte _family; // 0 unknown, 4 IPv4, 6 IPv6 (IPv4 arriving on a dual-stack socket is 6, mapped)

    private ArrivalAddress(ulong high, ulong low, byte family, int interfaceIndex)
    {
        _high = high;
        _low = low;
        _family = family;
        InterfaceIndex = interfaceIndex;
    }

    public bool IsKnown => _family != 0;

    /// <summary>The interface the datagram came in on (needed to answer from an IPv6 link-local address).</summary>
    public int InterfaceIndex { get; }

    /// <summary>IPv4, or IPv4 mapped into IPv6 on a dual-stack socket.</summary>
    public bool IsIPv4 => _family == 4 || (_family == 6 && _high == 0 && (_low >> 32) == 0xFFFF);

    public static ArrivalAddress FromIPv4(ReadOnlySpan<byte> address, int interfaceIndex) =>
        new(0, BinaryPrimitives.ReadUInt32BigEndian(address), 4, interfaceIndex);

    public static ArrivalAddress FromIPv6(ReadOnlySpan<byte> address, int interfaceIndex) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(address), BinaryPrimitives.ReadUInt64BigEndian(address[8..]), 6, interfaceIndex);

    public static ArrivalAddress From(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        return written == 4 ? FromIPv4(bytes[..4], 0) : FromIPv6(bytes, (int)address.ScopeId);
    }

    /// <summary>The address in the socket's own form (IPv4 mapped into IPv6 on a dual-stack socket); null when unknown.</summary>
    public IPAddress? ToSocketAddress()
    {
        if (_family == 0)
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[16];
        var n = WriteBytes(bytes);
        return n == 4 ? new IPAddress(bytes[..4]) : new IPAddress(bytes, IsLinkLocal ? InterfaceIndex : 0);
    }

    /// <summary>The address as people and payloads write it (IPv4 unmapped); null when unknown.</summary>
    public IPAddress? ToIPAddress()
    {
        var address = ToSocketAddress();
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    public bool Equals(ArrivalAddress other) => _high == other._high && _low == other._low && _family == other._family;

    public override bool Equals(object? obj) => obj is ArrivalAddress other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low, _family);

    public static bool operator ==(ArrivalAddress left, ArrivalAddress right) => left.Equals(right);

    public static bool operator !=(ArrivalAddress left, ArrivalAddress right) => !left.Equals(right);

    public override string ToString() => ToIPAddress()?.ToString() ?? "unknown";

    private bool IsLinkLocal => _family == 6 && (_high >> 48) == 0xFE80;

    /// <summary>Writes 4 (IPv4) or 16 bytes in network order; returns how many.</summary>
    internal int WriteBytes(Span<byte> destination)
    {
        if (_family == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)_low);
            return 4;
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
        return 16;
    }

    /// <summary>The last four bytes of a mapped address, or the IPv4 address itself.</summary>
    internal uint IPv4Value => (uint)_low;
}

/// <summary>
/// Receives datagrams with the address they were sent to and sends replies from it (recvmsg and sendmsg with
/// IP_PKTINFO / IPV6_PKTINFO ancillary data). Every UDP path of the server that answers a peer goes through here:
/// the listeners' receive loops, SIP (and its retransmissions), SNMP, the echo, TFTP errors and the RTP pool.
/// </summary>
internal static unsafe partial class UdpArrival
{
    /// <summary>Room for one IPV6_PKTINFO and one IP_PKTINFO control message (CMSG_SPACE 40 + 32).</summary>
    public const int ControlSize = 80;

    private const int SolIp = 0;
    private const int IpPktInfo = 8;
    private const int SolIpv6 = 41;
    private const int Ipv6RecvPktInfo = 49;
    private const int Ipv6PktInfo = 50;
    private const int CmsgHeader = 16; // struct cmsghdr on LP64: size_t len, int level, int type
    private const int EAgain = 11;
    private const int EIntr = 4;

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(SafeSocketHandle fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(SafeSocketHandle fd, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, int* value, uint length);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>Asks the kernel to report each datagram's local address (on a socket bound to a wildcard address).</summary>
    public static bool Enable(Socket socket) => Enable((int)socket.Handle, socket.AddressFamily == AddressFamily.InterNetworkV6);

    /// <summary>The same for a raw descriptor (the RTP pool's sockets).</summary>
    public static bool Enable(int fd, bool v6)
    {
        var on = 1;
        return v6
            ? SetSockOpt(fd, SolIpv6, Ipv6RecvPktInfo, &on, sizeof(int)) == 0
            : SetSockOpt(fd, SolIp, IpPktInfo, &on, sizeof(int)) == 0;
    }

    /// <summary>
    /// A blocking receive: the datagram, its source (written into <paramref name="from"/>) and its local address.
    /// Returns the length, or -1 with <paramref name="error"/> set (the socket was shut down or closed: 0 bytes and
    /// <see cref="SocketError.Shutdown"/>).
    /// </summary>
    public static int Receive(Socket socket, Span<byte> buffer, SocketAddress from, out ArrivalAddress local, out SocketError error)
    {
        var control = stackalloc byte[ControlSize];
        local = default;
        error = SocketError.Success;
        var handle = socket.SafeHandle;
        fixed (byte* data = buffer)
        fixed (byte* name = from.Buffer.Span)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            while (true)
            {
                var message = new MsgHdr
                {
                    Name = name,
                    NameLength = (uint)from.Buffer.Length,
                    Iov = &iov,
                    IovLength = 1,
                    Control = control,
                    ControlLength = ControlSize,
                };
                var n = RecvMsg(handle, &message, 0);
                if (n >= 0)
                {
                    if (n == 0 && message.NameLength == 0)
                    {
                        // A shut-down socket wakes its reader with nothing from nobody.
                        error = SocketError.Shutdown;
                        return -1;
                    }

                    from.Size = (int)message.NameLength;
                    local = Parse(control, message.ControlLength);
                    if ((message.Flags & 0x20) != 0)
                    {
                        // MSG_TRUNC: larger than the buffer.
                        error = SocketError.MessageSize;
                        return -1;
                    }

                    return (int)n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                {
                    continue;
                }

                if (errno == EAgain)
                {
                    // A socket that was once used asynchronously is non-blocking underneath: wait for it here.
                    var poll = new PollFd { Fd = (int)handle.DangerousGetHandle(), Events = 1 };
                    Poll(&poll, 1, 1000);
                    continue;
                }

                error = ErrorOf(errno);
                return -1;
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> to <paramref name="to"/> from <paramref name="local"/> (when known; else as the
    /// kernel chooses). Falls back to a plain send when the kernel refuses the source (an address since removed, a
    /// broadcast address). Returns the bytes sent; throws <see cref="SocketException"/> as Socket.SendTo does.
    /// </summary>
    public static int SendTo(Socket socket, ReadOnlySpan<byte> data, SocketAddress to, in ArrivalAddress local)
    {
        if (!local.IsKnown)
        {
            return socket.SendTo(data, SocketFlags.None, to);
        }

        var control = stackalloc byte[ControlSize];
        var controlLength = WriteControl(control, local, socket.AddressFamily == AddressFamily.InterNetworkV6);
        fixed (byte* payload = data)
        fixed (byte* name = to.Buffer.Span)
        {
            var iov = new IoVec { Base = payload, Length = (nuint)data.Length };
            var message = new MsgHdr { Name = name, NameLength = (uint)to.Size, Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlLength };
            var n = SendMsg(socket.SafeHandle, &message, 0);
            if (n >= 0)
            {
                return (int)n;
            }
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is 22 or 99)
        {
            // EINVAL, EADDRNOTAVAIL: not an address to send from.
            return socket.SendTo(data, SocketFlags.None, to);
        }

        throw new SocketException((int)ErrorOf(errno));
    }

    /// <summary>Writes the control message that makes a reply leave from <paramref name="local"/>; returns its length (0 when unknown).</summary>
    public static int WriteControl(byte* control, in ArrivalAddress local, bool v6Socket)
    {
        if (!local.IsKnown)
        {
            return 0;
        }

        var span = new Span<byte>(control, ControlSize);
        span.Clear();
        if (v6Socket)
        {
            // struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }: 20 bytes, CMSG_SPACE 40. IPv4 goes as
            // the mapped address (the kernel accepts it for IPv4 destinations on a dual-stack socket).
            Span<byte> address = stackalloc byte[16];
            if (local.WriteBytes(address) == 4)
            {
                address[..4].CopyTo(address[12..]);
                address[..10].Clear();
                address[10] = 0xFF;
                address[11] = 0xFF;
            }

            BinaryPrimitives.WriteUInt64LittleEndian(span, CmsgHeader + 20);
            BinaryPrimitives.WriteInt32LittleEndian(span[8..], SolIpv6);
            BinaryPrimitives.WriteInt32LittleEndian(span[12..], Ipv6PktInfo);
            address.CopyTo(span[CmsgHeader..]);
            var linkLocal = address[0] == 0xFE && (address[1] & 0xC0) == 0x80;
            BinaryPrimitives.WriteInt32LittleEndian(span[(CmsgHeader + 16)..], linkLocal ? local.InterfaceIndex : 0);
            return 40;
        }

        // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }: 12 bytes, CMSG_SPACE 32.
        BinaryPrimitives.WriteUInt64LittleEndian(span, CmsgHeader + 12);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], SolIp);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], IpPktInfo);
        BinaryPrimitives.WriteUInt32BigEndian(span[(CmsgHeader + 4)..], local.IPv4Value);
        return 32;
    }

    /// <summary>Reads the local address from received control messages (IP_PKTINFO's local address, else IPV6_PKTINFO's).</summary>
    public static ArrivalAddress Parse(byte* control, nuint length)
    {
        var result = default(ArrivalAddress);
        var span = new ReadOnlySpan<byte>(control, (int)Math.Min(length, (nuint)ControlSize));
        var at = 0;
        while (at + CmsgHeader <= span.Length)
        {
            var declared = BinaryPrimitives.ReadUInt64LittleEndian(span[at..]);
            if (declared < CmsgHeader || declared > (ulong)(span.Length - at))
            {
                // Truncated or nonsense: no address rather than a read past the buffer.
                break;
            }

            var len = (int)declared;

            var level = BinaryPrimitives.ReadInt32LittleEndian(span[(at + 8)..]);
            var type = BinaryPrimitives.ReadInt32LittleEndian(span[(at + 12)..]);
            var data = span.Slice(at + CmsgHeader, len - CmsgHeader);
            if (level == SolIp && type == IpPktInfo && data.Length >= 12)
            {
                // ipi_spec_dst: the local address (an interface's own address even for a broadcast).
                return ArrivalAddress.FromIPv4(data.Slice(4, 4), BinaryPrimitives.ReadInt32LittleEndian(data));
            }

            if (level == SolIpv6 && type == Ipv6PktInfo && data.Length >= 20)
            {
                result = ArrivalAddress.FromIPv6(data[..16], BinaryPrimitives.ReadInt32LittleEndian(data[16..]));
            }

            at += (len + 7) & ~7;
        }

        return result;
    }

    private static SocketError ErrorOf(int errno) => errno switch
    {
        111 => SocketError.ConnectionRefused,
        104 => SocketError.ConnectionReset,
        90 => SocketError.MessageSize,
        9 or 88 => SocketError.OperationAborted,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        105 => SocketError.NoBufferSpaceAvailable,
        1 or 13 => SocketError.AccessDenied,
        _ => SocketError.SocketError,
    };
}

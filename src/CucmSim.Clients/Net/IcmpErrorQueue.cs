using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static CucmSim.Clients.Net.LinuxMessages;

namespace CucmSim.Clients.Net;

/// <summary>
/// An ICMP error the kernel queued for a socket: type, code and the address of the router or firewall that sent
/// it (the offender), plus the destination of the datagram that caused it where the kernel gives one.
/// </summary>
public sealed record IcmpError(int Type, int Code, IPAddress? Offender, IPEndPoint? OriginalDestination, int Errno)
{
    public bool IsV6 => Offender?.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>The RFC name of type and code: "admin-prohibited", "port-unreachable", "host-unreachable" ...</summary>
    public string Name => IcmpErrorQueue.Describe(Type, Code, IsV6);

    public override string ToString() =>
        $"ICMP{(IsV6 ? "v6" : string.Empty)} type {Type} code {Code} ({Name}) from {Offender?.ToString() ?? "unknown"}";
}

/// <summary>
/// Reads ICMP errors from a socket's error queue (IP_RECVERR / IPV6_RECVERR, recvmsg with MSG_ERRQUEUE,
/// struct sock_extended_err). errno alone folds administratively prohibited, host and net unreachable into
/// EHOSTUNREACH and hides who answered; the queue keeps both.
/// </summary>
public static unsafe partial class IcmpErrorQueue
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int IpRecvErr = 11;
    private const int Ipv6RecvErr = 25;
    private const int MsgErrQueue = 0x2000;
    private const int MsgDontWait = 0x40;
    private const byte OriginIcmp = 2;
    private const byte OriginIcmp6 = 3;

    /// <summary>Asks the kernel to queue ICMP errors for this socket. Linux only; elsewhere a no-op that returns false.</summary>
    public static bool Enable(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var on = 1;
        var v6 = socket.AddressFamily == AddressFamily.InterNetworkV6;
        return SetSockOpt((int)socket.Handle, v6 ? SolIpv6 : SolIp, v6 ? Ipv6RecvErr : IpRecvErr, &on, sizeof(int)) == 0;
    }

    /// <summary>Takes every queued ICMP error off the socket (without blocking); empty when there is none.</summary>
    public static IReadOnlyList<IcmpError> Drain(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var result = new List<IcmpError>();
        if (!OperatingSystem.IsLinux())
        {
            return result;
        }

        var fd = (int)socket.Handle;
        var data = stackalloc byte[2048];
        var control = stackalloc byte[512];
        var name = stackalloc byte[128];
        for (var i = 0; i < 64; i++)
        {
            var iov = new IoVec { Base = data, Length = 2048 };
            var header = new MsgHdr { Name = name, NameLength = 128, Iov = &iov, IovLength = 1, Control = control, ControlLength = 512 };
            var n = RecvMsg(fd, &header, MsgErrQueue | MsgDontWait);
            if (n < 0)
            {
                break;
            }

            var destination = SockAddr.Parse(new ReadOnlySpan<byte>(name, (int)header.NameLength));
            var controlSpan = new ReadOnlySpan<byte>(control, (int)header.ControlLength);
            if (ParseControl(controlSpan, destination) is { } error)
            {
                result.Add(error);
            }
        }

        return result;
    }

    /// <summary>Parses the control messages of one MSG_ERRQUEUE read (struct cmsghdr of LP64 Linux, then sock_extended_err).</summary>
    public static IcmpError? ParseControl(ReadOnlySpan<byte> control, IPEndPoint? destination)
    {
        var offset = 0;
        while (offset + 16 <= control.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(control[offset..]);
            var level = BinaryPrimitives.ReadInt32LittleEndian(control[(offset + 8)..]);
            var type = BinaryPrimitives.ReadInt32LittleEndian(control[(offset + 12)..]);
            if (length < 16 || offset + length > control.Length)
            {
                break;
            }

            var body = control.Slice(offset + 16, length - 16);
            if (((level == SolIp && type == IpRecvErr) || (level == SolIpv6 && type == Ipv6RecvErr)) && body.Length >= 16)
            {
                var errno = BinaryPrimitives.ReadInt32LittleEndian(body);
                var origin = body[4];
                if (origin is OriginIcmp or OriginIcmp6)
                {
                    var offender = SockAddr.Parse(body[16..])?.Address;
                    return new IcmpError(body[5], body[6], offender, destination, errno);
                }
            }

            offset += (length + 7) & ~7;
        }

        return null;
    }

    /// <summary>The name of an ICMP (RFC 792, 1812) or ICMPv6 (RFC 4443) destination-unreachable code, or of the type.</summary>
    public static string Describe(int type, int code, bool v6)
    {
        if (v6)
        {
            return (type, code) switch
            {
                (1, 0) => "no-route",
                (1, 1) => "admin-prohibited",
                (1, 3) => "addr-unreachable",
                (1, 4) => "port-unreachable",
                (1, 5) => "policy-fail",
                (1, 6) => "reject-route",
                (1, _) => "dest-unreachable",
                (2, _) => "packet-too-big",
                (3, _) => "time-exceeded",
                _ => "icmpv6-" + type,
            };
        }

        return (type, code) switch
        {
            (3, 0) => "net-unreachable",
            (3, 1) => "host-unreachable",
            (3, 2) => "prot-unreachable",
            (3, 3) => "port-unreachable",
            (3, 4) => "frag-needed",
            (3, 9) => "net-prohibited",
            (3, 10) => "host-prohibited",
            (3, 13) => "admin-prohibited",
            (3, _) => "dest-unreachable",
            (11, _) => "time-exceeded",
            _ => "icmp-" + type,
        };
    }

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);
}

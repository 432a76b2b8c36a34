using System.Net;
using System.Net.Sockets;

namespace CucmSim.Tests.Infrastructure;

/// <summary>
/// A port for a program that binds it itself (SIPp, snmpd, snmptrapd, a serve given the port in a profile): found free
/// by binding, released, then bound again by the program. In between, another test's socket bound to port 0 could take it; hundreds of those bind on
/// 127.0.0.1 at once in a load test. So the port is found on a loopback address of its own (127.x.y.z, x from
/// <paramref name="net"/>), where only a wildcard bind could take it.
/// </summary>
internal static class UniqueLoopback
{
    /// <summary>A random address of 127.<paramref name="net"/>.0.0/16.</summary>
    public static IPAddress Address(byte net) => new([127, net, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255)]);

    /// <summary>A random address of 127.<paramref name="net"/>.0.0/16 and a port free there for UDP (and <paramref name="spare"/> above it).</summary>
    public static IPEndPoint FreeUdp(byte net, int spare = 0)
    {
        var address = Address(net);
        return new IPEndPoint(address, FreeUdpPort(address, spare));
    }

    /// <summary>A port free now on <paramref name="address"/> for <paramref name="type"/> (TCP or UDP).</summary>
    public static int FreePort(IPAddress address, SocketType type)
    {
        using var s = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
        s.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>A port free now for UDP on <paramref name="address"/> (and <paramref name="spare"/> above it).</summary>
    public static int FreeUdpPort(IPAddress address, int spare = 0)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(address, 0));
            var port = ((IPEndPoint)s.LocalEndPoint!).Port;
            if (spare == 0)
            {
                return port;
            }

            try
            {
                using var t = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                t.Bind(new IPEndPoint(address, port + spare));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("no free UDP port pair");
    }
}

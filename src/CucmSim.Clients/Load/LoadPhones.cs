using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Net;

namespace CucmSim.Clients.Load;

/// <summary>What the load phones of every protocol do alike.</summary>
public static class LoadPhones
{
    /// <summary>Counts a call attempt; false (with the failure counted) when the phone cannot place it now.</summary>
    public static bool TryAttempt(LoadPhoneContext context, int index, bool ready, bool busy)
    {
        context.Observer.CallAttempted(index);
        if (!ready)
        {
            context.Observer.CallFailed(index, "not-registered");
            return false;
        }

        if (busy)
        {
            context.Observer.CallFailed(index, "phone-busy");
            return false;
        }

        return true;
    }

    /// <summary>Tells how a placed call ended: failed before it was set up, dropped after, or completed.</summary>
    public static void Ended(LoadPhoneContext context, int index, string? failed, string? dropped)
    {
        if (failed is not null)
        {
            context.Observer.CallFailed(index, failed);
        }
        else if (dropped is not null)
        {
            context.Observer.CallDropped(index, dropped);
        }
        else
        {
            context.Observer.CallCompleted(index);
        }
    }

    /// <summary>
    /// The address a phone's socket is bound to (announced in SDP and OpenReceiveChannelAck): its source address when
    /// it was bound to one, otherwise the one the kernel chose for its connection. Read from the kernel
    /// (getsockname): a socket the loop connected is one the runtime does not know to be bound.
    /// </summary>
    public static IPAddress LocalAddress(Socket? socket, IPAddress? source) =>
        source is not null && !source.Equals(IPAddress.Any) && !source.Equals(IPAddress.IPv6Any) ? source
        : (socket is null ? null : SockAddr.Local((int)socket.Handle)) is { } local && !IsAny(local.Address) ? local.Address : source ?? IPAddress.Loopback;

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>The DSCP of call signalling, CS3 (24), as Cisco phones mark SCCP and SIP.</summary>
    public const int SignallingDscp = 24;

    /// <summary>Marks what a phone's signalling socket sends with <see cref="SignallingDscp"/> (IP_TOS, or IPV6_TCLASS).</summary>
    public static void MarkSignalling(Socket socket) =>
        _ = SockAddr.MarkDscp((int)socket.Handle, socket.AddressFamily == AddressFamily.InterNetworkV6, SignallingDscp); // unmarked if refused: the signalling still goes

    /// <summary>Linux's IP_BIND_ADDRESS_NO_PORT (SOL_IP, 24).</summary>
    private const int IpBindAddressNoPort = 24;

    /// <summary>
    /// A TCP socket for a phone's signalling, with Nagle off, bound to <paramref name="source"/> when one is given. The
    /// source port is left to the connect (IP_BIND_ADDRESS_NO_PORT): a bind to port 0 would search the whole ephemeral
    /// range for a port free on that address alone, a search that grows with every phone already bound there, where the
    /// connect only needs the four-tuple to be unique. Throws <see cref="SocketException"/> when the bind fails.
    /// </summary>
    public static Socket TcpSocket(IPEndPoint server, IPAddress? source)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        MarkSignalling(socket);
        if (source is null)
        {
            return socket;
        }

        try
        {
            socket.SetRawSocketOption(0, IpBindAddressNoPort, [1, 0, 0, 0]);
        }
        catch (SocketException)
        {
            // Not Linux, or a kernel before 4.2: the bind reserves a port, as it always did.
        }

        try
        {
            socket.Bind(new IPEndPoint(source, 0));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    /// <summary>A TCP connection from <paramref name="source"/> within the timeout; the socket, or the reason it failed ("timeout-connect", "connect-connectionrefused").</summary>
    public static async Task<(Socket? Socket, string? Error)> ConnectAsync(IPEndPoint server, IPAddress? source, TimeSpan timeout)
    {
        Socket socket;
        try
        {
            socket = TcpSocket(server, source);
        }
        catch (SocketException ex)
        {
            return (null, "connect-" + ex.SocketErrorCode.ToString().ToLowerInvariant());
        }

        try
        {
            using var cts = new CancellationTokenSource(timeout);
            await socket.ConnectAsync(server, cts.Token).ConfigureAwait(false);
            return (socket, null);
        }
        catch (OperationCanceledException)
        {
            return (socket, "timeout-connect");
        }
        catch (SocketException ex)
        {
            return (socket, "connect-" + ex.SocketErrorCode.ToString().ToLowerInvariant());
        }
    }
}

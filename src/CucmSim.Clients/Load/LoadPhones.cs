using System.Net;
using System.Net.Sockets;

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
    /// it was bound to one, otherwise the one the kernel chose.
    /// </summary>
    public static IPAddress LocalAddress(Socket? socket, IPAddress? source) =>
        source is not null && !source.Equals(IPAddress.Any) && !source.Equals(IPAddress.IPv6Any) ? source
        : socket?.LocalEndPoint is IPEndPoint local ? (local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address) : source ?? IPAddress.Loopback;

    /// <summary>A TCP connection from <paramref name="source"/> within the timeout; the socket, or the reason it failed ("timeout-connect", "connect-connectionrefused").</summary>
    public static async Task<(Socket Socket, string? Error)> ConnectAsync(IPEndPoint server, IPAddress? source, TimeSpan timeout)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

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

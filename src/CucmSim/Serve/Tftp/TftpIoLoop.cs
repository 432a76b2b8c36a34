using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// Receives for every transfer socket on one thread: epoll over the data ports, recvmmsg without blocking,
/// then the transfer's handler inline (it sends its answer, a whole window in one call, from the same
/// thread). One ACK costs one read, one send and no thread hop, which is what a TFTP server spends its time
/// on. Sockets are closed on this thread too, so a descriptor number is never reused while a datagram for
/// it is being read.
/// </summary>
internal sealed unsafe class TftpIoLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int BurstPerSocket = 32;

    private readonly int _epoll;
    private readonly ConcurrentDictionary<int, TftpTransfer> _byFd = new();
    private readonly ConcurrentQueue<(int Fd, Socket Socket, Action? After)> _closing = new();
    private readonly Thread _thread;
    private volatile bool _stopping;

    public TftpIoLoop()
    {
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {errno}");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "cucmsim-tftp-io" };
        _thread.Start();
    }

    public bool Add(Socket socket, TftpTransfer transfer)
    {
        var fd = (int)socket.Handle;
        _byFd[fd] = transfer;
        var ev = default(epoll_event);
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            _byFd.TryRemove(fd, out _);
            return false;
        }

        return true;
    }

    /// <summary>Stops receiving for the socket and closes it on the loop's thread, then runs <paramref name="after"/>.</summary>
    public void Close(Socket socket, Action? after)
    {
        _closing.Enqueue(((int)socket.Handle, socket, after));
        if (_stopping)
        {
            DrainClosing();
        }
    }

    private void Run()
    {
        var events = (epoll_event*)NativeMemory.Alloc((nuint)(sizeof(epoll_event) * MaxEvents));
        var batch = new TftpNative.ReceiveBatch();
        var from = new System.Net.SocketAddress(AddressFamily.InterNetworkV6, TftpNative.SockaddrSize);
        try
        {
            while (!_stopping)
            {
                var n = epoll_wait(_epoll, events, MaxEvents, 100);
                if (n < 0 && errno != EINTR)
                {
                    break;
                }

                for (var i = 0; i < n; i++)
                {
                    var fd = events[i].data.fd;
                    if (_byFd.TryGetValue(fd, out var transfer))
                    {
                        Receive(fd, transfer, batch, from);
                    }
                }

                DrainClosing();
            }
        }
        finally
        {
            NativeMemory.Free(events);
            batch.Dispose();
            DrainClosing();
        }
    }

    /// <summary>
    /// Reads what the socket holds in one recvmmsg per batch: a short batch means the queue is empty, so an
    /// ACK costs one read where recvfrom needed a second one to hear EAGAIN. Level-triggered epoll reports
    /// the socket again if more arrives.
    /// </summary>
    private static void Receive(int fd, TftpTransfer transfer, TftpNative.ReceiveBatch batch, System.Net.SocketAddress from)
    {
        for (var round = 0; round < BurstPerSocket / TftpNative.ReceiveBatch.Size; round++)
        {
            batch.Reset();
            var received = TftpNative.RecvMmsg(fd, batch.Messages, TftpNative.ReceiveBatch.Size, MSG_DONTWAIT, null);
            if (received <= 0)
            {
                return;
            }

            for (var m = 0; m < received; m++)
            {
                var name = batch.Name(m);
                name.CopyTo(from.Buffer.Span);
                from.Size = name.Length;
                transfer.OnDatagram(batch.Datagram(m), from);
            }

            if (received < TftpNative.ReceiveBatch.Size)
            {
                return;
            }
        }
    }

    private void DrainClosing()
    {
        while (_closing.TryDequeue(out var item))
        {
            epoll_ctl(_epoll, EPOLL_CTL_DEL, item.Fd, null);
            _byFd.TryRemove(item.Fd, out _);
            item.Socket.Dispose();
            item.After?.Invoke();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        DrainClosing();
        close(_epoll);
    }
}

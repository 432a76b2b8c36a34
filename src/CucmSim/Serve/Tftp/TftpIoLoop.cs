using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// Receives for every transfer socket on one thread: epoll over the data ports, recvfrom without blocking,
/// then the transfer's handler inline (it sends its answer, a whole window in one call, from the same
/// thread). One ACK costs two system calls and no thread hop, which is what a TFTP server spends its time
/// on. Sockets are closed on this thread too, so a descriptor number is never reused while a datagram for
/// it is being read. (recvmmsg instead of recvfrom was tried: no gain for the windowed path, where ACKs are
/// one in sixteen packets, and slower lock-step transfers in the small-file benchmark.)
/// </summary>
internal sealed unsafe class TftpIoLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int BufferSize = 2048;
    private const int BurstPerSocket = 16;

    private readonly int _epoll;
    private readonly ConcurrentDictionary<int, TftpTransfer> _byFd = new();
    private readonly ConcurrentQueue<(int Fd, Socket Socket, Action? After)> _closing = new();
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _load;

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

    /// <summary>Transfers assigned to this loop (see <see cref="ProvisioningService.NextIoLoop"/>).</summary>
    public int Load => Volatile.Read(ref _load);

    public void Enter() => Interlocked.Increment(ref _load);

    public void Leave() => Interlocked.Decrement(ref _load);

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
        var buffer = GC.AllocateArray<byte>(BufferSize, pinned: true);
        var from = new System.Net.SocketAddress(AddressFamily.InterNetworkV6);
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
                    if (!_byFd.TryGetValue(fd, out var transfer))
                    {
                        continue;
                    }

                    for (var burst = 0; burst < BurstPerSocket; burst++)
                    {
                        var sa = from.Buffer.Span;
                        socklen_t length = (uint)sa.Length;
                        long received;
                        fixed (byte* b = buffer)
                        fixed (byte* s = sa)
                        {
                            received = (long)recvfrom(fd, b, BufferSize, MSG_DONTWAIT, (sockaddr*)s, &length);
                        }

                        if (received < 0)
                        {
                            break;
                        }

                        from.Size = (int)length;
                        transfer.OnDatagram(buffer.AsSpan(0, (int)received), from);
                    }
                }

                DrainClosing();
            }
        }
        finally
        {
            NativeMemory.Free(events);
            DrainClosing();
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

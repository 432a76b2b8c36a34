using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CucmSim.Clients.Net;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CucmSim.Clients.Load;

/// <summary>Something a <see cref="LoadLoop"/> tells when its socket has data; it reads with the loop's buffer.</summary>
public interface ILoadReadable
{
    /// <summary>Called on the loop's thread while the socket is readable (level-triggered): read what is there, without blocking.</summary>
    void OnReadable(Socket socket, byte[] buffer);
}

/// <summary>
/// One thread that drives many load phones: an epoll instance over their non-blocking sockets, a timer queue and a
/// queue of work posted from other threads. Everything a phone does happens on its loop's thread, so a phone's state
/// needs no lock, and an idle phone costs its socket and its fields, not a thread, a task or a buffer.
/// </summary>
public sealed unsafe class LoadLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int BufferSize = 64 * 1024;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly PriorityQueue<Action, long> _timers = new();
    private readonly Dictionary<int, (Socket Socket, ILoadReadable Handler)> _sockets = [];
    private readonly Dictionary<int, Connecting> _connecting = [];
    private readonly byte[] _buffer = new byte[BufferSize];
    private volatile bool _stopping;

    public LoadLoop(string name)
    {
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {errno}");
        }

        _wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        var ev = default(epoll_event);
        ev.events = EPOLLIN;
        ev.data.fd = _wake;
        if (_wake < 0 || epoll_ctl(_epoll, EPOLL_CTL_ADD, _wake, &ev) != 0)
        {
            throw new InvalidOperationException($"eventfd failed: errno {errno}");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Unhandled exceptions of the work run on the loop (counted and kept: a bug, never a crash of the run).</summary>
    public long Faults { get; private set; }

    public Exception? LastFault { get; private set; }

    public bool OnLoopThread => Environment.CurrentManagedThreadId == _thread.ManagedThreadId;

    public static long Now => Stopwatch.GetTimestamp();

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public int SocketCount => _sockets.Count + _connecting.Count;

    /// <summary>Runs <paramref name="work"/> on the loop's thread, soon; from any thread.</summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        ulong one = 1;
        _ = write(_wake, &one, sizeof(ulong));
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the loop's thread at its next wake-up, without waking it: a due timer, an event,
    /// other posted work, or at the latest the idle wait of 100 ms. For work that may wait for a loop that wakes often
    /// anyway; from any thread.
    /// </summary>
    public void PostQuiet(Action work) => _posted.Enqueue(work);

    /// <summary>Runs <paramref name="work"/> on the loop's thread at <paramref name="due"/> (Stopwatch ticks); loop thread only.</summary>
    public void At(long due, Action work)
    {
        Debug.Assert(OnLoopThread);
        _timers.Enqueue(work, due);
    }

    public void After(TimeSpan delay, Action work) => At(Now + Ticks(delay), work);

    /// <summary>Watches a non-blocking socket for input; loop thread only.</summary>
    public bool Add(Socket socket, ILoadReadable handler)
    {
        Debug.Assert(OnLoopThread);
        var fd = (int)socket.Handle;
        var ev = default(epoll_event);
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            return false;
        }

        _sockets[fd] = (socket, handler);
        return true;
    }

    /// <summary>
    /// Connects a TCP socket (bound or not) without blocking and without the runtime's socket engine: the connect
    /// is started here and completes on this loop, where the socket is then watched for input for
    /// <paramref name="handler"/>. <paramref name="connected"/> runs on the loop with null, or with the reason it
    /// failed ("connect-connectionrefused"), the socket then left to the caller to close. A connection per phone
    /// costs one syscall to start and one epoll event to finish, and no task, thread-pool work or second epoll
    /// registration. Loop thread only; <see cref="Close"/> abandons a connect in progress.
    /// </summary>
    public void Connect(Socket socket, IPEndPoint server, ILoadReadable handler, Action<string?> connected)
    {
        Debug.Assert(OnLoopThread);
        socket.Blocking = false;
        var fd = (int)socket.Handle;
        Span<byte> address = stackalloc byte[SockAddr.MaxLength];
        var length = SockAddr.Write(server.Address, server.Port, address);
        int rc;
        fixed (byte* p = address)
        {
            rc = connect(fd, (sockaddr*)p, (uint)length);
        }

        var e = rc == 0 ? 0 : errno;
        if (rc == 0 || e == EINPROGRESS)
        {
            var ev = default(epoll_event);
            ev.events = rc == 0 ? EPOLLIN : EPOLLOUT;
            ev.data.fd = fd;
            if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
            {
                e = errno;
            }
            else if (rc == 0)
            {
                _sockets[fd] = (socket, handler);
                Post(() => connected(null));
                return;
            }
            else
            {
                _connecting[fd] = new Connecting(socket, handler, connected);
                return;
            }
        }

        var reason = ConnectError(e);
        Post(() => connected(reason));
    }

    /// <summary>The reason a connect failed, named as the runtime's <see cref="SocketError"/> ("connect-connectionrefused").</summary>
    public static string ConnectError(int error)
    {
        var name = error == ECONNREFUSED ? "connectionrefused"
            : error == ETIMEDOUT ? "timedout"
            : error == EHOSTUNREACH ? "hostunreachable"
            : error == ENETUNREACH ? "networkunreachable"
            : error == EADDRNOTAVAIL ? "addressnotavailable"
            : error == EADDRINUSE ? "addressalreadyinuse"
            : error == ECONNRESET ? "connectionreset"
            : error == EACCES || error == EPERM ? "accessdenied"
            : "errno-" + error.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "connect-" + name;
    }

    private void Connected(int fd, Connecting connecting)
    {
        var error = 0;
        var size = (socklen_t)sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0)
        {
            error = errno;
        }

        if (error == 0)
        {
            var ev = default(epoll_event);
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            if (epoll_ctl(_epoll, EPOLL_CTL_MOD, fd, &ev) == 0)
            {
                _sockets[fd] = (connecting.Socket, connecting.Handler);
                connecting.Connected(null);
                return;
            }

            error = errno;
        }

        epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, null);
        connecting.Connected(ConnectError(error));
    }

    private sealed record Connecting(Socket Socket, ILoadReadable Handler, Action<string?> Connected);

    /// <summary>Stops watching and closes the socket; loop thread only.</summary>
    public void Close(Socket? socket)
    {
        if (socket is null)
        {
            return;
        }

        Debug.Assert(OnLoopThread);
        try
        {
            var fd = (int)socket.Handle;
            if (_sockets.Remove(fd) || _connecting.Remove(fd))
            {
                epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, null);
            }
        }
        catch (ObjectDisposedException)
        {
        }

        socket.Dispose();
    }

    private void Run()
    {
        var events = (epoll_event*)NativeMemory.Alloc((nuint)(sizeof(epoll_event) * MaxEvents));
        try
        {
            while (!_stopping)
            {
                var wait = RunDue();
                var n = epoll_wait(_epoll, events, MaxEvents, wait);
                if (n < 0)
                {
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    break;
                }

                for (var i = 0; i < n; i++)
                {
                    var fd = events[i].data.fd;
                    if (fd == _wake)
                    {
                        ulong count;
                        _ = read(_wake, &count, sizeof(ulong));
                        continue;
                    }

                    try
                    {
                        if (_sockets.TryGetValue(fd, out var entry))
                        {
                            entry.Handler.OnReadable(entry.Socket, _buffer);
                        }
                        else if (_connecting.Remove(fd, out var connecting))
                        {
                            Connected(fd, connecting);
                        }
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        Faults++;
                        LastFault = ex;
                    }
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    /// <summary>Runs posted work and due timers; returns how long epoll may wait, in ms.</summary>
    private int RunDue()
    {
        for (var i = 0; i < 100_000 && _posted.TryDequeue(out var work); i++)
        {
            Guard(work);
        }

        var now = Now;
        for (var i = 0; i < 100_000 && _timers.TryPeek(out var timer, out var due) && due <= now; i++)
        {
            _timers.Dequeue();
            Guard(timer);
        }

        if (!_posted.IsEmpty)
        {
            return 0;
        }

        if (!_timers.TryPeek(out _, out var next))
        {
            return 100;
        }

        var ms = (next - Now) * 1000.0 / Stopwatch.Frequency;
        return ms <= 0 ? 0 : (int)Math.Min(100, Math.Ceiling(ms));
    }

    private void Guard(Action work)
    {
        try
        {
            work();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Faults++;
            LastFault = ex;
        }
    }

    /// <summary>Runs <paramref name="work"/> on the loop and waits for it (from another thread).</summary>
    public Task InvokeAsync(Action work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try
            {
                work();
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task;
    }

    /// <summary>Reads what a non-blocking socket holds: the byte count, 0 at the end of a stream, -1 when nothing is there, -2 on an error.</summary>
    public static int Receive(Socket socket, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var n = recv((int)socket.Handle, p, buffer.Length, MSG_DONTWAIT);
            if (n >= 0)
            {
                return (int)n;
            }

            var e = errno;
            return e == EAGAIN || e == EWOULDBLOCK || e == EINTR ? -1 : -2;
        }
    }

    /// <summary>Sends on a connected socket without blocking: the bytes sent, or -1 when the socket's buffer is full, -2 on an error.</summary>
    public static int Send(Socket socket, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var n = send((int)socket.Handle, p, data.Length, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0)
            {
                return (int)n;
            }

            var e = errno;
            return e == EAGAIN || e == EWOULDBLOCK ? -1 : -2;
        }
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        Post(() => { });
        _thread.Join(TimeSpan.FromSeconds(5));
        foreach (var (_, entry) in _sockets)
        {
            entry.Socket.Dispose();
        }

        _sockets.Clear();
        foreach (var (_, connecting) in _connecting)
        {
            connecting.Socket.Dispose();
        }

        _connecting.Clear();
        close(_wake);
        close(_epoll);
    }
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CucmSim.Catalog;
using CucmSim.Clients.Net;
using CucmSim.Protocols.Echo;
using CucmSim.Protocols.Rtp;
using Microsoft.Extensions.Logging;
using Tmds.Linux;
using static CucmSim.Clients.Net.LinuxMessages;
using static Tmds.Linux.LibC;

namespace CucmSim.Serve;

/// <summary>Counters of the whole pool, for the control API and metrics.</summary>
public sealed record RtpPoolStats(
    string Id, int Requested, int Bound, int Failed, int Allocated, int Allocatable,
    long Packets, long Bytes, long RtcpPackets, long Probes, long OtherPackets, int ActiveStreams, long UntrackedPackets);

/// <summary>A live stream as the API shows it.</summary>
public sealed record RtpStreamView(int Port, string Peer, uint Ssrc, int PayloadType, long Packets, long Lost, double JitterMs, string? Owner);

/// <summary>
/// The role's media ports. Every port is a non-blocking UDP socket (one dual-stack socket per port by
/// default) registered with a single epoll instance that one thread serves: 8,192 ports cost 8,192 file
/// descriptors and a few kilobytes, not a pending receive and a buffer each. Every datagram is echoed to
/// its source (symmetric RTP); RTP is measured per stream (RFC 3550 A.1 loss, A.8 jitter); probes get the
/// universal echo. Calls take ports from the pool with <see cref="TryAllocate"/> and give them back.
/// </summary>
public sealed unsafe partial class RtpPool : IDisposable
{
    private const int BufferSize = 2048;
    private const int MaxEvents = 256;
    private const int BurstPerSocket = 64;

    private const int SockaddrSize = 128;

    private readonly RtpPoolSpec _spec;
    private readonly ServeContext _context;
    private readonly IReadOnlyList<IPAddress> _addresses;
    private readonly int _offset;
    private readonly ILogger _log;
    private readonly string[] _flowIds;
    private readonly List<int> _fds = [];
    private readonly List<int> _fdPorts = [];
    private readonly List<bool> _fdV6 = [];
    private readonly List<string> _failures = [];
    private readonly Dictionary<StreamKey, RtpStream> _streams = [];
    private readonly Lock _streamsLock = new();
    private readonly Lock _allocLock = new();
    private readonly Queue<int> _free = new();
    private readonly Dictionary<int, string> _allocated = [];
    private readonly HashSet<int> _boundPorts = [];
    private int _epoll = -1;
    private Thread? _thread;
    private volatile bool _stopping;
    private int _failed;
    private long _packets;
    private long _bytes;
    private long _rtcp;
    private long _probes;
    private long _other;
    private long _untracked;

    public RtpPool(RtpPoolSpec spec, IReadOnlyList<IPAddress> addresses, int offset, ServeContext context)
    {
        _spec = spec;
        _addresses = addresses;
        _offset = offset;
        _context = context;
        _log = context.Loggers.CreateLogger("CucmSim.Rtp");
        _flowIds = spec.Flows.Select(f => f.Id).ToArray();
    }

    public string Id => _spec.Id;

    public RtpPoolSpec Spec => _spec;

    public int Requested => _spec.Count * _addresses.Count;

    public int Bound => _fds.Count;

    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Actual port of a profile port (offset applied).</summary>
    public int ActualPort(int profilePort) => profilePort + _offset;

    /// <summary>Binds every port and starts the poll thread. Failures are counted, the first few kept with reasons.</summary>
    public void Start()
    {
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {errno}");
        }

        foreach (var address in _addresses)
        {
            foreach (var range in _spec.Ranges)
            {
                for (var p = range.Low; p <= range.High; p++)
                {
                    BindOne(address, p + _offset);
                }
            }
        }

        lock (_allocLock)
        {
            foreach (var port in _boundPorts.Order())
            {
                if (port % 2 == 0 && _boundPorts.Contains(port + 1))
                {
                    _free.Enqueue(port);
                }
            }
        }

        _thread = new Thread(PollLoop) { IsBackground = true, Name = "cucmsim-rtp" };
        _thread.Start();
    }

    private void BindOne(IPAddress address, int port)
    {
        if (port > 65535)
        {
            Fail(port, "port above 65535 after the offset");
            return;
        }

        var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        var fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            Fail(port, Errno("socket", errno));
            return;
        }

        var sa = stackalloc byte[SockAddr.MaxLength];
        if (v6)
        {
            var off = 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(int));
        }

        var length = SockAddr.Write(address, port, new Span<byte>(sa, SockAddr.MaxLength));
        if (bind(fd, (sockaddr*)sa, length) != 0)
        {
            var code = errno;
            close(fd);
            Fail(port, code == EADDRINUSE ? "address already in use" : code == EACCES ? "permission denied" : Errno("bind", code));
            return;
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            // Echoes leave from the address each datagram was sent to (see UdpArrival).
            UdpArrival.Enable(fd, v6);
        }

        var ev = default(epoll_event);
        ev.events = EPOLLIN;
        ev.data.u64 = (ulong)_fds.Count;
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            var code = errno;
            close(fd);
            Fail(port, Errno("epoll_ctl", code));
            return;
        }

        _fds.Add(fd);
        _fdPorts.Add(port);
        _fdV6.Add(v6);
        _boundPorts.Add(port);
    }

    private void Fail(int port, string reason)
    {
        _failed++;
        if (_failures.Count < 10)
        {
            _failures.Add($"udp/{port}: {reason}");
        }
    }

    private static string Errno(string call, int code) => $"{call} failed: {Marshal.GetPInvokeErrorMessage(code)} (errno {code})";

    /// <summary>Takes an even port (its odd neighbour carries RTCP) for a call; false when the pool is exhausted.</summary>
    public bool TryAllocate(string owner, out int port)
    {
        lock (_allocLock)
        {
            if (_free.TryDequeue(out port))
            {
                _allocated[port] = owner;
                return true;
            }
        }

        port = 0;
        return false;
    }

    /// <summary>Gives a port back; false when it was not allocated.</summary>
    public bool Release(int port)
    {
        lock (_allocLock)
        {
            if (!_allocated.Remove(port))
            {
                return false;
            }

            _free.Enqueue(port);
            return true;
        }
    }

    public RtpPoolStats Stats()
    {
        int allocated, free, active;
        lock (_allocLock)
        {
            allocated = _allocated.Count;
            free = _free.Count;
        }

        lock (_streamsLock)
        {
            active = _streams.Count;
        }

        return new RtpPoolStats(Id, Requested, Bound, _failed, allocated, allocated + free,
            Interlocked.Read(ref _packets), Interlocked.Read(ref _bytes), Interlocked.Read(ref _rtcp),
            Interlocked.Read(ref _probes), Interlocked.Read(ref _other), active, Interlocked.Read(ref _untracked));
    }

    public IReadOnlyList<RtpStreamView> Streams(int max = 1000)
    {
        lock (_streamsLock)
        {
            lock (_allocLock)
            {
                return _streams.Values.Take(max).Select(s => new RtpStreamView(s.Port, s.Peer, s.Ssrc, s.PayloadType, s.Stats.Received, s.Stats.Lost,
                    s.Stats.Jitter * 1000.0 / RtpHeader.ClockRate(s.PayloadType), _allocated.GetValueOrDefault(s.Port & ~1))).ToList();
            }
        }
    }

    private void PollLoop()
    {
        var events = (epoll_event*)NativeMemory.Alloc((nuint)(sizeof(epoll_event) * MaxEvents));
        var batch = new Batch();
        var reply = (byte*)NativeMemory.Alloc(EchoProbe.MaxEchoLength);
        var lastSweep = Stopwatch.GetTimestamp();
        try
        {
            while (!_stopping)
            {
                var n = epoll_wait(_epoll, events, MaxEvents, 200);
                if (n < 0)
                {
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    LogPollFailed(_log, errno);
                    break;
                }

                for (var i = 0; i < n; i++)
                {
                    var index = (int)events[i].data.u64;
                    ServeSocket(index, _fds[index], batch, reply);
                }

                if (Stopwatch.GetElapsedTime(lastSweep) >= TimeSpan.FromSeconds(1))
                {
                    Sweep(all: false);
                    lastSweep = Stopwatch.GetTimestamp();
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            NativeMemory.Free(reply);
            batch.Dispose();
        }
    }

    /// <summary>
    /// Reads what a ready socket holds in batches (one recvmmsg each) and echoes the batch back in one
    /// sendmmsg: two system calls per batch, where one recvfrom and one sendto per datagram took three
    /// (the last recvfrom only to hear EAGAIN). Level-triggered epoll reports the socket again if more waits.
    /// </summary>
    private void ServeSocket(int index, int fd, Batch batch, byte* reply)
    {
        for (var round = 0; round < BurstPerSocket / Batch.Size; round++)
        {
            batch.ResetReceive();
            var received = RecvMmsg(fd, batch.Receive, Batch.Size, 0, null);
            if (received <= 0)
            {
                return;
            }

            var echoes = 0;
            for (var m = 0; m < received; m++)
            {
                var length = (int)batch.Receive[m].Length;
                var name = batch.Name(m);
                var nameLength = (int)batch.Receive[m].Header.NameLength;
                var local = UdpArrival.Parse(batch.ReceiveControl(m), batch.Receive[m].Header.ControlLength);
                try
                {
                    if (Handle(index, fd, new ReadOnlySpan<byte>(batch.Buffer(m), length), name, nameLength, local, reply))
                    {
                        batch.QueueEcho(echoes++, m, length, nameLength, local, _fdV6[index]);
                    }
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogHandlerFailed(_log, _fdPorts[index], ex);
                }
            }

            // Symmetric RTP: each datagram goes back, unchanged, to where it came from.
            var sent = 0;
            while (sent < echoes)
            {
                var n = SendMmsg(fd, batch.Send + sent, (uint)(echoes - sent), 0);
                if (n <= 0)
                {
                    break;
                }

                sent += n;
            }

            if (received < Batch.Size)
            {
                return;
            }
        }
    }

    /// <summary>Accounts one datagram; answers a probe itself. True when the datagram is to be echoed unchanged.</summary>
    private bool Handle(int index, int fd, ReadOnlySpan<byte> datagram, byte* sa, int saLength, in ArrivalAddress reached, byte* reply)
    {
        Interlocked.Increment(ref _packets);
        Interlocked.Add(ref _bytes, datagram.Length);
        var port = _fdPorts[index];

        if (EchoProbe.TryParseDatagram(datagram, out var nonce, out var idle))
        {
            Interlocked.Increment(ref _probes);
            var peer = ToEndPoint(sa, saLength);
            var local = LocalEndPoint(reached, port);
            var listener = ListenerSpec.MakeId(Transport.Udp, port - _offset);
            var scheduled = idle > 0 && ScheduleCallback(idle, index, datagram[nonce], sa, saLength, reached, listener, local, peer);
            var n = EchoProbe.FormatEcho(new Span<byte>(reply, EchoProbe.MaxEchoLength), datagram[nonce], listener, local, peer, scheduled ? idle : 0);
            SendFrom(fd, reply, n, sa, saLength, reached, _fdV6[index]);
            _context.Ledger.Append(ProbeRecord("udp-flow", listener, local, peer, datagram[nonce]) with { Verdict = "echo", BytesIn = datagram.Length });
            return false;
        }

        // Account first, then echo: whoever sees the echo also sees the counters move.
        RtpStream? stream = null;
        var created = false;
        if (RtpHeader.IsRtcp(datagram))
        {
            Interlocked.Increment(ref _rtcp);
        }
        else if (!RtpHeader.TryParse(datagram, out var header))
        {
            Interlocked.Increment(ref _other);
        }
        else
        {
            var key = StreamKey.From(port, header.Ssrc, sa, saLength);
            var now = Stopwatch.GetTimestamp();
            var clock = RtpHeader.ClockRate(header.PayloadType);
            var arrival = (long)((UInt128)(ulong)now * (ulong)clock / (ulong)Stopwatch.Frequency);
            lock (_streamsLock)
            {
                if (!_streams.TryGetValue(key, out stream))
                {
                    if (_streams.Count >= _context.Limits.MaxRtpStreams)
                    {
                        Interlocked.Increment(ref _untracked);
                    }
                    else
                    {
                        stream = new RtpStream(port, Text.EndPoint(ToEndPoint(sa, saLength)), Text.EndPoint(LocalEndPoint(reached, port)), header.Ssrc, header.PayloadType, now);
                        _streams[key] = stream;
                        created = true;
                    }
                }

                if (stream is not null)
                {
                    stream.Stats.Update(header.SequenceNumber, header.Timestamp, arrival);
                    stream.Bytes += datagram.Length;
                    stream.LastSeen = now;
                }
            }
        }

        if (created && stream is not null)
        {
            _context.Ledger.Append(new LedgerRecord
            {
                Kind = "rtp-stream",
                Listener = ListenerSpec.MakeId(Transport.Udp, port - _offset),
                Role = _spec.Role,
                Flows = _flowIds,
                Protocol = "rtp",
                Transport = "udp",
                Local = stream.Local,
                Peer = stream.Peer,
                Verdict = "rtp",
                Rtp = new RtpStreamRecord { Ssrc = stream.Ssrc, PayloadType = stream.PayloadType, Packets = 1, Expected = 1 },
            });
        }

        return true;
    }

    /// <summary>Writes and forgets streams idle past the limit (all of them at shutdown).</summary>
    public void Sweep(bool all)
    {
        List<RtpStream>? ended = null;
        lock (_streamsLock)
        {
            foreach (var (key, stream) in _streams)
            {
                if (all || Stopwatch.GetElapsedTime(stream.LastSeen) >= _context.Limits.RtpStreamIdle)
                {
                    (ended ??= []).Add(stream);
                    _streams.Remove(key);
                }
            }
        }

        foreach (var s in ended ?? [])
        {
            _context.Ledger.Append(new LedgerRecord
            {
                Kind = "rtp-stream-end",
                Listener = ListenerSpec.MakeId(Transport.Udp, s.Port - _offset),
                Role = _spec.Role,
                Flows = _flowIds,
                Protocol = "rtp",
                Transport = "udp",
                Local = s.Local,
                Peer = s.Peer,
                Verdict = "rtp",
                PacketsIn = s.Stats.Received,
                PacketsOut = s.Stats.Received,
                BytesIn = s.Bytes,
                BytesOut = s.Bytes,
                DurationMs = (long)(Stopwatch.GetElapsedTime(s.Started) - Stopwatch.GetElapsedTime(s.LastSeen)).TotalMilliseconds,
                Closed = all ? "shutdown" : "idle",
                Rtp = new RtpStreamRecord
                {
                    Ssrc = s.Ssrc,
                    PayloadType = s.PayloadType,
                    Packets = s.Stats.Received,
                    Expected = s.Stats.Expected,
                    Lost = s.Stats.Lost,
                    Reordered = s.Stats.Reordered,
                    JitterMs = Math.Round(s.Stats.Jitter * 1000.0 / RtpHeader.ClockRate(s.PayloadType), 3),
                    HighestSeq = s.Stats.ExtendedHighest,
                },
            });
        }
    }

    /// <summary>One datagram from a pool socket to a peer, leaving from the address the peer reached; the bytes sent, or -1.</summary>
    private static int SendFrom(int fd, byte* payload, int length, byte* sa, int saLength, in ArrivalAddress reached, bool v6)
    {
        var control = stackalloc byte[UdpArrival.ControlSize];
        var iov = new IoVec { Base = payload, Length = (nuint)length };
        var message = new MsgHdr
        {
            Name = sa,
            NameLength = (uint)saLength,
            Iov = &iov,
            IovLength = 1,
            Control = control,
            ControlLength = (nuint)UdpArrival.WriteControl(control, reached, v6),
        };
        if (message.ControlLength == 0)
        {
            message.Control = null;
        }

        return (int)SendMsg(fd, &message, 0);
    }

    /// <summary>The delayed answer an idle probe asks for, sent by a timer thread from the same pool socket.</summary>
    private bool ScheduleCallback(int idle, int index, ReadOnlySpan<byte> nonce, byte* sa, int saLength, ArrivalAddress reached, string listener, IPEndPoint local, IPEndPoint peer)
    {
        var payload = new byte[EchoProbe.MaxEchoLength];
        var length = EchoProbe.FormatEcho(payload, nonce, listener, local, peer, callback: true);
        var to = new ReadOnlySpan<byte>(sa, saLength).ToArray();
        var fd = _fds[index];
        var v6 = _fdV6[index];
        var record = ProbeRecord("echo-idle", listener, local, peer, nonce);
        return _context.EchoCallbacks.TrySchedule(idle, record, () =>
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            fixed (byte* p = payload)
            fixed (byte* name = to)
            {
                var sent = SendFrom(fd, p, length, name, to.Length, reached, v6);
                return sent >= 0 ? sent : throw new SocketException(Marshal.GetLastPInvokeError());
            }
        });
    }

    /// <summary>A ledger record of a probe on a pool port.</summary>
    private LedgerRecord ProbeRecord(string kind, string listener, IPEndPoint local, IPEndPoint peer, ReadOnlySpan<byte> nonce) => new()
    {
        Kind = kind,
        Listener = listener,
        Role = _spec.Role,
        Flows = _flowIds,
        Protocol = "rtp",
        Transport = "udp",
        Local = Text.EndPoint(local),
        Peer = Text.EndPoint(peer),
        Nonce = System.Text.Encoding.ASCII.GetString(nonce),
    };

    /// <summary>The pool's end of a datagram: the address it was sent to, else the (first) bound address.</summary>
    private IPEndPoint LocalEndPoint(in ArrivalAddress arrival, int port) => new(arrival.ToIPAddress() ?? _addresses[0], port);

    private static IPEndPoint ToEndPoint(byte* sa, int length) =>
        SockAddr.Parse(new ReadOnlySpan<byte>(sa, length)) ?? new IPEndPoint(IPAddress.None, 0); // a UDP socket gets only AF_INET or AF_INET6

    /// <summary>Stops the thread, writes every open stream to the ledger and closes the sockets.</summary>
    public void Stop()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _thread?.Join(TimeSpan.FromSeconds(2));
        Sweep(all: true);
        foreach (var fd in _fds)
        {
            close(fd);
        }

        _fds.Clear();
        if (_epoll >= 0)
        {
            close(_epoll);
            _epoll = -1;
        }
    }

    public void Dispose() => Stop();

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "RTP poll failed: errno {Errno}")]
    private static partial void LogPollFailed(ILogger logger, int errno);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "RTP port {Port}: handler failed")]
    private static partial void LogHandlerFailed(ILogger logger, int port, Exception exception);

    /// <summary>Native buffers for one batch: datagrams, peer addresses, and the receive and send vectors.</summary>
    private sealed class Batch : IDisposable
    {
        public const int Size = 32;
        private readonly byte* _buffers = (byte*)NativeMemory.Alloc((nuint)(Size * BufferSize));
        private readonly byte* _names = (byte*)NativeMemory.Alloc((nuint)(Size * SockaddrSize));
        private readonly byte* _receiveControl = (byte*)NativeMemory.Alloc((nuint)(Size * UdpArrival.ControlSize));
        private readonly byte* _sendControl = (byte*)NativeMemory.Alloc((nuint)(Size * UdpArrival.ControlSize));
        private readonly IoVec* _receiveIov = (IoVec*)NativeMemory.AllocZeroed((nuint)(Size * sizeof(IoVec)));
        private readonly IoVec* _sendIov = (IoVec*)NativeMemory.AllocZeroed((nuint)(Size * sizeof(IoVec)));

        public MMsgHdr* Receive { get; } = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Size * sizeof(MMsgHdr)));

        public MMsgHdr* Send { get; } = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Size * sizeof(MMsgHdr)));

        public byte* Buffer(int i) => _buffers + (i * BufferSize);

        public byte* Name(int i) => _names + (i * SockaddrSize);

        public byte* ReceiveControl(int i) => _receiveControl + (i * UdpArrival.ControlSize);

        public void ResetReceive()
        {
            for (var i = 0; i < Size; i++)
            {
                _receiveIov[i].Base = Buffer(i);
                _receiveIov[i].Length = BufferSize;
                Receive[i].Header = new MsgHdr
                {
                    Name = Name(i),
                    NameLength = SockaddrSize,
                    Iov = &_receiveIov[i],
                    IovLength = 1,
                    Control = ReceiveControl(i),
                    ControlLength = UdpArrival.ControlSize,
                };
                Receive[i].Length = 0;
            }
        }

        /// <summary>Queues datagram <paramref name="received"/> back to its source, from the address it was sent to.</summary>
        public void QueueEcho(int slot, int received, int length, int nameLength, in ArrivalAddress local, bool v6Socket)
        {
            _sendIov[slot].Base = Buffer(received);
            _sendIov[slot].Length = (nuint)length;
            var control = _sendControl + (slot * UdpArrival.ControlSize);
            var controlLength = UdpArrival.WriteControl(control, local, v6Socket);
            Send[slot].Header = new MsgHdr
            {
                Name = Name(received),
                NameLength = (uint)nameLength,
                Iov = &_sendIov[slot],
                IovLength = 1,
                Control = controlLength == 0 ? null : control,
                ControlLength = (nuint)controlLength,
            };
            Send[slot].Length = 0;
        }

        public void Dispose()
        {
            NativeMemory.Free(_buffers);
            NativeMemory.Free(_names);
            NativeMemory.Free(_receiveControl);
            NativeMemory.Free(_sendControl);
            NativeMemory.Free(_receiveIov);
            NativeMemory.Free(_sendIov);
            NativeMemory.Free(Receive);
            NativeMemory.Free(Send);
        }
    }

    private sealed class RtpStream(int port, string peer, string local, uint ssrc, byte payloadType, long started)
    {
        public int Port { get; } = port;
        public string Peer { get; } = peer;
        public string Local { get; } = local;
        public uint Ssrc { get; } = ssrc;
        public byte PayloadType { get; } = payloadType;
        public long Started { get; } = started;
        public long LastSeen;
        public long Bytes;
        public RtpReceiverStats Stats;
    }

    private readonly record struct StreamKey(int Port, uint Ssrc, ulong AddressHigh, ulong AddressLow, ushort PeerPort)
    {
        public static StreamKey From(int port, uint ssrc, byte* sa, int length)
        {
            var family = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(sa, 2));
            var peerPort = BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(sa + 2, 2));
            if (family == (ushort)AF_INET6 && length >= 24)
            {
                return new StreamKey(port, ssrc, BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(sa + 8, 8)),
                    BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(sa + 16, 8)), peerPort);
            }

            return new StreamKey(port, ssrc, 0, 0xFFFF00000000UL | BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(sa + 4, 4)), peerPort);
        }
    }
}

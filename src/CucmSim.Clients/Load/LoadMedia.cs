using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Net;
using CucmSim.Protocols.Rtp;
using Tmds.Linux;

namespace CucmSim.Clients.Load;

/// <summary>What a media leg measured, at its end.</summary>
/// <param name="Name">which way the measured stream went: "echo" (phone to server and back), "caller-to-callee", "callee-to-caller"</param>
/// <param name="Lost">packets lost (RFC 3550 A.3; for an echo leg, sent less echoed)</param>
/// <param name="JitterMs">RFC 3550 interarrival jitter at the end</param>
/// <param name="RoundTripMs">mean round trip of the echoes (echo legs), else null</param>
public sealed record MediaLegResult(string Name, long Sent, long Received, long Lost, double LossPercent, double JitterMs, double? RoundTripMs, double Mos)
{
    /// <summary>Nothing arrived at all: the leg is lost (a firewall that does not open the pinhole).</summary>
    public bool Silent => Received == 0 && Sent > 0;
}

/// <summary>
/// The media of a load run: G.711 µ-law, 20 ms packets (50 per second) on every leg, each call on ports of its own
/// (an even RTP port and RTCP on the next, both fresh sockets, taken in turn from the phones' media range when one is
/// given), RTCP sender reports every 5 seconds. Legs are spread over a few media threads (lanes), one per core by
/// default: each lane's loop sends for its legs on its own 20 ms tick and reads their sockets every few ticks, packets
/// stamped with their kernel receive time. Legs are opened by the signalling thread; a lane takes a leg's start and
/// stop at its next tick, so the signalling thread does not wake it for them.
/// </summary>
public sealed class LoadMedia : IDisposable
{
    public const int PayloadBytes = 160;
    public const int PacketMs = 20;
    private const int RtcpEveryTicks = 250;

    /// <summary>A leg's RTP socket is read every this many ticks (100 ms: about 5 packets in one system call).</summary>
    private const int PollEveryTicks = 5;

    /// <summary>Its RTCP socket at every this many reads of RTP (1 s; reports come every 5 s).</summary>
    private const int RtcpPollEvery = 10;

    /// <summary>Media threads at most by default.</summary>
    public const int MaxDefaultLanes = 4;

    private readonly Action<MediaLegResult> _ended;
    private readonly Lane[] _lanes;
    private readonly (int First, int Last)? _ports;
    private readonly Dictionary<IPAddress, int> _nextPort = [];
    private int _nextLane;

    /// <summary>
    /// A socket that asks for receive times for as long as the media runs. The kernel stamps arriving packets only
    /// while some socket asks, and the first socket that asks turns stamping on a moment later, from a work queue:
    /// a packet that arrives before then is stamped when it is read. Held from the start of the run, stamping is on
    /// before the first leg sends, and stays on between calls when no leg is open.
    /// </summary>
    private readonly int _stamping = MediaSocket(IPAddress.Loopback);

    /// <param name="lanes">media threads; 0: one per core, at most <see cref="MaxDefaultLanes"/></param>
    /// <param name="ports">the phones' media ports (the profile's RTP range toward phones): each source address takes
    /// its even RTP ports from it in turn; null: the kernel's ephemeral ports</param>
    public LoadMedia(Action<MediaLegResult> ended, TimeSpan drain, int lanes = 0, (int First, int Last)? ports = null)
    {
        if (ports is { } range && (range.First < 1 || range.Last > 65535 || range.Last - range.First < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ports), "a media range needs at least one even port and the next");
        }

        _ended = ended;
        _ports = ports;
        Drain = drain;
        var count = lanes > 0 ? lanes : Math.Clamp(Environment.ProcessorCount, 1, MaxDefaultLanes);
        _lanes = new Lane[count];
        for (var i = 0; i < count; i++)
        {
            _lanes[i] = new Lane(this, new LoadLoop(count == 1 ? "load-media" : "load-media-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>The media threads.</summary>
    public int Lanes => _lanes.Length;

    /// <summary>Work the media loops could not do (a bug): counted, never the end of the run.</summary>
    public long Faults => _lanes.Sum(l => l.Loop.Faults);

    /// <summary>How long a leg keeps receiving after it stops sending (the last echoes in flight).</summary>
    public TimeSpan Drain { get; }

    public long RtpSent => _lanes.Sum(l => Interlocked.Read(ref l.RtpSent));

    public long RtpReceived => _lanes.Sum(l => Interlocked.Read(ref l.RtpReceived));

    public long RtcpSent => _lanes.Sum(l => Interlocked.Read(ref l.RtcpSent));

    public long RtcpReceived => _lanes.Sum(l => Interlocked.Read(ref l.RtcpReceived));

    /// <summary>Legs sending now (read from any thread; approximate).</summary>
    public int ActiveLegs => _lanes.Sum(l => Volatile.Read(ref l.ActiveCount));

    /// <summary>
    /// Opens a leg's sockets on <paramref name="local"/>: an even RTP port and RTCP on the next one. With a media range,
    /// the next free pair of the range on that address after the last one taken (every pair is tried before giving
    /// up); without, ports the kernel picks. Null when no pair could be bound (the caller fails the call with
    /// "media-ports"). Signalling thread.
    /// </summary>
    public MediaLeg? Open(IPAddress local)
    {
        var rtp = MediaSocket(local);
        if (rtp < 0)
        {
            return null;
        }

        var rtcp = MediaSocket(local);
        if (rtcp < 0)
        {
            LibC.close(rtp);
            return null;
        }

        var port = _ports is { } range ? BindInRange(local, ref rtp, rtcp, range) : BindEphemeral(local, ref rtp, rtcp);
        if (port < 0)
        {
            LibC.close(rtp);
            LibC.close(rtcp);
            return null;
        }

        var lane = _lanes[(int)((uint)Interlocked.Increment(ref _nextLane) % (uint)_lanes.Length)];
        return new MediaLeg(lane, rtp, rtcp, new IPEndPoint(local, port));
    }

    private int BindInRange(IPAddress local, ref int rtp, int rtcp, (int First, int Last) range)
    {
        var first = range.First + (range.First % 2);
        var pairs = Math.Max(0, (range.Last - first + 1) / 2);
        if (pairs == 0)
        {
            return -1;
        }

        lock (_nextPort)
        {
            var next = _nextPort.GetValueOrDefault(local, 0);
            for (var tried = 0; tried < pairs; tried++)
            {
                var port = first + (2 * ((next + tried) % pairs));
                var bound = Bind(rtp, local, port);
                if (bound != 0)
                {
                    if (bound != LibC.EADDRINUSE)
                    {
                        return -1; // not a taken port: the address itself (gone, not local) fails every pair alike
                    }

                    continue;
                }

                var rtcpBound = Bind(rtcp, local, port + 1);
                if (rtcpBound == 0)
                {
                    _nextPort[local] = (next + tried + 1) % pairs;
                    return port;
                }

                // The RTP port bound and the next did not: a bound socket cannot be bound again, so a fresh one.
                LibC.close(rtp);
                rtp = MediaSocket(local);
                if (rtp < 0 || rtcpBound != LibC.EADDRINUSE)
                {
                    return -1;
                }
            }
        }

        return -1;
    }

    private static int BindEphemeral(IPAddress local, ref int rtp, int rtcp)
    {
        // The kernel picks a port at random; an odd one, or an even one whose next is taken, is given back and the
        // socket replaced (a bound socket cannot be bound again).
        for (var attempt = 0; attempt < 16; attempt++)
        {
            if (Bind(rtp, local, 0) != 0)
            {
                return -1;
            }

            var port = LocalPort(rtp);
            if (port > 0 && port % 2 == 0 && port < 65535 && Bind(rtcp, local, port + 1) == 0)
            {
                return port;
            }

            LibC.close(rtp);
            rtp = MediaSocket(local);
            if (rtp < 0)
            {
                return -1;
            }
        }

        return -1;
    }

    /// <summary>
    /// The DSCP of the media, EF (46), as Cisco phones mark audio (a phone's dscpForAudio, 184 as the TOS byte): what a
    /// firewall's or a router's QoS policy sees of real calls.
    /// </summary>
    public const int MediaDscp = 46;

    /// <summary>
    /// A non-blocking UDP socket that stamps each datagram with its receive time (SO_TIMESTAMPNS) and marks what it
    /// sends with <see cref="MediaDscp"/>; -1 on failure. Over IPv4 its datagrams carry DF and an IP ID of 0
    /// (IP_PMTUDISC_DO, RFC 6864 atomic datagrams): a 200-byte RTP packet is never fragmented, and the kernel then
    /// skips the shared ID generator it would otherwise take for every packet.
    /// </summary>
    private static unsafe int MediaSocket(IPAddress local)
    {
        var v6 = local.AddressFamily == AddressFamily.InterNetworkV6;
        var fd = LibC.socket(v6 ? LibC.AF_INET6 : LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd >= 0)
        {
            var one = 1;
            _ = LibC.setsockopt(fd, SolSocket, ScmTimestampNs, &one, sizeof(int)); // SO_TIMESTAMPNS has the number of its control message
            _ = SockAddr.MarkDscp(fd, v6, MediaDscp);
            if (!v6)
            {
                var pmtuDo = 2;
                _ = LibC.setsockopt(fd, LibC.IPPROTO_IP, IpMtuDiscover, &pmtuDo, sizeof(int));
            }
        }

        return fd;
    }

    private const int IpMtuDiscover = 10;

    /// <summary>0, or the errno of the bind.</summary>
    private static unsafe int Bind(int fd, IPAddress local, int port)
    {
        Span<byte> address = stackalloc byte[SockAddr.MaxLength];
        var length = SockAddr.Write(local, port, address);
        fixed (byte* a = address)
        {
            return LibC.bind(fd, (Tmds.Linux.sockaddr*)a, (uint)length) == 0 ? 0 : LibC.errno;
        }
    }

    private static int LocalPort(int fd) => SockAddr.Local(fd)?.Port ?? -1;

    public const int ReceiveBatch = 16;
    public const int ReceiveSlot = 2048;
    public const int ControlSlot = 64;

    /// <summary>
    /// Bytes of each datagram a media thread reads: the RTP header with up to 15 CSRCs and a short extension. What it
    /// measures is in the fixed 12 bytes; the payload is never looked at, so it is not copied.
    /// </summary>
    public const int HeaderSlot = 96;

    private const int SolSocket = 1;
    private const int ScmTimestampNs = 35;
    private const int MsgTrunc = 0x20;

    /// <summary>
    /// Up to <see cref="ReceiveBatch"/> datagrams of a non-blocking socket in one system call, each into its slot of
    /// <paramref name="buffer"/> (<paramref name="slot"/> bytes; a longer one is cut, its length still the whole
    /// datagram's) with its control messages in its slot of <paramref name="control"/> (<see cref="ControlSlot"/>
    /// bytes); their lengths and kernel receive times (ns since 1970, 0 when the socket gave none). Returns how many; 0
    /// when none was there or on an error.
    /// </summary>
    public static int ReceiveMany(Socket socket, byte[] buffer, byte[] control, Span<int> lengths, Span<long> stamps, int slot = ReceiveSlot) =>
        ReceiveMany((int)socket.Handle, buffer, control, lengths, stamps, slot);

    /// <inheritdoc cref="ReceiveMany(Socket, byte[], byte[], Span{int}, Span{long}, int)"/>
    public static unsafe int ReceiveMany(int fd, byte[] buffer, byte[] control, Span<int> lengths, Span<long> stamps, int slot = ReceiveSlot)
    {
        if (slot < 1 || buffer.Length < ReceiveBatch * slot || control.Length < ReceiveBatch * ControlSlot || lengths.Length < ReceiveBatch || stamps.Length < ReceiveBatch)
        {
            throw new ArgumentException("buffers smaller than a batch");
        }

        var messages = stackalloc LinuxMessages.MMsgHdr[ReceiveBatch];
        var vectors = stackalloc LinuxMessages.IoVec[ReceiveBatch];
        fixed (byte* p = buffer)
        fixed (byte* c = control)
        {
            for (var i = 0; i < ReceiveBatch; i++)
            {
                vectors[i].Base = p + (i * slot);
                vectors[i].Length = (nuint)slot;
                messages[i] = default;
                messages[i].Header.Iov = &vectors[i];
                messages[i].Header.IovLength = 1;
                messages[i].Header.Control = c + (i * ControlSlot);
                messages[i].Header.ControlLength = ControlSlot;
            }

            var n = LinuxMessages.RecvMmsg(fd, messages, ReceiveBatch, LibC.MSG_DONTWAIT | MsgTrunc, null);
            for (var i = 0; i < n; i++)
            {
                lengths[i] = (int)messages[i].Length;
                stamps[i] = Timestamp(new ReadOnlySpan<byte>(c + (i * ControlSlot), (int)Math.Min(ControlSlot, messages[i].Header.ControlLength)));
            }

            return Math.Max(0, n);
        }
    }

    /// <summary>The SCM_TIMESTAMPNS of a control buffer (struct cmsghdr then struct timespec, LP64), in ns; 0 without one.</summary>
    public static long Timestamp(ReadOnlySpan<byte> control)
    {
        while (control.Length >= 32)
        {
            var length = (long)BinaryPrimitives.ReadUInt64LittleEndian(control);
            var level = BinaryPrimitives.ReadInt32LittleEndian(control[8..]);
            var type = BinaryPrimitives.ReadInt32LittleEndian(control[12..]);
            if (length < 16 || length > control.Length)
            {
                return 0;
            }

            if (level == SolSocket && type == ScmTimestampNs && length >= 32)
            {
                var seconds = BinaryPrimitives.ReadInt64LittleEndian(control[16..]);
                var nanoseconds = BinaryPrimitives.ReadInt64LittleEndian(control[24..]);
                return (seconds * 1_000_000_000) + nanoseconds;
            }

            var next = (length + 7) & ~7L;
            if (next >= control.Length)
            {
                return 0;
            }

            control = control[(int)next..];
        }

        return 0;
    }

    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Loop.Dispose();
            lane.CloseAll();
        }

        if (_stamping >= 0)
        {
            LibC.close(_stamping);
        }
    }

    /// <summary>One media thread: its loop, the legs it sends for, its tick and its counters.</summary>
    internal sealed class Lane(LoadMedia media, LoadLoop loop)
    {
        private readonly List<MediaLeg> _active = [];
        private readonly List<MediaLeg> _draining = [];
        private readonly byte[] _packet = CreatePacket();
        private readonly byte[] _rtcp = new byte[52];
        private readonly byte[] _receive = new byte[ReceiveBatch * HeaderSlot];
        private readonly byte[] _control = new byte[ReceiveBatch * ControlSlot];
        private long _tick;
        private volatile bool _ticking;
        private bool _polled;
        private long _pollClock;
        private long _pollRealNs;
        internal long RtpSent;
        internal long RtpReceived;
        internal long RtcpSent;
        internal long RtcpReceived;
        internal int ActiveCount;

        public LoadLoop Loop { get; } = loop;

        private long DrainTicks { get; } = LoadLoop.Ticks(media.Drain);

        private static byte[] CreatePacket()
        {
            var packet = new byte[RtpHeader.FixedLength + PayloadBytes];
            packet.AsSpan(RtpHeader.FixedLength).Fill(0xFF); // µ-law silence
            return packet;
        }

        /// <summary>
        /// Work for this lane from another thread. While the lane ticks (every 20 ms) the work waits for the next tick
        /// instead of waking the thread: a leg's start and stop need no sooner, and at hundreds of calls a second the
        /// wake-ups cost more than the work. Should the lane stop ticking meanwhile, its loop still runs the work at
        /// its next wake-up, within 100 ms.
        /// </summary>
        private void Queue(Action work)
        {
            if (_ticking)
            {
                Loop.PostQuiet(work);
            }
            else
            {
                Loop.Post(work);
            }
        }

        internal void Start(MediaLeg leg) => Queue(() =>
        {
            if (leg.State != MediaLeg.Opened)
            {
                return;
            }

            leg.State = MediaLeg.Sending;
            leg.PollPhase = (int)((uint)leg.Ssrc % PollEveryTicks);
            Add(_active, leg);
            Volatile.Write(ref ActiveCount, _active.Count);
            if (!_ticking)
            {
                _ticking = true;
                _tick = 0;
                var first = LoadLoop.Now;
                Loop.At(first, () => Tick(first));
            }
        });

        internal void Stop(MediaLeg leg) => Queue(() =>
        {
            switch (leg.State)
            {
                case MediaLeg.Opened:
                    leg.State = MediaLeg.Closed;
                    leg.Close();
                    return;
                case MediaLeg.Sending:
                    leg.State = MediaLeg.Draining;
                    Remove(_active, leg);
                    leg.DrainUntil = LoadLoop.Now + DrainTicks;
                    Add(_draining, leg);
                    Volatile.Write(ref ActiveCount, _active.Count);
                    return;
            }
        });

        private static void Add(List<MediaLeg> legs, MediaLeg leg)
        {
            leg.Index = legs.Count;
            legs.Add(leg);
        }

        /// <summary>Removes in constant time: the last leg takes the removed one's place (the order of sending does not matter).</summary>
        private static void Remove(List<MediaLeg> legs, MediaLeg leg)
        {
            var last = legs[^1];
            legs[leg.Index] = last;
            last.Index = leg.Index;
            legs.RemoveAt(legs.Count - 1);
            leg.Index = -1;
        }

        /// <summary>After the loop stopped: closes the sockets of the legs still sending or draining.</summary>
        internal void CloseAll()
        {
            foreach (var leg in _active.Concat(_draining))
            {
                leg.State = MediaLeg.Closed;
                leg.Close();
            }

            _active.Clear();
            _draining.Clear();
        }

        private void Finish(MediaLeg leg)
        {
            // What arrived since the last poll, the last echoes included, is still in the sockets; read against a fresh clock.
            _polled = false;
            Poll(leg, rtcp: true);
            Remove(_draining, leg);
            leg.State = MediaLeg.Closed;
            leg.Close();
            media._ended(leg.Result());
        }

        private void Tick(long origin)
        {
            _tick++;
            var rtcp = _tick % RtcpEveryTicks == 0;
            var phase = (int)(_tick % PollEveryTicks);
            _polled = false;
            foreach (var leg in _active)
            {
                SendRtp(leg);
                if (rtcp || leg.Sent == 1)
                {
                    SendRtcp(leg);
                }

                if (leg.PollPhase == phase)
                {
                    Poll(leg, rtcp: leg.Polls % RtcpPollEvery == 0);
                }
            }

            // Backwards: a finished leg's place is taken by the last one, already visited.
            var now = LoadLoop.Now;
            for (var i = _draining.Count - 1; i >= 0; i--)
            {
                var leg = _draining[i];
                if (now >= leg.DrainUntil)
                {
                    Finish(leg);
                }
                else if (leg.PollPhase == phase)
                {
                    Poll(leg, rtcp: false);
                }
            }

            if (_active.Count == 0 && _draining.Count == 0)
            {
                _ticking = false;
                return;
            }

            // On a fixed grid from the first tick: a late tick does not shift the ones after it.
            var next = origin + (LoadLoop.Ticks(TimeSpan.FromMilliseconds(PacketMs)) * _tick);
            now = LoadLoop.Now;
            if (next < now - LoadLoop.Ticks(TimeSpan.FromMilliseconds(200)))
            {
                // Far behind (a stalled machine): start a new grid rather than send a burst.
                origin = now;
                _tick = 0;
                next = now;
            }

            Loop.At(next, () => Tick(origin));
        }

        private void SendRtp(MediaLeg leg)
        {
            var seq = (ushort)(leg.FirstSeq + leg.Sent);
            var ts = (uint)(leg.FirstTimestamp + (leg.Sent * PayloadBytes));
            RtpHeader.Write(_packet, leg.Sent == 0, 0, seq, ts, leg.Ssrc);
            if (leg.Sent == 0)
            {
                leg.StartedAt = LoadLoop.Now;
            }

            if (SendTo(leg.RtpFd, _packet, leg.RemoteRtp))
            {
                leg.Sent++;
                leg.Octets += PayloadBytes;
                RtpSent++;
            }
            else
            {
                leg.SendErrors++;
            }
        }

        /// <summary>One datagram to a prepared sockaddr, straight to the system call: the hot path of every leg, 50 times a second.</summary>
        private static unsafe bool SendTo(int fd, ReadOnlySpan<byte> data, byte[] to)
        {
            fixed (byte* p = data)
            fixed (byte* a = to)
            {
                return LibC.sendto(fd, p, data.Length, LibC.MSG_DONTWAIT, (sockaddr*)a, (uint)to.Length) == data.Length;
            }
        }

        private void SendRtcp(MediaLeg leg)
        {
            // Sender report with one reception report block about what this leg receives (RFC 3550 §6.4.1).
            var b = _rtcp.AsSpan();
            b[0] = 0x81;
            b[1] = 200;
            BinaryPrimitives.WriteUInt16BigEndian(b[2..], 12);
            BinaryPrimitives.WriteUInt32BigEndian(b[4..], leg.Ssrc);
            var ntp = DateTime.UtcNow - new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            var seconds = (ulong)ntp.TotalSeconds;
            BinaryPrimitives.WriteUInt32BigEndian(b[8..], (uint)seconds);
            BinaryPrimitives.WriteUInt32BigEndian(b[12..], (uint)((ntp.TotalSeconds - seconds) * 4294967296.0));
            BinaryPrimitives.WriteUInt32BigEndian(b[16..], (uint)(leg.FirstTimestamp + (leg.Sent * PayloadBytes)));
            BinaryPrimitives.WriteUInt32BigEndian(b[20..], (uint)leg.Sent);
            BinaryPrimitives.WriteUInt32BigEndian(b[24..], (uint)leg.Octets);
            BinaryPrimitives.WriteUInt32BigEndian(b[28..], leg.ReceivedSsrc);
            var lost = Math.Clamp(leg.Stats.Lost, 0, 0x7FFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(b[32..], (uint)lost);
            BinaryPrimitives.WriteUInt32BigEndian(b[36..], (uint)leg.Stats.ExtendedHighest);
            BinaryPrimitives.WriteUInt32BigEndian(b[40..], (uint)leg.Stats.Jitter);
            BinaryPrimitives.WriteUInt32BigEndian(b[44..], 0);
            BinaryPrimitives.WriteUInt32BigEndian(b[48..], 0);
            if (SendTo(leg.RtcpFd, _rtcp, leg.RemoteRtcp))
            {
                RtcpSent++;
            }
            else
            {
                leg.SendErrors++;
            }
        }

        /// <summary>
        /// Reads what a leg's sockets hold. Legs are not watched for input: each is read every
        /// <see cref="PollEveryTicks"/> ticks, in one recvmmsg for the few packets that came meanwhile, instead of one
        /// wake-up, one readiness event and one read per packet. The kernel's receive time of each packet
        /// (SO_TIMESTAMPNS) stands for its arrival, so the jitter and the round trip do not depend on when it was read.
        /// </summary>
        private void Poll(MediaLeg leg, bool rtcp)
        {
            leg.Polls++;
            if (!_polled)
            {
                _polled = true;
                _pollClock = LoadLoop.Now;
                _pollRealNs = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
            }

            ReadAll(leg, leg.RtpFd, rtcp: false);
            if (rtcp)
            {
                ReadAll(leg, leg.RtcpFd, rtcp: true);
            }
        }

        private void ReadAll(MediaLeg leg, int fd, bool rtcp)
        {
            Span<int> lengths = stackalloc int[ReceiveBatch];
            Span<long> stamps = stackalloc long[ReceiveBatch];
            for (var round = 0; round < 64; round++)
            {
                var n = ReceiveMany(fd, _receive, _control, lengths, stamps, HeaderSlot);
                for (var i = 0; i < n; i++)
                {
                    Handle(leg, rtcp, _receive.AsSpan(i * HeaderSlot, Math.Min(lengths[i], HeaderSlot)), Arrival(stamps[i]));
                }

                if (n < ReceiveBatch)
                {
                    return;
                }
            }
        }

        /// <summary>A kernel receive time (ns since 1970) as a <see cref="LoadLoop.Now"/> timestamp; the poll's own time without one.</summary>
        private long Arrival(long realNs)
        {
            if (realNs <= 0)
            {
                return _pollClock;
            }

            // Negative for a packet that came after the clocks were read, earlier in the same tick: later, not clamped.
            var ago = _pollRealNs - realNs;
            return _pollClock - (long)(ago * (System.Diagnostics.Stopwatch.Frequency / 1e9));
        }

        private void Handle(MediaLeg leg, bool rtcp, ReadOnlySpan<byte> data, long arrivedAt)
        {
            if (rtcp || RtpHeader.IsRtcp(data))
            {
                RtcpReceived++;
                return;
            }

            // The fixed header is all that is measured: a header longer than the bytes read (many CSRCs, a long
            // extension) still counts, read from its first 12 bytes.
            if (!RtpHeader.TryParse(data, out var header) && !RtpHeader.TryParseFixed(data, out header))
            {
                return;
            }

            RtpReceived++;
            var arrival = (long)(arrivedAt * 8000.0 / System.Diagnostics.Stopwatch.Frequency);
            leg.ReceivedSsrc = header.Ssrc;
            leg.Stats.Update(header.SequenceNumber, header.Timestamp, arrival);
            if (header.Ssrc == leg.Ssrc && leg.StartedAt != 0)
            {
                // Our own packet echoed: it left at StartedAt plus its media time.
                var sentAt = leg.StartedAt + LoadLoop.Ticks(TimeSpan.FromMilliseconds((header.Timestamp - leg.FirstTimestamp) / 8.0));
                leg.RoundTripTicks += Math.Max(0, arrivedAt - sentAt);
                leg.Echoes++;
            }
        }
    }
}

/// <summary>One call leg's media: its two sockets, where it sends, and what it received.</summary>
public sealed class MediaLeg
{
    internal const int Opened = 0;
    internal const int Sending = 1;
    internal const int Draining = 2;
    internal const int Closed = 3;

    private readonly LoadMedia.Lane _media;
    internal RtpReceiverStats Stats;

    internal MediaLeg(LoadMedia.Lane media, int rtp, int rtcp, IPEndPoint local)
    {
        _media = media;
        RtpFd = rtp;
        RtcpFd = rtcp;
        Local = local;
        Ssrc = (uint)Random.Shared.Next();
        FirstSeq = (ushort)Random.Shared.Next(0, 1 << 16);
        FirstTimestamp = (uint)Random.Shared.Next();
    }

    /// <summary>The RTP address to announce (SDP, OpenReceiveChannelAck); RTCP is on its port + 1.</summary>
    public IPEndPoint Local { get; }

    /// <summary>The sockets, as descriptors: the runtime's socket objects would cost two objects and a finalizer each per leg.</summary>
    internal int RtpFd { get; private set; }

    internal int RtcpFd { get; private set; }

    internal int State { get; set; }

    /// <summary>Where the leg is in its lane's list of sending or draining legs.</summary>
    internal int Index { get; set; } = -1;

    /// <summary>When a draining leg ends (<see cref="LoadLoop.Now"/> ticks).</summary>
    internal long DrainUntil { get; set; }

    /// <summary>Where RTP goes, as the sockaddr passed to sendto; RTCP to its port + 1.</summary>
    internal byte[] RemoteRtp { get; private set; } = [];

    internal byte[] RemoteRtcp { get; private set; } = [];

    /// <summary>The tick (of <see cref="LoadMedia"/>'s five) at which the leg's sockets are read.</summary>
    internal int PollPhase { get; set; }

    internal long Polls { get; set; }

    internal string Name { get; private set; } = "echo";

    internal uint Ssrc { get; }

    internal ushort FirstSeq { get; }

    internal uint FirstTimestamp { get; }

    internal long Sent { get; set; }

    internal long Octets { get; set; }

    internal long SendErrors { get; set; }

    internal long StartedAt { get; set; }

    internal uint ReceivedSsrc { get; set; }

    internal long RoundTripTicks { get; set; }

    internal long Echoes { get; set; }

    /// <summary>Starts sending to <paramref name="remote"/> (RTCP to its port + 1); <paramref name="name"/> names what this leg measures.</summary>
    public void Start(IPEndPoint remote, string name)
    {
        Span<byte> address = stackalloc byte[SockAddr.MaxLength];
        RemoteRtp = address[..SockAddr.Write(remote.Address, remote.Port, address)].ToArray();
        RemoteRtcp = address[..SockAddr.Write(remote.Address, Math.Min(65535, remote.Port + 1), address)].ToArray();
        Name = name;
        _media.Start(this);
    }

    /// <summary>Stops sending; the leg reports once the last packets in flight had time to arrive.</summary>
    public void Stop() => _media.Stop(this);

    /// <summary>Closes both sockets, once; the lane's thread.</summary>
    internal void Close()
    {
        if (RtpFd >= 0)
        {
            LibC.close(RtpFd);
            RtpFd = -1;
        }

        if (RtcpFd >= 0)
        {
            LibC.close(RtcpFd);
            RtcpFd = -1;
        }
    }

    internal MediaLegResult Result()
    {
        var echo = Name == "echo";
        var received = Stats.Received;
        var lost = echo ? Math.Max(0, Sent - Echoes) : Math.Max(0, Stats.Lost);
        var expected = echo ? Sent : Math.Max(Stats.Expected, received);
        var lossPercent = expected == 0 ? (Sent > 0 ? 100 : 0) : 100.0 * lost / expected;
        if (received == 0 && Sent > 0)
        {
            lossPercent = 100;
            lost = echo ? Sent : lost;
        }

        var jitterMs = Stats.Jitter / 8.0;
        double? rtt = echo && Echoes > 0 ? RoundTripTicks * 1000.0 / System.Diagnostics.Stopwatch.Frequency / Echoes : null;
        var mos = EModel.LegMos(jitterMs, lossPercent, (rtt ?? 0) / 2);
        return new MediaLegResult(Name, Sent, received, lost, lossPercent, jitterMs, rtt, mos);
    }
}

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Net;
using CucmSim.Protocols.Rtp;

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
/// (an even RTP port and RTCP on the next, both fresh sockets), RTCP sender reports every 5 seconds. Legs are spread
/// over a few media threads (lanes), one per core by default: each lane's loop sends for its legs on its own 20 ms
/// tick and receives on their sockets. Legs are opened by the signalling thread.
/// </summary>
public sealed class LoadMedia : IDisposable
{
    public const int PayloadBytes = 160;
    public const int PacketMs = 20;
    private const int RtcpEveryTicks = 250;

    /// <summary>Media threads at most by default.</summary>
    public const int MaxDefaultLanes = 4;

    private readonly Action<MediaLegResult> _ended;
    private readonly Lane[] _lanes;
    private int _nextLane;

    /// <param name="lanes">media threads; 0: one per core, at most <see cref="MaxDefaultLanes"/></param>
    public LoadMedia(Action<MediaLegResult> ended, TimeSpan drain, int lanes = 0)
    {
        _ended = ended;
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
    /// Opens a leg's sockets on <paramref name="local"/>: an even RTP port and RTCP on the next one. Null when no such
    /// pair could be bound in a few tries (the caller fails the call with "media-ports").
    /// </summary>
    public MediaLeg? Open(IPAddress local)
    {
        for (var attempt = 0; attempt < 16; attempt++)
        {
            var rtp = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                rtp.Bind(new IPEndPoint(local, 0));
                var port = ((IPEndPoint)rtp.LocalEndPoint!).Port;
                if (port % 2 != 0 || port >= 65535)
                {
                    rtp.Dispose();
                    continue;
                }

                var rtcp = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    rtcp.Bind(new IPEndPoint(local, port + 1));
                }
                catch (SocketException)
                {
                    rtcp.Dispose();
                    rtp.Dispose();
                    continue;
                }

                rtp.Blocking = false;
                rtcp.Blocking = false;
                var lane = _lanes[(int)((uint)Interlocked.Increment(ref _nextLane) % (uint)_lanes.Length)];
                return new MediaLeg(lane, rtp, rtcp, new IPEndPoint(local, port));
            }
            catch (SocketException)
            {
                rtp.Dispose();
                return null;
            }
        }

        return null;
    }

    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Loop.Dispose();
        }
    }

    /// <summary>One media thread: its loop, the legs it sends for, its tick and its counters.</summary>
    internal sealed class Lane(LoadMedia media, LoadLoop loop)
    {
        private readonly List<MediaLeg> _active = [];
        private readonly byte[] _packet = CreatePacket();
        private readonly byte[] _rtcp = new byte[52];
        private long _tick;
        private bool _ticking;
        internal long RtpSent;
        internal long RtpReceived;
        internal long RtcpSent;
        internal long RtcpReceived;
        internal int ActiveCount;

        public LoadLoop Loop { get; } = loop;

        private TimeSpan Drain => media.Drain;

        private static byte[] CreatePacket()
        {
            var packet = new byte[RtpHeader.FixedLength + PayloadBytes];
            packet.AsSpan(RtpHeader.FixedLength).Fill(0xFF); // µ-law silence
            return packet;
        }

        internal void Start(MediaLeg leg) => Loop.Post(() =>
        {
            if (leg.State != MediaLeg.Opened)
            {
                return;
            }

            leg.State = MediaLeg.Sending;
            Loop.Add(leg.Rtp, leg);
            Loop.Add(leg.Rtcp, leg);
            _active.Add(leg);
            Volatile.Write(ref ActiveCount, _active.Count);
            if (!_ticking)
            {
                _ticking = true;
                _tick = 0;
                var first = LoadLoop.Now;
                Loop.At(first, () => Tick(first));
            }
        });

        internal void Stop(MediaLeg leg) => Loop.Post(() =>
        {
            switch (leg.State)
            {
                case MediaLeg.Opened:
                    leg.State = MediaLeg.Closed;
                    leg.Rtp.Dispose();
                    leg.Rtcp.Dispose();
                    return;
                case MediaLeg.Sending:
                    leg.State = MediaLeg.Draining;
                    _active.Remove(leg);
                    Volatile.Write(ref ActiveCount, _active.Count);
                    Loop.After(Drain, () => Finish(leg));
                    return;
            }
        });

        private void Finish(MediaLeg leg)
        {
            leg.State = MediaLeg.Closed;
            Loop.Close(leg.Rtp);
            Loop.Close(leg.Rtcp);
            media._ended(leg.Result());
        }

        private void Tick(long origin)
        {
            _tick++;
            var send = _tick % RtcpEveryTicks == 0;
            foreach (var leg in _active)
            {
                SendRtp(leg);
                if (send || leg.Sent == 1)
                {
                    SendRtcp(leg);
                }
            }

            if (_active.Count == 0)
            {
                _ticking = false;
                return;
            }

            // On a fixed grid from the first tick: a late tick does not shift the ones after it.
            var next = origin + (LoadLoop.Ticks(TimeSpan.FromMilliseconds(PacketMs)) * _tick);
            var now = LoadLoop.Now;
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

            try
            {
                leg.Rtp.SendTo(_packet, SocketFlags.None, leg.RemoteRtp!);
                leg.Sent++;
                leg.Octets += PayloadBytes;
                Interlocked.Increment(ref RtpSent);
            }
            catch (SocketException)
            {
                leg.SendErrors++;
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
            try
            {
                leg.Rtcp.SendTo(_rtcp, SocketFlags.None, leg.RemoteRtcp!);
                Interlocked.Increment(ref RtcpSent);
            }
            catch (SocketException)
            {
                leg.SendErrors++;
            }
        }

        internal void Received(MediaLeg leg, Socket socket, byte[] buffer)
        {
            // One recvmmsg takes what the socket holds, up to a batch, in one system call: when fewer than a batch came
            // the queue is empty, so the common case (one packet per 20 ms per leg) needs no second call to hear EAGAIN.
            Span<int> lengths = stackalloc int[ReceiveBatch];
            for (var round = 0; round < 4; round++)
            {
                var n = ReceiveMany(socket, buffer, lengths);
                for (var i = 0; i < n; i++)
                {
                    Handle(leg, socket, buffer.AsSpan(i * ReceiveSlot, lengths[i]));
                }

                if (n < ReceiveBatch)
                {
                    return;
                }
            }
        }

        private const int ReceiveBatch = 16;
        private const int ReceiveSlot = 2048;

        /// <summary>Datagrams read into slots of <paramref name="buffer"/> (a longer one is cut), their lengths; 0 when none was there or on an error.</summary>
        private static unsafe int ReceiveMany(Socket socket, byte[] buffer, Span<int> lengths)
        {
            var messages = stackalloc LinuxMessages.MMsgHdr[ReceiveBatch];
            var vectors = stackalloc LinuxMessages.IoVec[ReceiveBatch];
            fixed (byte* p = buffer)
            {
                for (var i = 0; i < ReceiveBatch; i++)
                {
                    vectors[i].Base = p + (i * ReceiveSlot);
                    vectors[i].Length = ReceiveSlot;
                    messages[i] = default;
                    messages[i].Header.Iov = &vectors[i];
                    messages[i].Header.IovLength = 1;
                }

                var n = LinuxMessages.RecvMmsg((int)socket.Handle, messages, ReceiveBatch, Tmds.Linux.LibC.MSG_DONTWAIT, null);
                for (var i = 0; i < n; i++)
                {
                    lengths[i] = (int)messages[i].Length;
                }

                return Math.Max(0, n);
            }
        }

        private void Handle(MediaLeg leg, Socket socket, ReadOnlySpan<byte> data)
        {
            if (ReferenceEquals(socket, leg.Rtcp) || RtpHeader.IsRtcp(data))
            {
                Interlocked.Increment(ref RtcpReceived);
                return;
            }

            if (!RtpHeader.TryParse(data, out var header))
            {
                return;
            }

            Interlocked.Increment(ref RtpReceived);
            var now = LoadLoop.Now;
            var arrival = (long)(now * 8000.0 / System.Diagnostics.Stopwatch.Frequency);
            leg.ReceivedSsrc = header.Ssrc;
            leg.Stats.Update(header.SequenceNumber, header.Timestamp, arrival);
            if (header.Ssrc == leg.Ssrc && leg.StartedAt != 0)
            {
                // Our own packet echoed: it left at StartedAt plus its media time.
                var sentAt = leg.StartedAt + LoadLoop.Ticks(TimeSpan.FromMilliseconds((header.Timestamp - leg.FirstTimestamp) / 8.0));
                leg.RoundTripTicks += Math.Max(0, now - sentAt);
                leg.Echoes++;
            }
        }
    }

}

/// <summary>One call leg's media: its two sockets, where it sends, and what it received.</summary>
public sealed class MediaLeg : ILoadReadable
{
    internal const int Opened = 0;
    internal const int Sending = 1;
    internal const int Draining = 2;
    internal const int Closed = 3;

    private readonly LoadMedia.Lane _media;
    internal RtpReceiverStats Stats;

    internal MediaLeg(LoadMedia.Lane media, Socket rtp, Socket rtcp, IPEndPoint local)
    {
        _media = media;
        Rtp = rtp;
        Rtcp = rtcp;
        Local = local;
        Ssrc = (uint)Random.Shared.Next();
        FirstSeq = (ushort)Random.Shared.Next(0, 1 << 16);
        FirstTimestamp = (uint)Random.Shared.Next();
    }

    /// <summary>The RTP address to announce (SDP, OpenReceiveChannelAck); RTCP is on its port + 1.</summary>
    public IPEndPoint Local { get; }

    internal Socket Rtp { get; }

    internal Socket Rtcp { get; }

    internal int State { get; set; }

    internal IPEndPoint? RemoteRtp { get; private set; }

    internal IPEndPoint? RemoteRtcp { get; private set; }

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
        RemoteRtp = remote;
        RemoteRtcp = new IPEndPoint(remote.Address, Math.Min(65535, remote.Port + 1));
        Name = name;
        _media.Start(this);
    }

    /// <summary>Stops sending; the leg reports once the last packets in flight had time to arrive.</summary>
    public void Stop() => _media.Stop(this);

    void ILoadReadable.OnReadable(Socket socket, byte[] buffer) => _media.Received(this, socket, buffer);

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

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Load;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Load;

/// <summary>How the media threads read their legs: batched reads with the kernel's receive time of each packet.</summary>
public sealed class LoadMediaTests
{
    private static long RealNowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    [Fact]
    public async Task A_packet_read_late_keeps_the_time_it_arrived()
    {
        var (receiver, sender) = LoopbackPair();
        using var _r = receiver;
        using var _s = sender;
        receiver.SetRawSocketOption(1, 35, [1, 0, 0, 0]); // SO_TIMESTAMPNS, as LoadMedia sets it on every leg

        // The kernel turns stamping on a moment after the first socket asks (from a work queue); until then a packet
        // is stamped when it is read. A LoadMedia asks from its start, for its whole life, so its legs never see that.
        using var media = new LoadMedia(_ => { }, TimeSpan.Zero, lanes: 1);
        await StampingOnAsync(receiver, sender);
        var before = RealNowNs();
        for (var i = 0; i < 3; i++)
        {
            sender.SendTo(new byte[172], receiver.LocalEndPoint!);
        }

        // Wait for the packets to be there (readiness, bounded), then leave them unread a while.
        Assert.True(receiver.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "nothing arrived");
        var arrived = RealNowNs();
        await Task.Delay(150);
        var buffer = new byte[LoadMedia.ReceiveBatch * LoadMedia.ReceiveSlot];
        var control = new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot];
        var lengths = new int[LoadMedia.ReceiveBatch];
        var stamps = new long[LoadMedia.ReceiveBatch];
        var n = 0;
        for (var round = 0; round < 100 && n < 3; round++)
        {
            var got = LoadMedia.ReceiveMany(receiver, buffer, control, lengths.AsSpan(n), stamps.AsSpan(n));
            n += got;
            if (got == 0)
            {
                Assert.True(receiver.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "the rest never arrived");
            }
        }

        var read = RealNowNs();
        Assert.Equal(3, n);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(172, lengths[i]);
            Assert.InRange(stamps[i], before - 1_000_000, read); // within the clock's resolution of the send
            Assert.True(read - stamps[i] >= 140_000_000, $"stamp {stamps[i]} is {(read - stamps[i]) / 1e6} ms before the read: not the receive time");
        }

        Assert.InRange(stamps[0], before - 1_000_000, arrived + 1_000_000);
    }

    [Fact]
    public void A_socket_without_timestamps_gives_none()
    {
        var (receiver, sender) = LoopbackPair();
        using var _r = receiver;
        using var _s = sender;
        sender.SendTo(new byte[40], receiver.LocalEndPoint!);
        Assert.True(receiver.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead));
        var stamps = new long[LoadMedia.ReceiveBatch];
        var lengths = new int[LoadMedia.ReceiveBatch];
        var n = LoadMedia.ReceiveMany(receiver, new byte[LoadMedia.ReceiveBatch * LoadMedia.ReceiveSlot], new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot], lengths, stamps);
        Assert.Equal(1, n);
        Assert.Equal(40, lengths[0]);
        Assert.Equal(0, stamps[0]);
        Assert.Equal(0, LoadMedia.ReceiveMany(receiver, new byte[LoadMedia.ReceiveBatch * LoadMedia.ReceiveSlot], new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot], lengths, stamps));
    }

    [Fact]
    public void A_datagram_longer_than_its_slot_is_cut_and_keeps_its_length()
    {
        var (receiver, sender) = LoopbackPair();
        using var _r = receiver;
        using var _s = sender;
        var packet = Enumerable.Range(0, 172).Select(i => (byte)i).ToArray();
        sender.SendTo(packet, receiver.LocalEndPoint!);
        sender.SendTo(packet.AsSpan(0, 40), receiver.LocalEndPoint!);
        var buffer = new byte[LoadMedia.ReceiveBatch * LoadMedia.HeaderSlot];
        var lengths = new int[LoadMedia.ReceiveBatch];
        var stamps = new long[LoadMedia.ReceiveBatch];
        var n = 0;
        for (var round = 0; round < 100 && n < 2; round++)
        {
            n += LoadMedia.ReceiveMany(receiver, buffer, new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot], lengths.AsSpan(n), stamps.AsSpan(n), LoadMedia.HeaderSlot);
            if (n < 2)
            {
                Assert.True(receiver.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "nothing arrived");
            }
        }

        Assert.Equal(2, n);
        Assert.Equal([172, 40], lengths[..2]);
        Assert.Equal(packet[..LoadMedia.HeaderSlot], buffer[..LoadMedia.HeaderSlot]); // the first slot holds the head of the long one
        Assert.Equal(packet[..40], buffer[LoadMedia.HeaderSlot..(LoadMedia.HeaderSlot + 40)]);
        Assert.Throws<ArgumentException>(() => LoadMedia.ReceiveMany(receiver, new byte[LoadMedia.HeaderSlot], new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot], lengths, stamps, LoadMedia.HeaderSlot));
    }

    [Fact]
    public void Buffers_smaller_than_a_batch_are_refused()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.Throws<ArgumentException>(() => LoadMedia.ReceiveMany(socket, new byte[100], new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot], new int[LoadMedia.ReceiveBatch], new long[LoadMedia.ReceiveBatch]));
    }

    [Fact]
    public async Task Legs_take_the_even_ports_of_the_media_range_in_turn_skip_taken_ones_and_give_them_back_when_they_end()
    {
        // An address of its own, so that no other test holds ports on it; 20000-20009 is five pairs.
        var local = IPAddress.Parse("127.0.83.1");
        using var rtcpTaken = Bound(local, 20003); // the pair 20002/20003: RTP free, RTCP taken
        using var rtpTaken = Bound(local, 20004);  // the pair 20004/20005: RTP taken
        var results = new List<MediaLegResult>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var media = new LoadMedia(r => { lock (results) { results.Add(r); } ended.TrySetResult(); }, TimeSpan.FromMilliseconds(50), lanes: 1, ports: (20000, 20009));

        var first = media.Open(local);
        var second = media.Open(local);
        var third = media.Open(local);
        Assert.Equal([20000, 20006, 20008], new[] { first, second, third }.Select(l => l?.Local.Port ?? -1));
        Assert.Null(media.Open(local)); // every pair in use or taken
        Assert.Null(media.Open(IPAddress.Parse("192.0.2.77"))); // an address of no interface here: no pair at all

        // The ports are really bound: nothing else can take them while the legs hold them.
        Assert.Throws<SocketException>(() => Bound(local, 20001).Dispose());
        Assert.Throws<SocketException>(() => Bound(local, 20006).Dispose());

        // A leg that ran and ended gives its pair back, and the turn comes round to it.
        using var sink = Bound(IPAddress.Loopback, 0);
        first!.Start((IPEndPoint)sink.LocalEndPoint!, "echo");
        Assert.True(sink.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "the leg sent nothing");
        first.Stop();
        await ended.Task.DefaultTimeout(TimeSpan.FromSeconds(10));
        Assert.True(results.Single().Sent >= 1);
        Assert.Equal(20000, media.Open(local)?.Local.Port);

        // A leg stopped before it started closes its sockets too.
        second!.Stop();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        Socket? again = null;
        while (again is null && DateTime.UtcNow < deadline)
        {
            try
            {
                again = Bound(local, 20006);
            }
            catch (SocketException)
            {
                await Task.Delay(10);
            }
        }

        Assert.NotNull(again);
        again.Dispose();
        third!.Stop();
    }

    [Fact]
    public void The_media_range_comes_from_the_profile_and_a_range_without_a_pair_is_refused()
    {
        var profile = CucmSim.Catalog.ProfileLoader.Load(CucmSim.Catalog.ProfileLoader.DefaultProfile);
        Assert.Equal((16384, 32767), CucmSim.Load.LoadCommand.MediaPorts(profile, "phone"));
        Assert.Null(CucmSim.Load.LoadCommand.MediaPorts(profile, "no-such-role"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoadMedia(_ => { }, TimeSpan.Zero, 1, (20000, 20000)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoadMedia(_ => { }, TimeSpan.Zero, 1, (0, 100)));
    }

    [Fact]
    public async Task Work_posted_quietly_to_an_idle_loop_runs_without_a_wake_up()
    {
        using var loop = new LoadLoop("test-quiet");
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.PostQuiet(() => ran.TrySetResult());
        await ran.Task.DefaultTimeout(TimeSpan.FromSeconds(5)); // at the loop's idle wait (100 ms) at the latest
    }

    /// <summary>Waits (bounded) until a packet left unread 20 ms keeps its arrival time: the kernel stamps on arrival.</summary>
    private static async Task StampingOnAsync(Socket receiver, Socket sender)
    {
        var buffer = new byte[LoadMedia.ReceiveBatch * LoadMedia.ReceiveSlot];
        var control = new byte[LoadMedia.ReceiveBatch * LoadMedia.ControlSlot];
        var lengths = new int[LoadMedia.ReceiveBatch];
        var stamps = new long[LoadMedia.ReceiveBatch];
        for (var attempt = 0; attempt < 100; attempt++)
        {
            sender.SendTo(new byte[12], receiver.LocalEndPoint!);
            Assert.True(receiver.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "the probe never arrived");
            await Task.Delay(20);
            var n = LoadMedia.ReceiveMany(receiver, buffer, control, lengths, stamps);
            if (n == 1 && RealNowNs() - stamps[0] >= 15_000_000)
            {
                return;
            }
        }

        Assert.Fail("the kernel never stamped a packet on arrival");
    }

    /// <summary>A non-blocking UDP receiver on loopback and a sender to it.</summary>
    private static (Socket Receiver, Socket Sender) LoopbackPair()
    {
        var receiver = Bound(IPAddress.Loopback, 0);
        receiver.Blocking = false;
        return (receiver, new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
    }

    private static Socket Bound(IPAddress address, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static byte[] Cmsg(int level, int type, long seconds, long nanoseconds, long? length = null)
    {
        var b = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)(length ?? 32));
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), level);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), type);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(16), seconds);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(24), nanoseconds);
        return b;
    }

    [Fact]
    public void The_timestamp_is_found_among_other_control_messages_and_bad_ones_give_none()
    {
        Assert.Equal(1_700_000_000_123_456_789, LoadMedia.Timestamp(Cmsg(1, 35, 1_700_000_000, 123_456_789)));

        // After another control message (IP_TOS: level 0, type 1, 17 bytes, padded to 24).
        var tos = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(tos, 17);
        var both = tos.Concat(Cmsg(1, 35, 5, 6)).ToArray();
        Assert.Equal(5_000_000_006, LoadMedia.Timestamp(both));

        Assert.Equal(0, LoadMedia.Timestamp([]));
        Assert.Equal(0, LoadMedia.Timestamp(Cmsg(1, 35, 5, 6)[..31]));           // truncated
        Assert.Equal(0, LoadMedia.Timestamp(Cmsg(1, 29, 5, 6)));                 // SO_TIMESTAMP (µs), not asked for
        Assert.Equal(0, LoadMedia.Timestamp(Cmsg(1, 35, 5, 6, length: 8)));      // shorter than a header
        Assert.Equal(0, LoadMedia.Timestamp(Cmsg(1, 35, 5, 6, length: 4096)));   // longer than the buffer

        var random = new Random(17);

        // A last message whose padding runs past the end of the buffer.
        var ragged = new byte[38];
        BinaryPrimitives.WriteUInt64LittleEndian(ragged, 37);
        Assert.Equal(0, LoadMedia.Timestamp(ragged));

        // Random bytes never throw and never loop, with lengths that are small often.
        for (var i = 0; i < 10_000; i++)
        {
            var length = random.Next(0, 65);
            var b = new byte[length];
            random.NextBytes(b);
            if (length >= 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)random.Next(0, 70));
            }

            _ = LoadMedia.Timestamp(b);
        }

        // Random bytes never throw and never loop.
        var bytes = new byte[64];
        for (var i = 0; i < 10_000; i++)
        {
            random.NextBytes(bytes);
            _ = LoadMedia.Timestamp(bytes.AsSpan(0, random.Next(0, 65)));
        }
    }
}

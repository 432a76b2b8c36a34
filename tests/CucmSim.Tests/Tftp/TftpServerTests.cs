using System.Buffers;
using System.Net;
using System.Text;
using System.Xml.Linq;
using CucmSim.Clients.Tftp;
using CucmSim.Protocols.Tftp;
using CucmSim.Serve;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace CucmSim.Tests.Tftp;

/// <summary>The TFTP server packet by packet (raw sockets and our client): transfer IDs, retransmission, errors, limits.</summary>
public sealed class TftpServerTests
{
    internal static readonly string[] Flows = ["t2.tftp", "t6.tftp-http", "t6.tftp-https"];

    internal static string Root(params (string Name, byte[] Data)[] files)
    {
        var root = SimHost.TempDirectory();
        foreach (var (name, data) in files)
        {
            var path = Path.Combine(root, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, data);
        }

        return root;
    }

    internal static byte[] Pattern(int length, int seed = 7)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task Long_transfers_keep_their_own_port_answer_strangers_with_error_5_and_complete_side_by_side()
    {
        // Long enough for the peer-connected data socket: its twin on the same port must still answer others.
        var blocks = (int)TftpTransfer.ConnectedFromBlocks + 36;
        var file = Pattern((blocks * 512) - 100);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("long.bin", file)) } });
        var listener = server.EndPoint("udp/69");
        using var a = new RawTftpSocket();
        using var b = new RawTftpSocket();
        using var stranger = new RawTftpSocket();
        a.SendRrq(listener, "long.bin");
        b.SendRrq(listener, "long.bin");
        var (tidA, blockA, dataA) = await a.ReceiveDataAsync();
        var (tidB, blockB, dataB) = await b.ReceiveDataAsync();
        Assert.NotEqual(tidA.Port, tidB.Port);
        var gotA = new List<byte>(dataA);
        var gotB = new List<byte>(dataB);
        for (var n = 1; n < blocks; n++)
        {
            if (n == blocks / 2)
            {
                stranger.SendAck(tidA, (ushort)n);
                var (code, _, from) = await stranger.ReceiveErrorAsync();
                Assert.Equal(TftpErrorCode.UnknownTransferId, code);
                Assert.Equal(tidA, from);
            }

            a.SendAck(tidA, (ushort)n);
            b.SendAck(tidB, (ushort)n);
            IPEndPoint fromA, fromB;
            (fromA, blockA, dataA) = await a.ReceiveDataAsync();
            (fromB, blockB, dataB) = await b.ReceiveDataAsync();
            Assert.Equal((tidA, tidB, n + 1, n + 1), (fromA, fromB, (int)blockA, (int)blockB));
            gotA.AddRange(dataA);
            gotB.AddRange(dataB);
        }

        a.SendAck(tidA, (ushort)blocks);
        b.SendAck(tidB, (ushort)blocks);
        Assert.Equal(file, gotA.ToArray());
        Assert.Equal(file, gotB.ToArray());
        var record = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Detail!["file"] == "long.bin" && r.Detail["dataPort"] == tidA.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("complete", record.Verdict);
        Assert.Equal("1", record.Detail!["foreignPackets"]);
    }

    [Fact]
    public async Task Data_comes_from_a_new_port_per_transfer_and_a_foreign_port_gets_error_5_without_ending_it()
    {
        var file = Pattern(1500);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("f.bin", file)) } });
        var listener = server.EndPoint("udp/69");
        using var client = new RawTftpSocket();
        using var stranger = new RawTftpSocket();
        client.SendRrq(listener, "f.bin");
        var (tid, block, data) = await client.ReceiveDataAsync();
        Assert.NotEqual(listener.Port, tid.Port);
        Assert.Equal(1, block);
        Assert.Equal(file[..512], data);

        // A packet from another port to the data port: ERROR 5 to that port, the transfer goes on.
        stranger.SendAck(tid, 1);
        var (code, _, from) = await stranger.ReceiveErrorAsync();
        Assert.Equal(TftpErrorCode.UnknownTransferId, code);
        Assert.Equal(tid, from);

        client.SendAck(tid, 1);
        (_, block, data) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);
        client.SendAck(tid, 2);
        (_, block, data) = await client.ReceiveDataAsync();
        Assert.Equal(3, block);
        Assert.Equal(1500 - 1024, data.Length);
        client.SendAck(tid, 3);

        var record = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Detail!["file"] == "f.bin");
        Assert.Equal("complete", record.Verdict);
        Assert.Equal(tid.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), record.Detail!["dataPort"]);
        Assert.Equal("1", record.Detail["foreignPackets"]);
        Assert.Equal("1500", record.Detail["bytes"]);

        // A second transfer gets another port.
        using var second = new RawTftpSocket();
        second.SendRrq(listener, "F.BIN");
        var (tid2, _, _) = await second.ReceiveDataAsync();
        Assert.NotEqual(tid.Port, tid2.Port);
    }

    [Fact]
    public async Task Duplicate_acks_never_double_the_traffic()
    {
        var file = Pattern(512 * 4 + 10);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("f.bin", file)) } });
        using var client = new RawTftpSocket();
        client.SendRrq(server.EndPoint("udp/69"), "f.bin");
        var (tid, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(1, block);

        // ACK 1 three times, then ACK 2: a Sorcerer's Apprentice server would answer each ACK 1 with DATA 2.
        client.SendAck(tid, 1);
        client.SendAck(tid, 1);
        client.SendAck(tid, 1);
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);
        client.SendAck(tid, 2);
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(3, block);
        client.SendAck(tid, 3);
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(4, block);
        client.SendAck(tid, 4);
        (_, block, var last) = await client.ReceiveDataAsync();
        Assert.Equal(5, block);
        Assert.Equal(10, last.Length);
        client.SendAck(tid, 5);
        var record = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "complete");
        Assert.Equal("2", record.Detail!["duplicateAcks"]);
        Assert.Equal(5, record.PacketsOut);
    }

    [Fact]
    public async Task A_lost_ack_is_recovered_by_retransmission_and_silence_times_out()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var file = Pattern(700);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true, Time = time,
            Tftp = new TftpOptions { Root = Root(("f.bin", file)), Timeout = TimeSpan.FromSeconds(2), Retries = 3 },
        });
        using var client = new RawTftpSocket();
        client.SendRrq(server.EndPoint("udp/69"), "f.bin");
        var (tid, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(1, block);

        // Our ACK 1 is "lost": nothing is sent. The client has not been heard from yet (its address is unproven):
        // a timeout sends nothing, and its repeated RRQ brings DATA 1 again, from the same transfer port.
        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(0, client.Available);
        client.SendRrq(server.EndPoint("udp/69"), "f.bin");
        (var again1, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(1, block);
        Assert.Equal(tid, again1);
        client.SendAck(tid, 1);
        (_, block, var data) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);
        Assert.Equal(700 - 512, data.Length);

        // ACK 2 "lost" once: the client is known now, so the timeout resends DATA 2.
        time.Advance(TimeSpan.FromSeconds(2.1));
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);
        client.SendAck(tid, 2);
        var done = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "complete");
        Assert.Equal("2", done.Detail!["retransmits"]);

        // A client that answers after DATA 1 and then falls silent: three retransmissions, then an ERROR.
        var big = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true, Time = time,
            Tftp = new TftpOptions { Root = Root(("f.bin", file)), Timeout = TimeSpan.FromSeconds(2), Retries = 3 },
        });
        await using (big)
        {
            using var falls = new RawTftpSocket();
            falls.SendRrq(big.EndPoint("udp/69"), "f.bin");
            var (fallsTid, _, _) = await falls.ReceiveDataAsync();
            falls.SendAck(fallsTid, 1);
            await falls.ReceiveDataAsync();
            for (var i = 0; i < 3; i++)
            {
                time.Advance(TimeSpan.FromSeconds(2.1));
                var (_, again, _) = await falls.ReceiveDataAsync();
                Assert.Equal(2, again);
            }

            time.Advance(TimeSpan.FromSeconds(2.1));
            var (code, _, _) = await falls.ReceiveErrorAsync();
            Assert.Equal(TftpErrorCode.NotDefined, code);
            var fell = await big.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "timed out");
            Assert.Equal("512", fell.Detail!["bytes"]);
        }

        // A client never heard from (a forged source, to the server): DATA 1 once, then silence, then given up
        // without an ERROR.
        using var silent = new RawTftpSocket();
        silent.SendRrq(server.EndPoint("udp/69"), "f.bin");
        await silent.ReceiveDataAsync();
        for (var i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2.1));
        }

        var timedOut = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "timed out");
        Assert.Equal("0", timedOut.Detail!["bytes"]);
        Assert.Equal(0, silent.Available);
    }

    [Fact]
    public async Task A_retransmission_leaves_one_timeout_after_the_last_progress_not_at_the_next_tick_of_a_check()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var file = Pattern(2000);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true, Time = time,
            Tftp = new TftpOptions { Root = Root(("t.bin", file)), Timeout = TimeSpan.FromSeconds(2), Retries = 3 },
        });
        using var client = new RawTftpSocket();
        client.SendRrq(server.EndPoint("udp/69"), "t.bin");
        var (tid, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(1, block);

        // Progress at an odd moment (0.3 s): the next block is due again at 2.3 s, as docs/tftp.md says.
        time.Advance(TimeSpan.FromSeconds(0.3));
        client.SendAck(tid, 1);
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);

        // Timers of the fake clock run inside Advance, and a loopback send is queued when it returns.
        time.Advance(TimeSpan.FromSeconds(1.999));
        Assert.Equal(0, client.Available);
        time.Advance(TimeSpan.FromMilliseconds(1));
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);

        // And the next one a whole timeout after that retransmission.
        time.Advance(TimeSpan.FromSeconds(1.999));
        Assert.Equal(0, client.Available);
        time.Advance(TimeSpan.FromMilliseconds(1));
        (_, block, _) = await client.ReceiveDataAsync();
        Assert.Equal(2, block);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_window_cut_short_by_a_lost_block_restarts_after_the_acknowledged_block_and_a_silent_window_is_resent_whole(bool segmentation)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var file = Pattern((512 * 9) + 100);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true, Time = time,
            Tftp = new TftpOptions { Root = Root(("w.bin", file)), Timeout = TimeSpan.FromSeconds(2), Segmentation = segmentation },
        });
        using var client = new RawTftpSocket();
        client.SendRrq(server.EndPoint("udp/69"), "w.bin", new TftpOptionSet(512, null, null, 4));
        var (tid, oack) = await client.ReceiveAsync();
        Assert.Equal(OperationStatus.Done, TftpPacket.TryParseOptionAck(oack, out var granted, out _));
        Assert.Equal(4, granted.WindowSize);

        async Task ExpectBlocks(int first, int last)
        {
            for (var b = first; b <= last; b++)
            {
                var (from, block, data) = await client.ReceiveDataAsync();
                Assert.Equal(tid, from);
                Assert.Equal(b, block);
                Assert.Equal(file.AsSpan(512 * (b - 1), Math.Min(512, file.Length - (512 * (b - 1)))).ToArray(), data);
            }
        }

        // ACK 0 acknowledges the OACK (RFC 2347 §2): the first window, blocks 1-4, each its own datagram.
        client.SendAck(tid, 0);
        await ExpectBlocks(1, 4);

        // Block 3 "lost": the receiver acknowledges its last in-order block, 2, and the sender restarts the
        // window at 3 (RFC 7440 §4), so 3-6 come next.
        client.SendAck(tid, 2);
        await ExpectBlocks(3, 6);
        client.SendAck(tid, 6);
        await ExpectBlocks(7, 10);

        // The ACK of that window is "lost": after the timeout the whole window comes again, from 7.
        time.Advance(TimeSpan.FromSeconds(2.1));
        await ExpectBlocks(7, 10);
        client.SendAck(tid, 10);

        var record = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "complete");
        Assert.Equal(file.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), record.Detail!["bytes"]);
        Assert.Equal("1", record.Detail["retransmits"]);
        Assert.Equal(1 + 4 + 4 + 4 + 4, record.PacketsOut);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Windowed_transfers_of_cached_content_arrive_byte_for_byte(bool segmentation)
    {
        // Full windows of 1428-byte blocks, a window cut by the end of the file, and a last block of 0 bytes.
        var file = Pattern(1428 * 100);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true,
            Tftp = new TftpOptions { Root = Root(("fw.bin", file)), Segmentation = segmentation },
        });
        foreach (var window in new[] { 16, 64, 7 })
        {
            var result = await TftpClient.GetAsync(server.EndPoint("udp/69"), "fw.bin", new TftpGetOptions
            {
                Request = new TftpOptionSet(1428, 0, null, window),
                Expect = file,
            }).DefaultTimeout();
            Assert.True(result.Ok, result.Error);
            Assert.Equal(window, result.Negotiated?.WindowSize);
        }
    }

    [Fact]
    public async Task Malformed_refused_and_misdirected_packets_get_errors_and_the_server_keeps_serving()
    {
        var file = Encoding.ASCII.GetBytes("hello\n");
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("ok.txt", file)) } });
        var listener = server.EndPoint("udp/69");
        using var client = new RawTftpSocket();

        async Task<TftpErrorCode> Answer(byte[] datagram)
        {
            client.Send(listener, datagram);
            var (code, message, from) = await client.ReceiveErrorAsync();

            // A refused well-formed request is answered from a new transfer ID; everything else from the request port.
            Assert.Equal(code is TftpErrorCode.FileNotFound or TftpErrorCode.AccessViolation, from.Port != listener.Port);
            Assert.NotEmpty(message);
            return code;
        }

        // A single byte draws nothing: no ERROR fits within 3 times it (AmplificationTests).
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer([0, 9, 1, 2]));
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer([0, 1, (byte)'a', (byte)'b']));
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer([0, 1, (byte)'a', 0, (byte)'o', (byte)'c']));
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer([0, 1, (byte)'a', 0, .. "bogus"u8, 0]));
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer([0, 1, (byte)'a', 0, .. "mail"u8, 0]));
        Assert.Equal(TftpErrorCode.OptionNegotiationFailed, await Answer([0, 1, (byte)'a', 0, .. "octet"u8, 0, .. "blksize"u8, 0, .. "1"u8, 0]));
        Assert.Equal(TftpErrorCode.OptionNegotiationFailed, await Answer([0, 1, (byte)'a', 0, .. "octet"u8, 0, .. "windowsize"u8, 0, .. "999999"u8, 0]));
        Assert.Equal(TftpErrorCode.IllegalOperation, await Answer(new byte[600]));
        Assert.Equal(TftpErrorCode.AccessViolation, await Answer([0, 2, .. "ok.txt"u8, 0, .. "octet"u8, 0]));
        Assert.Equal(TftpErrorCode.UnknownTransferId, await Answer([0, 4, 0, 1]));
        Assert.Equal(TftpErrorCode.UnknownTransferId, await Answer([0, 3, 0, 1, 1, 2]));

        foreach (var name in new[] { "/etc/passwd", "../ok.txt", "a/../../ok.txt", "a//b", "C:\\boot.ini", "..\\ok.txt" })
        {
            var buffer = new byte[512];
            Assert.Equal(TftpErrorCode.AccessViolation, await Answer(buffer[..TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, name, TftpMode.Octet, default)]));
        }

        foreach (var name in new[] { "missing.bin", "CTLSEP001122334455.tlv", "ITLSEP001122334455.tlv", "ITLFile.tlv" })
        {
            var buffer = new byte[512];
            Assert.Equal(TftpErrorCode.FileNotFound, await Answer(buffer[..TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, name, TftpMode.Octet, default)]));
        }

        // An ERROR to the request port is never answered; the next valid request still is.
        client.Send(listener, [0, 5, 0, 0, (byte)'x', 0]);
        var random = new Random(69);
        for (var i = 0; i < 200; i++)
        {
            var junk = new byte[random.Next(2, 600)];
            random.NextBytes(junk);
            junk[0] = 0;
            junk[1] = (byte)random.Next(0, 2) == 0 ? (byte)1 : (byte)random.Next(0, 256);
            client.Send(listener, junk);
        }

        var result = await TftpClient.GetAsync(listener, "OK.TXT", new TftpGetOptions { Expect = file }).DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        Assert.True(server.Listeners.Single(l => l.Id == "udp/69").Malformed > 0);
    }

    [Fact]
    public async Task An_rrq_flood_is_bounded_and_the_server_serves_after_it()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var file = Pattern(2000);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true, Time = time,
            Tftp = new TftpOptions { Root = Root(("f.bin", file)), MaxTransfers = 16, Retries = 1 },
        });
        var listener = server.EndPoint("udp/69");
        var sockets = Enumerable.Range(0, 200).Select(_ => new RawTftpSocket()).ToList();
        try
        {
            // Bursts of 50 requests (each sent twice), as fast as the socket sends: the listener's receive
            // buffer holds a burst, so every request gets an answer to count.
            int data = 0, busy = 0;
            foreach (var burst in sockets.Chunk(50))
            {
                foreach (var s in burst)
                {
                    s.SendRrq(listener, "f.bin");
                    s.SendRrq(listener, "f.bin");
                }

                foreach (var s in burst)
                {
                    var (_, packet) = await s.ReceiveAsync();
                    if (TftpPacket.TryParseData(packet, out _, out _))
                    {
                        data++;
                    }
                    else
                    {
                        Assert.True(TftpPacket.TryParseError(packet, out var code, out _));
                        Assert.Equal(TftpErrorCode.NotDefined, code);
                        busy++;
                    }
                }
            }

            Assert.Equal(16, data);
            Assert.Equal(184, busy);
            Assert.Equal(16, server.Context.Provisioning!.ActiveTransfers);

            // The flood never acknowledges: its transfers time out and free their slots.
            for (var i = 0; i < 4; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1.1));
            }

            await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "timed out");
            Assert.Equal(0, server.Context.Provisioning.ActiveTransfers);
            var result = await TftpClient.GetAsync(listener, "f.bin", new TftpGetOptions { Expect = file }).DefaultTimeout();
            Assert.True(result.Ok, result.Error);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Block_numbers_roll_over_past_65535_with_windows()
    {
        var file = Pattern((65536 * 8) + 100, seed: 65535);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("big.bin", file)) } });
        var result = await TftpClient.GetAsync(server.EndPoint("udp/6969"), "big.bin", new TftpGetOptions
        {
            Request = new TftpOptionSet(8, 0, null, 64),
            Expect = file,
        }).DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        Assert.Equal(new TftpOptionSet(8, file.Length, null, 64), result.Negotiated);
        var record = await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "complete");
        Assert.Equal(file.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), record.Detail!["bytes"]);
    }

    [Fact]
    public async Task Single_port_and_pinned_range_modes_send_from_the_expected_ports()
    {
        var file = Pattern(3000);
        var root = Root(("f.bin", file));
        await using (var single = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = root, PortMode = TftpPortMode.Single } }))
        {
            var listener = single.EndPoint("udp/69");
            var result = await TftpClient.GetAsync(listener, "f.bin", new TftpGetOptions { Expect = file, Request = new TftpOptionSet(1024, 0, null, null) }).DefaultTimeout();
            Assert.True(result.Ok, result.Error);
            Assert.Equal(listener, result.DataEndPoint);
        }

        var low = 47000 + Random.Shared.Next(0, 2000);
        await using var ranged = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true,
            Tftp = new TftpOptions { Root = root, PortMode = TftpPortMode.Range, DataPorts = new CucmSim.Catalog.PortRange(low, low + 20) },
        });
        for (var i = 0; i < 3; i++)
        {
            var result = await TftpClient.GetAsync(ranged.EndPoint("udp/69"), "f.bin", new TftpGetOptions { Expect = file }).DefaultTimeout();
            Assert.True(result.Ok, result.Error);
            Assert.InRange(result.DataEndPoint!.Port, low, low + 20);
        }
    }

    [Fact]
    public async Task Generated_configs_name_the_external_address_the_profile_ports_and_the_requester()
    {
        var external = IPAddress.Parse("192.0.2.10");
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = Flows, EphemeralPorts = true,
            Identity = new ServerIdentity { ExternalAddress = external },
            Tftp = new TftpOptions { DeviceProtocol = "sccp" },
        });
        var result = await TftpClient.GetAsync(server.EndPoint("udp/69"), "sepaabbccddeeff.CNF.XML").DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        var xml = System.Xml.Linq.XDocument.Parse(Encoding.UTF8.GetString(result.Content!));
        var text = Encoding.UTF8.GetString(result.Content!);
        Assert.Equal("SCCP", xml.Root!.Element("deviceProtocol")!.Value);
        var ports = xml.Descendants("callManager").Single().Element("ports")!;
        Assert.Equal("2000", ports.Element("ethernetPhonePort")!.Value);
        Assert.Equal("5060", ports.Element("sipPort")!.Value);
        Assert.Equal("5061", ports.Element("securedSipPort")!.Value);
        Assert.Equal("2427", ports.Element("mgcpPorts")!.Element("listen")!.Value);
        Assert.Equal("2428", ports.Element("mgcpPorts")!.Element("keepAlive")!.Value);
        Assert.Equal("192.0.2.10", xml.Descendants("processNodeName").First().Value);
        Assert.Equal("2445", xml.Descendants("TVS").Descendants("port").Single().Value);
        Assert.Equal("3804", xml.Descendants("capf").Single().Element("phonePort")!.Value);
        Assert.Equal("http://192.0.2.10:8080/ccmcip/authenticate.jsp", xml.Root.Element("authenticationURL")!.Value);
        Assert.Contains("served to 127.0.0.1:", text, StringComparison.Ordinal);
        Assert.Contains("over tftp", text, StringComparison.Ordinal);

        var sip = await ProvisioningClient.HttpGetAsync(server.EndPoint("tcp/6970"), "XMLDefault.cnf.xml", https: false).DefaultTimeout();
        Assert.True(sip.Ok, sip.Error);
        var defaults = System.Xml.Linq.XDocument.Parse(Encoding.UTF8.GetString(sip.Content!));
        Assert.Equal("Default", defaults.Root!.Name.LocalName);
        Assert.Contains("over http", Encoding.UTF8.GetString(sip.Content!), StringComparison.Ordinal);

        var list = await TftpClient.GetAsync(server.EndPoint("udp/69"), "ConfigFileCacheList.txt").DefaultTimeout();
        Assert.True(list.Ok, list.Error);
        Assert.Contains("XMLDefault.cnf.xml", Encoding.ASCII.GetString(list.Content!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_provisioning_client_names_the_channel_that_failed()
    {
        var file = Pattern(900);
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = Flows, EphemeralPorts = true, Tftp = new TftpOptions { Root = Root(("f.bin", file)) } });
        using var closed = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var dead = (IPEndPoint)closed.LocalEndPoint!;
        var all = await ProvisioningClient.FetchAsync(new ProvisioningTargets(server.EndPoint("udp/69"), server.EndPoint("tcp/6970"), server.EndPoint("tcp/6971")), "f.bin").DefaultTimeout();
        Assert.True(all.Ok, all.Failures);
        Assert.All(all.Channels, c => Assert.Equal(file, c.Content));

        var broken = await ProvisioningClient.FetchAsync(new ProvisioningTargets(server.EndPoint("udp/69"), dead, server.EndPoint("tcp/6972")), "f.bin").DefaultTimeout();
        Assert.False(broken.Ok);
        Assert.StartsWith("http:", broken.Failures, StringComparison.Ordinal);
        Assert.DoesNotContain("tftp:", broken.Failures, StringComparison.Ordinal);
    }
}

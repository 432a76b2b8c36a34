using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Tftp;
using CucmSim.Serve;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Tftp;

/// <summary>What a capture on the emulator's own loopback shows of a windowed transfer.</summary>
public sealed class TftpCaptureTests
{
    [Fact]
    public async Task Without_segmentation_offload_a_capture_on_the_host_shows_every_block_as_its_own_datagram()
    {
        const int BlockSize = 1428;
        var file = TftpServerTests.Pattern((BlockSize * 20) + 5);
        await using var server = await SimHost.StartAsync(new ServeOptions
        {
            Only = TftpServerTests.Flows, EphemeralPorts = true,
            Tftp = new TftpOptions { Root = TftpServerTests.Root(("w.bin", file)), Segmentation = false },
        });
        using var client = new RawTftpSocket();
        using var marker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        marker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var markerPort = ((IPEndPoint)marker.LocalEndPoint!).Port;
        var capture = Path.Combine(SimHost.TempDirectory(), "window.pcapng");

        // Only what reaches our client's port, and the markers that tell when the capture has caught up.
        using var tshark = await TsharkCapture.StartAsync($"udp and (dst port {client.Local.Port} or dst port {markerPort})", capture, bufferMegabytes: 16);
        IPEndPoint tid;
        try
        {
            // The first packets after "Capture started" can still be missed: mark until one is in the file.
            Assert.True(await MarkUntilCapturedAsync(marker, capture, markerPort), $"capture never started: {tshark.Stderr}");

            client.SendRrq(server.EndPoint("udp/69"), "w.bin", new TftpOptionSet(BlockSize, null, null, 8));
            (tid, var oack) = await client.ReceiveAsync();
            Assert.Equal(OperationStatus.Done, TftpPacket.TryParseOptionAck(oack, out _, out _));
            client.SendAck(tid, 0);
            for (var block = 1; block <= 21; block++)
            {
                var (_, number, _) = await client.ReceiveDataAsync();
                Assert.Equal(block, number);
                if (block % 8 == 0 || block == 21)
                {
                    client.SendAck(tid, (ushort)block);
                }
            }

            await server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Verdict == "complete");
            Assert.True(await MarkUntilCapturedAsync(marker, capture, markerPort), $"capture did not catch up: {tshark.Stderr}");
        }
        finally
        {
            await tshark.StopAsync().DefaultTimeout();
        }

        // The OACK and 21 DATA datagrams, none longer than one block (UDP header 8 + TFTP header 4 + 1428).
        var lengths = await ExternalTool.RunAsync("tshark", ["-r", capture, "-Y", $"udp.srcport == {tid.Port}", "-T", "fields", "-e", "udp.length"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(lengths.ExitCode == 0, lengths.All);
        var sizes = lengths.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => int.Parse(l.Trim(), CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(22, sizes.Count);
        Assert.All(sizes, size => Assert.InRange(size, 8 + 4, 8 + 4 + BlockSize));
        Assert.Equal(8 + 4 + 5, sizes[^1]);
    }

    /// <summary>Sends marker datagrams until the capture file holds one of them (bounded): it has caught up.</summary>
    private static async Task<bool> MarkUntilCapturedAsync(Socket marker, string capture, int markerPort)
    {
        var token = "cucmsim-mark-" + Guid.NewGuid().ToString("N");
        for (var attempt = 0; attempt < 40; attempt++)
        {
            marker.SendTo(Encoding.ASCII.GetBytes(token), new IPEndPoint(IPAddress.Loopback, markerPort));
            var seen = await ExternalTool.RunAsync("tshark", ["-r", capture, "-Y", $"udp.dstport == {markerPort} && frame contains \"{token}\""], TimeSpan.FromSeconds(30)).DefaultTimeout();
            if (seen.Stdout.Trim().Length > 0)
            {
                return true;
            }
        }

        return false;
    }
}

using System.Net;
using System.Net.Http.Json;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>Tests that run alone: they bind real, well-known ports, or depend on an outside tool's fixed waits (nmap).</summary>
[CollectionDefinition("real ports", DisableParallelization = true)]
public sealed class RealPortsCollection;

[Collection("real ports")]
public sealed class FullProfileTests
{
    [Fact]
    public async Task Full_profile_binds_every_listener_and_every_one_echoes()
    {
        await using var server = await SimServer.StartAsync(new ServeOptions
        {
            Control = new IPEndPoint(IPAddress.Loopback, 0),
            StateDirectory = SimHost.TempDirectory(),
        }).DefaultTimeout();

        Assert.Equal(107, server.Listeners.Count(l => l.Transport == "tcp"));
        Assert.Equal(19, server.Listeners.Count(l => l.Transport == "udp"));
        if (!Environment.IsPrivilegedProcess)
        {
            // Without root the privileged ports fail, each with the fix; everything else still serves.
            Assert.All(server.Listeners.Where(l => l.Status == ListenerStatus.Failed), l =>
            {
                Assert.True(l.Port < 1024, $"{l.Id}: {l.Error}");
                Assert.Contains("CAP_NET_BIND_SERVICE", l.Fix);
                Assert.Contains("--port-offset", l.Fix);
            });
        }
        else
        {
            Assert.True(server.Complete, string.Join("; ", server.Listeners.Where(l => l.Error is not null).Select(l => $"{l.Id}: {l.Error}")));
            Assert.Equal(8189, server.Rtp!.Bound);
        }

        await ProbeEveryListenerAsync(server, IPAddress.Loopback);

        // A scanner no one here wrote sees every bound TCP listener open.
        var tcpPorts = server.Listeners.Where(l => l.Transport == "tcp" && l.Status == ListenerStatus.Bound).Select(l => l.BoundEndPoint!.Port).ToList();
        var scan = await ExternalTool.RunAsync("nmap", ["-n", "-Pn", "-sT", "--max-retries", "1", "-p", string.Join(",", tcpPorts), "-oG", "-", "127.0.0.1"], TimeSpan.FromSeconds(60));
        Assert.Equal(0, scan.ExitCode);
        foreach (var port in tcpPorts)
        {
            Assert.Contains($"{port}/open/tcp", scan.Stdout);
        }

        // And netcat, over both transports, gets the echo with the peer it connected from.
        var nc = await ExternalTool.RunAsync("nc", ["-q", "1", "127.0.0.1", server.EndPoint("tcp/2000").Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), stdin: "CUCMSIM-PROBE from-netcat\n");
        Assert.StartsWith("CUCMSIM-ECHO from-netcat tcp/2000 ", nc.Stdout);
        var ncu = await ExternalTool.RunAsync("nc", ["-u", "-w", "1", "127.0.0.1", server.EndPoint("udp/5060").Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), stdin: "CUCMSIM-PROBE from-netcat-udp");
        Assert.StartsWith("CUCMSIM-ECHO from-netcat-udp udp/5060 ", ncu.Stdout);

        // The RTP pool echoes too: its first, last and a sample of ports, over IPv6 as well (one dual-stack socket per port).
        var pool = server.Plan.Rtp!.Ranges.SelectMany(r => Enumerable.Range(r.Low, r.Count)).ToArray();
        foreach (var port in pool.Where((_, i) => i % 512 == 0).Append(pool[^1]))
        {
            var v4 = await EchoClient.UdpAsync(new IPEndPoint(IPAddress.Loopback, port)).DefaultTimeout();
            Assert.True(v4.Ok, $"rtp {port}: {v4.Error}");
            Assert.Equal($"udp/{port}", v4.Reply!.Value.ListenerId);
            var v6 = await EchoClient.UdpAsync(new IPEndPoint(IPAddress.IPv6Loopback, port)).DefaultTimeout();
            Assert.True(v6.Ok, $"rtp [::1]:{port}: {v6.Error}");
        }

        // The control API agrees with what was bound and hit.
        using var http = server.Control();
        var listeners = await http.GetFromJsonAsync<ListenerView[]>("/api/listeners").DefaultTimeout();
        Assert.Equal(127, listeners!.Length);
        foreach (var l in server.Listeners.Where(l => l.Status == ListenerStatus.Bound))
        {
            var view = listeners.Single(v => v.Id == l.Id);
            Assert.Equal("bound", view.State);
            Assert.Equal(l.BoundEndPoint!.Port, view.BoundPort);
            Assert.True(view.Hits >= 1, $"{l.Id} shows no hit");
            Assert.Equal("127.0.0.1", IPEndPoint.Parse(view.LastPeer!).Address.ToString());
        }
    }

    [Fact]
    public async Task Port_offset_shifts_every_listener()
    {
        // 4000 keeps every port below 65536 and the UDP ones out of the system's ephemeral range; the media
        // pool would shift into it, so it stays out of this run (the run above covers it). Some TCP ports land in
        // the ephemeral range (50002 + 4000), where a client socket of an earlier test, still open on 127.0.0.1 (a
        // pooled HTTP connection in CLOSE_WAIT), can hold the port: on an address of its own, only a wildcard bind can.
        var address = UniqueLoopback.Address(206);
        await using var server = await SimServer.StartAsync(new ServeOptions
        {
            PortOffset = 4000,
            Except = ["rtp"],
            Bind = [address],
            Control = new IPEndPoint(IPAddress.Loopback, 0),
            StateDirectory = SimHost.TempDirectory(),
        }).DefaultTimeout();

        Assert.Equal(126, server.Listeners.Count);
        Assert.True(server.Complete, string.Join("; ", server.Listeners.Where(l => l.Error is not null).Select(l => $"{l.Id}: {l.Error}")));
        Assert.All(server.Listeners, l => Assert.Equal((address, l.Spec.Port + 4000), (l.BoundEndPoint!.Address, l.BoundEndPoint.Port)));
        await ProbeEveryListenerAsync(server, address);
    }

    private static async Task ProbeEveryListenerAsync(SimServer server, IPAddress address)
    {
        var results = new List<EchoResult>();
        foreach (var l in server.Listeners.Where(l => l.Status == ListenerStatus.Bound))
        {
            var target = new IPEndPoint(address, l.BoundEndPoint!.Port);
            var result = l.Transport == "tcp"
                ? await EchoClient.TcpAsync(target).DefaultTimeout()
                : await EchoClient.UdpAsync(target).DefaultTimeout();
            Assert.True(result.Ok, $"{l.Id} at {target}: {result.Error}");
            Assert.Equal(l.Spec.Id, result.Reply!.Value.ListenerId);
            Assert.Equal(target.Port, result.Reply.Value.Local.Port);
            results.Add(result);
        }

        // Every probe is in the ledger with the peer tuple the listener saw.
        foreach (var r in results)
        {
            var record = await server.WaitForRecordAsync(x => x.Nonce == r.Nonce && x.Kind is "tcp-close" or "udp-flow").DefaultTimeout();
            Assert.Equal(r.Reply!.Value.PeerAsSeen.ToString(), record.Peer);
            Assert.Equal("echo", record.Verdict);
            Assert.Equal(r.Transport, record.Transport);
            Assert.Equal(server.Listeners.Single(l => l.Id == r.Reply.Value.ListenerId).Spec.Flows.Select(f => f.Id), record.Flows!);
        }
    }
}

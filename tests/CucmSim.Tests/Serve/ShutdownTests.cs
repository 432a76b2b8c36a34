using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class ShutdownTests
{
    private static async Task<(CucmSimProcess Child, string Ledger, ListenerView[] Listeners)> StartChildAsync()
    {
        var ledger = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var child = CucmSimProcess.Start("serve", "--only", "t6.sccp,t2.snmp", "--bind", "127.0.0.1", "--ephemeral-ports",
            "--control", "127.0.0.1:0", "--ledger", ledger, "--state-dir", SimHost.TempDirectory());
        await child.ReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{child.Control}") };
        var listeners = await http.GetFromJsonAsync<ListenerView[]>("/api/listeners").DefaultTimeout();
        return (child, ledger, listeners!);
    }

    private static IPEndPoint At(ListenerView[] listeners, string id) => new(IPAddress.Loopback, listeners.Single(l => l.Id == id).BoundPort!.Value);

    private static List<JsonElement> ReadLedger(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public async Task Sigterm_drains_open_connections_and_flushes_the_ledger()
    {
        var (child, ledger, listeners) = await StartChildAsync();
        await using var _ = child;

        // A connection that stays open across the signal, and a UDP flow still live.
        using var open = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await open.ConnectAsync(At(listeners, "tcp/2000")).DefaultTimeout();
        await open.SendAsync(Encoding.ASCII.GetBytes("CUCMSIM-PROBE held-open\n")).DefaultTimeout();
        var buffer = new byte[256];
        Assert.True(await open.ReceiveAsync(buffer).DefaultTimeout() > 0);
        var udp = await EchoClient.UdpAsync(At(listeners, "udp/161"), "live-flow").DefaultTimeout();
        Assert.True(udp.Ok, udp.Error);

        child.Signal(CucmSimProcess.SigTerm);
        Assert.Equal(0, await child.ExitAsync());
        Assert.Contains("SIGTERM: draining", child.Output);

        // The server closed the held connection: the peer sees end of stream.
        Assert.Equal(0, await open.ReceiveAsync(buffer).DefaultTimeout());

        var records = ReadLedger(ledger);
        var close = records.Single(r => r.GetProperty("kind").GetString() == "tcp-close" && r.TryGetProperty("nonce", out var n) && n.GetString() == "held-open");
        Assert.Equal("shutdown", close.GetProperty("closed").GetString());
        var flowEnd = records.Single(r => r.GetProperty("kind").GetString() == "udp-flow-end");
        Assert.Equal("shutdown", flowEnd.GetProperty("closed").GetString());
        Assert.Equal(1, flowEnd.GetProperty("packetsIn").GetInt64());
        Assert.Equal("stopped", records[^1].GetProperty("verdict").GetString());
        Assert.Equal(Enumerable.Range(1, records.Count).Select(i => (long)i), records.Select(r => r.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task Kill_9_keeps_everything_flushed_before_it()
    {
        var (child, ledger, listeners) = await StartChildAsync();
        await using var _ = child;
        var probe = await EchoClient.UdpAsync(At(listeners, "udp/161"), "before-the-kill").DefaultTimeout();
        Assert.True(probe.Ok, probe.Error);

        // The writer flushes to the kernel whenever its queue drains, and at least once a second.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (!File.ReadAllText(ledger).Contains("before-the-kill", StringComparison.Ordinal))
        {
            await Task.Delay(20, cts.Token);
        }

        child.Signal(CucmSimProcess.SigKill);
        await child.ExitAsync();
        var records = ReadLedger(ledger);
        Assert.Contains(records, r => r.TryGetProperty("nonce", out var n) && n.GetString() == "before-the-kill");
        Assert.DoesNotContain(records, r => r.TryGetProperty("verdict", out var v) && v.GetString() == "stopped");
    }
}

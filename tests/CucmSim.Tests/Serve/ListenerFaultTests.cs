using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CucmSim.Clients.Echo;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>
/// A listener's socket failing at runtime: serve runs as a process with a known descriptor headroom, its descriptor
/// limit is lowered with prlimit to what it holds plus the headroom plus a few, and one TCP listener is given more
/// connections than that. The connections that would eat into the headroom are reset and counted, the rest serve,
/// the failure is logged, /healthz says degraded and names the listener, the control API still takes a new
/// connection (it keeps a quarter of the headroom), and all is well again once the connections close.
/// </summary>
public sealed class ListenerFaultTests
{
    /// <summary>Descriptors serve keeps free below its limit (--fd-headroom).</summary>
    private const int Headroom = 32;

    /// <summary>Descriptors left for connections under the lowered limit.</summary>
    private const int Spare = 8;

    /// <summary>Connections opened at the listener: many more than <see cref="Spare"/>.</summary>
    private const int Connections = 48;

    [Fact]
    public async Task Out_of_descriptors_one_listener_is_degraded_the_rest_serve_and_it_recovers()
    {
        await using var serve = CucmSimProcess.Start("serve", "--only", "t6.sccp,t6.capf,t6.tvs,t8.ac-register", "--ephemeral-ports", "--bind", "127.0.0.1",
            "--control", "127.0.0.1:0", "--state-dir", SimHost.TempDirectory(), "--ledger", Path.Combine(SimHost.TempDirectory(), "ledger.jsonl"),
            "--fd-headroom", Headroom.ToString(CultureInfo.InvariantCulture));
        await serve.ReadyAsync();

        // One control connection, opened now and kept.
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        { BaseAddress = new Uri($"http://{serve.Control}"), Timeout = TimeSpan.FromSeconds(10) };
        var listeners = JsonDocument.Parse(await http.GetStringAsync("/api/listeners").DefaultTimeout()).RootElement.EnumerateArray()
            .ToDictionary(l => l.GetProperty("id").GetString()!, l => l.TryGetProperty("boundPort", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : 0);
        Assert.True(listeners.Count(l => l.Key.StartsWith("tcp/", StringComparison.Ordinal)) >= 2, string.Join(", ", listeners.Keys));
        var sccp = new IPEndPoint(IPAddress.Loopback, listeners["tcp/2000"]);
        var udp = new IPEndPoint(IPAddress.Loopback, listeners["udp/3224"]);
        Assert.DoesNotContain(await DegradedAsync(http), d => d.StartsWith("tcp/2000:", StringComparison.Ordinal));

        // Mid-run: the listener has served before.
        var served = await EchoClient.TcpAsync(sccp, timeout: TimeSpan.FromSeconds(5));
        Assert.True(served.Ok, served.Error);

        await UntilAsync(http, c => c.Active == 0);
        var limit = Descriptors(serve.Pid).Count + Headroom + Spare;
        await RunAsync("prlimit", $"--pid {serve.Pid} --nofile={limit}:{limit}");

        var clients = new List<Socket>();
        try
        {
            var refusing = serve.LineAsync(new Regex(@"tcp/2000: fewer than \d+ descriptors left", RegexOptions.CultureInvariant));
            for (var i = 0; i < Connections; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                try
                {
                    await client.ConnectAsync(sccp).DefaultTimeout();
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // Refused so fast that the reset arrived before the client saw its connection complete.
                }
            }

            // The failure is logged; every connection is either served or reset at once (none waits in the backlog),
            // and the connections served leave the headroom free.
            await refusing;
            var (active, refused) = await UntilAsync(http, c => c.Active + c.Refused == Connections);
            Assert.True(refused >= Connections - Spare - 1, $"{refused} refused, {active} served");
            var open = Descriptors(serve.Pid).Count;
            Assert.True(open <= limit - Headroom, $"{open} descriptors open under a limit of {limit}: fewer than the headroom of {Headroom} left ({active} connections served)");

            // The process lives, a UDP listener answers, the kept control connection and a new one both answer.
            Assert.True(Directory.Exists($"/proc/{serve.Pid}"), "serve exited");
            var echo = await EchoClient.UdpAsync(udp);
            Assert.True(echo.Ok, echo.Error);
            Assert.Contains(await DegradedAsync(http), d => d.StartsWith("tcp/2000: refusing connections", StringComparison.Ordinal));
            using (var fresh = new HttpClient { BaseAddress = new Uri($"http://{serve.Control}"), Timeout = TimeSpan.FromSeconds(10) })
            using (var health = JsonDocument.Parse(await fresh.GetStringAsync("/healthz").DefaultTimeout()))
            {
                Assert.Equal("degraded", health.RootElement.GetProperty("status").GetString());
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        // The connections closed: once serve has closed its side (a descriptor below the headroom is free again),
        // the listener serves, and the connection that does so clears the mark.
        await UntilAsync(http, c => c.Active == 0);
        var clock = Stopwatch.StartNew();
        while (LowestFree(serve.Pid) >= limit - Headroom)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"no descriptor below {limit - Headroom} freed: {Descriptors(serve.Pid).Count} open");
            await Task.Delay(20);
        }

        var recovered = serve.LineAsync(new Regex(@"tcp/2000: accepting connections works again", RegexOptions.CultureInvariant));
        var again = await EchoClient.TcpAsync(sccp, timeout: TimeSpan.FromSeconds(5));
        Assert.True(again.Ok, again.Error);
        await recovered;
        Assert.DoesNotContain(await DegradedAsync(http), d => d.StartsWith("tcp/2000:", StringComparison.Ordinal));
    }

    /// <summary>The process's open descriptors by number.</summary>
    private static HashSet<int> Descriptors(int pid) =>
        [.. Directory.GetFiles($"/proc/{pid}/fd").Select(f => int.Parse(Path.GetFileName(f), CultureInfo.InvariantCulture))];

    /// <summary>The number the process's next descriptor gets (the lowest free one).</summary>
    private static int LowestFree(int pid)
    {
        var open = Descriptors(pid);
        var n = 0;
        while (open.Contains(n))
        {
            n++;
        }

        return n;
    }

    /// <summary>Polls tcp/2000's open and refused connection counts (from /metrics) until <paramref name="done"/>, at most 10 s.</summary>
    private static async Task<(long Active, long Refused)> UntilAsync(HttpClient http, Func<(long Active, long Refused), bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var page = await http.GetStringAsync("/metrics").DefaultTimeout();
            var counts = (Value(page, "cucmsim_connections_active"), Value(page, "cucmsim_connections_refused_total"));
            if (done(counts))
            {
                return counts;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"tcp/2000: {counts.Item1} open, {counts.Item2} refused after 10 s");
            await Task.Delay(20);
        }

        static long Value(string page, string name) =>
            long.Parse(Regex.Match(page, $@"^{name}\{{listener=""tcp/2000"",[^}}]*\}} (\d+)$", RegexOptions.Multiline | RegexOptions.CultureInvariant).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>The listeners /healthz names as degraded (other causes, such as an RTP port taken by another process, may be there too).</summary>
    private static async Task<string[]> DegradedAsync(HttpClient http)
    {
        using var health = JsonDocument.Parse(await http.GetStringAsync("/healthz").DefaultTimeout());
        return health.RootElement.GetProperty("degraded").EnumerateArray().Select(d => d.GetString()!).ToArray();
    }

    private static async Task RunAsync(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().DefaultTimeout();
        Assert.True(process.ExitCode == 0, $"{file} {arguments}: {await error}");
    }
}

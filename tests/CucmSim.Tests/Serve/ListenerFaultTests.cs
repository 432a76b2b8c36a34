using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CucmSim.Clients.Echo;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

/// <summary>
/// A listener's socket failing at runtime: serve runs as a process, its descriptor limit is lowered with prlimit to
/// what it holds plus a few, and one TCP listener is given more connections than that. The rest serve, the failure
/// is logged, /healthz says degraded and names the listener, and all is well again once the connections close.
/// </summary>
public sealed class ListenerFaultTests
{
    /// <summary>Descriptors left free under the lowered limit.</summary>
    private const int Spare = 4;

    /// <summary>Connections opened at the listener: many more than <see cref="Spare"/>, so some wait in its backlog.</summary>
    private const int Connections = 32;

    [Fact]
    public async Task Out_of_descriptors_one_listener_is_degraded_the_rest_serve_and_it_recovers()
    {
        await using var serve = CucmSimProcess.Start("serve", "--only", "t6.sccp,t6.capf,t6.tvs,t8.ac-register", "--ephemeral-ports", "--bind", "127.0.0.1",
            "--control", "127.0.0.1:0", "--state-dir", SimHost.TempDirectory(), "--ledger", Path.Combine(SimHost.TempDirectory(), "ledger.jsonl"));
        await serve.ReadyAsync();

        // One control connection, opened now and kept: under the limit no new one could be accepted.
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

        // Mid-run: the listener has served before (the runtime loads code lazily, and under the limit it could not).
        var served = await EchoClient.TcpAsync(sccp, timeout: TimeSpan.FromSeconds(5));
        Assert.True(served.Ok, served.Error);

        var open = Directory.GetFiles($"/proc/{serve.Pid}/fd").Length;
        await RunAsync("prlimit", $"--pid {serve.Pid} --nofile={open + Spare}:{open + Spare}");

        var clients = new List<Socket>();
        try
        {
            var failing = serve.LineAsync(new Regex(@"tcp/2000: accepting connections fails", RegexOptions.CultureInvariant));
            for (var i = 0; i < Connections; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(sccp).DefaultTimeout();
            }

            // The failure is logged, the process lives, a UDP listener and the control API answer.
            await failing;
            Assert.True(Directory.Exists($"/proc/{serve.Pid}"), "serve exited");
            var echo = await EchoClient.UdpAsync(udp);
            Assert.True(echo.Ok, echo.Error);
            using (var health = JsonDocument.Parse(await http.GetStringAsync("/healthz").DefaultTimeout()))
            {
                Assert.Equal("degraded", health.RootElement.GetProperty("status").GetString());
                Assert.Contains(health.RootElement.GetProperty("degraded").EnumerateArray(), d => d.GetString()!.StartsWith("tcp/2000:", StringComparison.Ordinal));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        // The connections closed, the listener accepts again (this echo needs it), and once the connections that
        // waited in its backlog are taken and closed (each retry is 200 ms away) /healthz no longer names it.
        var again = await EchoClient.TcpAsync(sccp, timeout: TimeSpan.FromSeconds(5));
        Assert.True(again.Ok, again.Error);
        await serve.LineAsync(new Regex(@"tcp/2000: accepting connections works again", RegexOptions.CultureInvariant));
        var clock = Stopwatch.StartNew();
        string[] degraded;
        for (var i = 0; (degraded = await DegradedAsync(http)).Any(d => d.StartsWith("tcp/2000:", StringComparison.Ordinal)); i++)
        {
            Assert.True(i < 100 && clock.Elapsed < TimeSpan.FromSeconds(10), $"tcp/2000 still degraded after 10 s: {string.Join("; ", degraded)}\n{serve.Output}");
            await Task.Delay(100);
        }
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

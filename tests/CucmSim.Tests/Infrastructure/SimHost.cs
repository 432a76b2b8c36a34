using System.Net;
using CucmSim.Serve;

namespace CucmSim.Tests.Infrastructure;

/// <summary>Starts the real serving host in-process for a test, with loopback addresses and a temporary state directory.</summary>
public static class SimHost
{
    /// <summary>Writes a profile to a temporary file and returns its path (profiles may extend "cucm").</summary>
    public static string WriteProfile(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cucmsim-test-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cucmsim-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// Starts a server bound to 127.0.0.1. Unless the options say otherwise: every listener on an ephemeral
    /// port, the control API on an ephemeral port, the ledger in memory, state in a temporary directory.
    /// </summary>
    public static Task<SimServer> StartAsync(ServeOptions options) =>
        SimServer.StartAsync(options with
        {
            Bind = options.Bind.Count > 0 ? options.Bind : [IPAddress.Loopback],
            Control = options.Control ?? new IPEndPoint(IPAddress.Loopback, 0),
            StateDirectory = options.StateDirectory == new ServeOptions().StateDirectory ? TempDirectory() : options.StateDirectory,
        }).DefaultTimeout();

    /// <summary>The bound endpoint of a listener by id ("tcp/2000").</summary>
    public static IPEndPoint EndPoint(this SimServer server, string listenerId) =>
        server.Listeners.Single(l => l.Id == listenerId).BoundEndPoint ?? throw new InvalidOperationException($"{listenerId} is not bound");

    public static HttpClient Control(this SimServer server) =>
        new() { BaseAddress = new Uri($"http://{server.ControlEndPoint}"), Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Waits until the ledger holds a record matching the predicate.</summary>
    public static async Task<LedgerRecord> WaitForRecordAsync(this SimServer server, Func<LedgerRecord, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TaskTimeout.Default);
        long since = 0;
        while (true)
        {
            foreach (var r in server.Ledger.Since(since, 10_000))
            {
                if (match(r))
                {
                    return r;
                }

                since = r.Seq;
            }

            try
            {
                await server.Ledger.WaitForNewerAsync(since, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("no matching ledger record");
            }
        }
    }
}

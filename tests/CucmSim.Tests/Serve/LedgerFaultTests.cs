using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CucmSim.Clients.Echo;
using CucmSim.Probe;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CucmSim.Tests.Serve;

/// <summary>The ledger on a full disk (a small tmpfs mounted for the test), and a torn last line.</summary>
public sealed class LedgerFaultTests
{
    [Fact]
    public async Task On_a_full_disk_serving_goes_on_drops_are_counted_logged_once_a_minute_and_writing_resumes()
    {
        var dir = SimHost.TempDirectory();
        var mount = await ExternalTool.RunAsync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir], TimeSpan.FromSeconds(10)).DefaultTimeout();
        Assert.True(mount.ExitCode == 0, $"mounting a tmpfs needs root: {mount.All}");
        try
        {
            var log = new CapturingLoggers();
            var ledgerPath = Path.Combine(dir, "ledger.jsonl");
            await using var server = await SimServer.StartAsync(new ServeOptions
            {
                Only = ["t6.sccp"], EphemeralPorts = true, Bind = [IPAddress.Loopback], Control = new IPEndPoint(IPAddress.Loopback, 0),
                StateDirectory = SimHost.TempDirectory(), LedgerPath = ledgerPath,
            }, log).DefaultTimeout();
            var echo = server.EndPoint("tcp/2000");
            await Until(() => server.Ledger.Written == server.Ledger.LastSeq, "the start's records written");

            // Fill the file system to the last byte.
            var filler = Path.Combine(dir, "filler");
            await using (var fill = new FileStream(filler, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
            {
                var chunk = new byte[4096];
                try
                {
                    for (var i = 0; i < 1000; i++)
                    {
                        fill.Write(chunk);
                    }
                }
                catch (IOException)
                {
                }
            }

            // The file's last page may still take a few lines: until a write fails, echoes (all answered) fill it.
            for (var i = 0; i < 200 && server.Ledger.WriteFailures == 0; i++)
            {
                var probe = await EchoClient.TcpAsync(echo).DefaultTimeout();
                Assert.True(probe.Ok, probe.Error);
                await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == probe.Nonce);
                await Until(() => server.Ledger.Written + server.Ledger.Dropped >= server.Ledger.LastSeq - 1, "the record handled by the writer");
            }

            Assert.True(server.Ledger.WriteFailures > 0, "the full disk was never hit");

            // Serving goes on; the records it makes are dropped and counted (a small one may still fit the file's
            // last page), and logged once however many fail.
            var first = server.Ledger.WriteFailures;
            for (var i = 0; i < 200 && server.Ledger.WriteFailures < first + 4; i++)
            {
                var probe = await EchoClient.TcpAsync(echo).DefaultTimeout();
                Assert.True(probe.Ok, probe.Error);
                await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == probe.Nonce);
                await Until(() => server.Ledger.Written + server.Ledger.Dropped >= server.Ledger.LastSeq - 1, "the record handled by the writer");
            }

            Assert.True(server.Ledger.Dropped >= first + 4);
            Assert.Single(log.Errors, e => e.Contains("records dropped so far", StringComparison.Ordinal));
            using (var http = server.Control())
            {
                var metrics = await http.GetStringAsync("/metrics").DefaultTimeout();
                Assert.Matches(@"cucmsim_ledger_write_failures_total [1-9]", metrics);
            }

            // Space again: the next records reach the file, and no line in it is torn.
            File.Delete(filler);
            var after = await EchoClient.TcpAsync(echo).DefaultTimeout();
            Assert.True(after.Ok, after.Error);
            await Until(() => File.ReadAllText(ledgerPath).Contains(after.Nonce, StringComparison.Ordinal), "the record after the recovery in the file");
            Assert.Contains(log.Warnings, w => w.Contains("writing again", StringComparison.Ordinal));
            foreach (var line in File.ReadAllLines(ledgerPath))
            {
                using var _ = JsonDocument.Parse(line);
            }
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", dir], TimeSpan.FromSeconds(10)).DefaultTimeout();
        }
    }

    [Fact]
    public async Task After_kill_9_during_traffic_the_ledger_holds_whole_lines_in_order_up_to_its_last_flush()
    {
        var ledger = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        await using var serve = CucmSimProcess.Start("serve", "--only", "t6.sccp", "--ephemeral-ports", "--bind", "127.0.0.1", "--control", "127.0.0.1:0",
            "--state-dir", SimHost.TempDirectory(), "--ledger", ledger);
        await serve.ReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{serve.Control}"), Timeout = TimeSpan.FromSeconds(10) };
        var listeners = JsonDocument.Parse(await http.GetStringAsync("/api/listeners").DefaultTimeout());
        var port = listeners.RootElement.EnumerateArray().Single(l => l.GetProperty("id").GetString() == "tcp/2000").GetProperty("boundPort").GetInt32();
        var echo = new IPEndPoint(IPAddress.Loopback, port);

        // A bounded loop of echoes; the process is killed while the last ones are still under way.
        var answered = 0;
        var loop = Task.Run(async () =>
        {
            for (var i = 0; i < 400; i++)
            {
                var probe = await EchoClient.TcpAsync(echo);
                if (!probe.Ok)
                {
                    return;
                }

                Interlocked.Increment(ref answered);
            }
        });
        await Until(() => Volatile.Read(ref answered) >= 150 && File.Exists(ledger) && new FileInfo(ledger).Length > 0, "150 echoes answered and some of the ledger flushed");
        serve.Signal(CucmSimProcess.SigKill);
        Assert.Equal(137, await serve.ExitAsync());
        await loop.DefaultTimeout();

        // Every line is whole JSON, in sequence: nothing torn, nothing out of order.
        var lines = await File.ReadAllLinesAsync(ledger);
        Assert.NotEmpty(lines);
        var last = 0L;
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var seq = doc.RootElement.GetProperty("seq").GetInt64();
            Assert.Equal(last + 1, seq);
            last = seq;
        }

        Assert.Equal(lines.Length, ServerView.FromLedgerFile(ledger).Records);
    }

    [Fact]
    public async Task A_reader_skips_a_torn_last_line()
    {
        var path = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var whole = new LedgerRecord { Seq = 1, Kind = "tcp-close", Listener = "tcp/2000", Nonce = "abc", Verdict = "echo" };
        var line = JsonSerializer.Serialize(whole, LedgerJsonContext.Default.LedgerRecord);
        await File.WriteAllTextAsync(path, line + "\n" + line.Replace("\"seq\":1", "\"seq\":2", StringComparison.Ordinal) + "\n" + line[..(line.Length / 2)]);
        var view = ServerView.FromLedgerFile(path);
        Assert.Equal(2, view.Records);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 1000 && !condition(); i++)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"waited 20 s for {what}");
            await Task.Delay(20);
        }

        Assert.True(condition(), what);
    }

    private sealed class CapturingLoggers : ILoggerFactory, ILoggerProvider
    {
        private readonly List<(LogLevel Level, string Text)> _lines = [];

        public IReadOnlyList<string> Errors => Lines(LogLevel.Error);

        public IReadOnlyList<string> Warnings => Lines(LogLevel.Warning);

        private List<string> Lines(LogLevel level)
        {
            lock (_lines)
            {
                return [.. _lines.Where(l => l.Level == level).Select(l => l.Text)];
            }
        }

        public ILogger CreateLogger(string categoryName) => new Capture(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Capture(CapturingLoggers owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._lines)
                {
                    owner._lines.Add((logLevel, formatter(state, exception)));
                }
            }
        }
    }
}

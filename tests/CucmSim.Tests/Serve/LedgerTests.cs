using System.Text.Json;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class LedgerTests
{
    [Fact]
    public async Task Records_rotate_by_size_and_none_is_lost()
    {
        var path = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var ledger = new Ledger(new LedgerOptions { Path = path, MaxBytes = 4096, MaxFiles = 50 });
        for (var i = 0; i < 200; i++)
        {
            ledger.Append(new LedgerRecord { Kind = "event", Verdict = "test", Detail = new() { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
        }

        await ledger.DisposeAsync().AsTask().DefaultTimeout();
        var files = Directory.GetFiles(Path.GetDirectoryName(path)!, "ledger.jsonl*");
        Assert.True(files.Length > 2, "expected rotation");
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 4096, $"{f} is {new FileInfo(f).Length} bytes"));
        var seqs = files.SelectMany(File.ReadAllLines).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), seqs);
        Assert.Equal(200, ledger.Written);
        Assert.Equal(0, ledger.Dropped);
    }

    [Fact]
    public async Task The_window_keeps_the_newest_records()
    {
        var ledger = new Ledger(new LedgerOptions { WindowSize = 16 });
        for (var i = 0; i < 40; i++)
        {
            ledger.Append(new LedgerRecord { Kind = "event" });
        }

        var all = ledger.Since(0);
        Assert.Equal(16, all.Count);
        Assert.Equal(25, all[0].Seq);
        Assert.Equal(40, all[^1].Seq);
        Assert.Equal([39L, 40L], ledger.Since(38).Select(r => r.Seq));
        await ledger.DisposeAsync().AsTask().DefaultTimeout();
        ledger.Append(new LedgerRecord { Kind = "event" });
        Assert.Equal(1, ledger.Dropped);
    }

    [Fact]
    public async Task A_lone_record_reaches_the_file_while_the_ledger_stays_open()
    {
        var path = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var ledger = new Ledger(new LedgerOptions { Path = path });
        await using var _ = ledger;

        // The writer sleeps between records; one append wakes it, twice in a row (the second after it slept again).
        foreach (var verdict in new[] { "first", "second" })
        {
            ledger.Append(new LedgerRecord { Kind = "event", Verdict = verdict });
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            while (!File.Exists(path) || !File.ReadAllText(path).Contains($"\"{verdict}\"", StringComparison.Ordinal))
            {
                await Task.Delay(20, cts.Token);
            }
        }

        Assert.Equal(2, ledger.Written);
    }

    [Fact]
    public async Task Appends_from_many_threads_are_all_written_once()
    {
        var path = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var ledger = new Ledger(new LedgerOptions { Path = path });
        const int Threads = 8, Each = 5_000;
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < Each; i++)
            {
                ledger.Append(new LedgerRecord { Kind = "event", Verdict = "load" });
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(workers).DefaultTimeout();
        await ledger.DisposeAsync().AsTask().DefaultTimeout();

        var seqs = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, Threads * Each).Select(i => (long)i), seqs);
        Assert.Equal(Threads * Each, ledger.Written);
        Assert.Equal(0, ledger.Dropped);
    }

    [Fact]
    public async Task A_full_queue_drops_and_counts_instead_of_growing()
    {
        var path = Path.Combine(SimHost.TempDirectory(), "ledger.jsonl");
        var ledger = new Ledger(new LedgerOptions { Path = path, QueueCapacity = 100 });
        for (var i = 0; i < 100_000; i++)
        {
            ledger.Append(new LedgerRecord { Kind = "event" });
        }

        await ledger.DisposeAsync().AsTask().DefaultTimeout();
        Assert.True(ledger.Dropped > 0, "a writer slower than the appends must drop past the capacity");
        Assert.Equal(100_000, ledger.Written + ledger.Dropped);
        Assert.Equal(ledger.Written, File.ReadAllLines(path).Length);
    }
}

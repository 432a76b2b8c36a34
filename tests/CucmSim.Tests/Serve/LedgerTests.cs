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
}

using System.Globalization;
using System.Text.RegularExpressions;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using Xunit;

namespace CucmSim.Tests.Load;

/// <summary>
/// Shards as separate 'cucmsim load' processes (the index from JOB_COMPLETION_INDEX, as in a Kubernetes Indexed Job)
/// against one 'cucmsim serve' process, in a network namespace of the test's own (its loopback alone): together they
/// give the counts and histogram totals of one run of the same plan.
/// </summary>
public sealed partial class ShardProcessTests : IAsyncLifetime
{
    private const int Phones = 200;
    private const int Calls = 40;

    private readonly string _namespace = $"csh{Guid.NewGuid().ToString("N")[..6]}";
    private readonly string _dir = Directory.CreateTempSubdirectory("cucmsim-shards-").FullName;
    private CucmSimProcess? _serve;

    /// <summary>The plan: 200 phones (half SCCP, half SIP) on 14 loopback sources, 40 calls, no media.</summary>
    private static readonly string[] Plan =
    [
        "load", "127.0.0.1", "--phones", Phones.ToString(CultureInfo.InvariantCulture), "--protocol", "mixed", "--sources", "127.1.0.0/28", "--no-media",
        "--register-rate", "200", "--cps", "20", "--hold", "1", "--calls", Calls.ToString(CultureInfo.InvariantCulture), "--seed", "7",
    ];

    public async Task InitializeAsync()
    {
        await Netns.RunStepsAsync([$"ip netns add {_namespace}", $"ip -n {_namespace} link set lo up"]).DefaultTimeout();
        _serve = CucmSimProcess.StartIn(_namespace, "serve", "--bind", "127.0.0.1", "--only", "sccp,sip,rtp", "--control", "127.0.0.1:9900",
            "--state-dir", SimHost.TempDirectory(), "--ledger", Path.Combine(_dir, "ledger.jsonl"));
        await _serve.ReadyAsync();
    }

    public async Task DisposeAsync()
    {
        if (_serve is not null)
        {
            await _serve.DisposeAsync();
        }

        await Netns.DeleteAsync(_namespace);
        Directory.Delete(_dir, recursive: true);
    }

    private CucmSimProcess Load(int? index, params string[] args) => CucmSimProcess.StartWith(
        index is { } i ? new Dictionary<string, string> { [ShardCli.IndexVariable] = i.ToString(CultureInfo.InvariantCulture) } : [],
        _namespace,
        [.. Plan, "--quiet", .. args]);

    private static async Task<string> ExitOkAsync(CucmSimProcess process)
    {
        var code = await process.ExitAsync().DefaultTimeout(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit {code}:\n{process.Output}");
        return process.Output;
    }

    private async Task<LoadReport> WholeRunAsync()
    {
        var json = Path.Combine(_dir, "whole.json");
        await using var whole = Load(null, "--json", json);
        await ExitOkAsync(whole);
        return LoadReport.FromJson(await File.ReadAllTextAsync(json));
    }

    private static void SameRun(LoadReport whole, LoadReport merged)
    {
        var (w, m) = (whole.Counters, merged.Counters);
        Assert.Equal(Phones, w.RegistrationsSucceeded);
        Assert.Equal(Calls, w.CallsEstablished);
        Assert.Equal(
            (w.RegistrationsAttempted, w.RegistrationsSucceeded, w.RegistrationsFailed, w.CallsAttempted, w.CallsEstablished, w.CallsFailed, w.CallsCompleted),
            (m.RegistrationsAttempted, m.RegistrationsSucceeded, m.RegistrationsFailed, m.CallsAttempted, m.CallsEstablished, m.CallsFailed, m.CallsCompleted));
        Assert.Equal(whole.Failures, merged.Failures);
        foreach (var name in new[] { "register-us", "setup-us" })
        {
            Assert.Equal(LoadHistograms.Decode(whole.Histograms[name]).TotalCount, LoadHistograms.Decode(merged.Histograms[name]).TotalCount);
        }

        Assert.Equal(Phones, LoadHistograms.Decode(merged.Histograms["register-us"]).TotalCount);
        Assert.Equal(Calls, LoadHistograms.Decode(merged.Histograms["setup-us"]).TotalCount);
    }

    [Fact]
    public async Task Four_shards_coordinated_by_shard_0_give_the_counts_and_histogram_totals_of_one_run()
    {
        var whole = await WholeRunAsync();

        // Shard 0 listens on a port the system picks, and says which; the others join it there.
        var json = Path.Combine(_dir, "shard-{0}.json");
        await using var zero = Load(0, "--shards", "4", "--coordinator-listen", "127.0.0.1:0", "--shard-timeout", "30s", "--json", string.Format(CultureInfo.InvariantCulture, json, 0));
        var port = (await zero.LineAsync(Coordinating())).Groups[1].Value;
        var others = Enumerable.Range(1, 3).Select(i => Load(i, "--shards", "4", "--coordinator", "127.0.0.1:" + port, "--json", string.Format(CultureInfo.InvariantCulture, json, i))).ToList();
        try
        {
            var log = await ExitOkAsync(zero);
            foreach (var shard in others)
            {
                await ExitOkAsync(shard);
            }

            Assert.Contains("every shard is ready", log, StringComparison.Ordinal);
            var merged = LoadReport.FromJson(await File.ReadAllTextAsync(string.Format(CultureInfo.InvariantCulture, json, 0)));
            Assert.Equal("4 shards", merged.Shard);
            SameRun(whole, merged);

            // Each shard wrote its own share too: the phones split in whole sources, and the same start for all.
            var shares = Enumerable.Range(1, 3).Select(i => LoadReport.FromJson(File.ReadAllText(string.Format(CultureInfo.InvariantCulture, json, i)))).ToList();
            Assert.Equal(["1/4", "2/4", "3/4"], shares.Select(s => s.Shard));
            Assert.Single(shares.Select(s => s.Started).Append(merged.Started).Distinct());
            Assert.All(shares, s => Assert.InRange(s.Counters.RegistrationsSucceeded, 1, Phones / 2));
        }
        finally
        {
            foreach (var shard in others)
            {
                await shard.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Shards_started_at_one_time_without_a_coordinator_merge_into_one_run_with_load_merge()
    {
        var whole = await WholeRunAsync();
        var at = DateTimeOffset.UtcNow.AddSeconds(4).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var files = Enumerable.Range(0, 4).Select(i => Path.Combine(_dir, $"alone-{i}.json")).ToList();
        var shards = Enumerable.Range(0, 4).Select(i => Load(null, "--shard", $"{i}/4", "--start-at", at, "--json", files[i])).ToList();
        try
        {
            foreach (var shard in shards)
            {
                await ExitOkAsync(shard);
            }
        }
        finally
        {
            foreach (var shard in shards)
            {
                await shard.DisposeAsync();
            }
        }

        var mergedJson = Path.Combine(_dir, "merged.json");
        await using var merge = CucmSimProcess.Start(["load", "merge", .. files, "--json", mergedJson]);
        var summary = await ExitOkAsync(merge);
        Assert.Contains("load 4 shards: 200 mixed phones", summary, StringComparison.Ordinal);
        Assert.Contains($"{Calls} attempted, {Calls} set up", summary, StringComparison.Ordinal);
        SameRun(whole, LoadReport.FromJson(await File.ReadAllTextAsync(mergedJson)));
    }

    [Fact]
    public async Task Local_shards_stop_together_on_sigterm_and_report_what_they_did()
    {
        var json = Path.Combine(_dir, "local.json");

        // A run of a minute, stopped early: the children get the stop, drain, and report to the parent.
        // Not quiet: the plain live view's line (every five seconds) shows the calls under way.
        await using var parent = CucmSimProcess.StartWith(new Dictionary<string, string>(), _namespace, [.. Plan, "--local-shards", "3", "--calls", "1200", "--json", json]);
        await parent.LineAsync(AllReady());
        await parent.LineAsync(Calling());
        parent.Signal(CucmSimProcess.SigTerm);
        var code = await parent.ExitAsync().DefaultTimeout(TimeSpan.FromSeconds(40));
        Assert.True(code is 0 or 1, $"exit {code}:\n{parent.Output}");
        for (var i = 1; i < 3; i++)
        {
            Assert.Contains($"shard coordinator: shard {i} reported", parent.Output, StringComparison.Ordinal);
        }

        var report = LoadReport.FromJson(await File.ReadAllTextAsync(json));
        Assert.Equal("3 shards", report.Shard);
        Assert.Equal(Phones, report.Counters.RegistrationsSucceeded);
        Assert.InRange(report.Counters.CallsAttempted, 1, 1199);
        Assert.True(report.Ended - report.Started < TimeSpan.FromSeconds(40), $"{report.Started:O} .. {report.Ended:O}");
    }

    [GeneratedRegex(@"coordinating on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Coordinating();

    [GeneratedRegex("every shard is ready")]
    private static partial Regex AllReady();

    [GeneratedRegex(@"calls [1-9]\d* \(")]
    private static partial Regex Calling();
}

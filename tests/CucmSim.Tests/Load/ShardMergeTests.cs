using System.Net;
using CucmSim.Load;
using Xunit;

namespace CucmSim.Tests.Load;

/// <summary>load merge: shard reports of one run made one (counters summed, histograms added), and files that are not one run refused.</summary>
public sealed class ShardMergeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cucmsim-merge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LoadReport Shard(int index, int count, long calls, params long[] setupsUs)
    {
        var setup = LoadHistograms.Create();
        foreach (var us in setupsUs)
        {
            setup.RecordValue(us);
        }

        var report = new LoadReport
        {
            Shard = $"{index}/{count}",
            Started = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + index),
            Ended = DateTimeOffset.FromUnixTimeSeconds(1_800_000_060),
            Plan = new Dictionary<string, string> { ["phones"] = "200", ["protocol"] = "mixed" },
            Counters = new LoadCounters { CallsAttempted = calls, CallsEstablished = calls - 1, CallsFailed = 1, RtpSent = 100 * calls },
            Failures = new SortedDictionary<string, long>(StringComparer.Ordinal) { ["sip-486"] = 1 },
            Histograms = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["setup-us"] = LoadHistograms.Encode(setup) },
        };
        for (var s = 0; s < 3; s++)
        {
            report.Timeline.Add(new LoadInterval
            {
                StartMs = 1_800_000_000_000 + (s * 1000),
                LengthMs = 1000,
                ConcurrentCalls = index + s,
                Counters = new LoadCounters { CallsAttempted = 1 },
                Setup = LoadHistograms.Encode(setup),
            });
        }

        return report;
    }

    private string Write(LoadReport report, string? name = null)
    {
        var path = Path.Combine(_dir, name ?? $"shard-{report.Shard.Replace('/', '-')}.json");
        File.WriteAllText(path, report.ToJson());
        return path;
    }

    [Fact]
    public void Four_shards_merge_into_sums_and_added_histograms()
    {
        var paths = new[] { Write(Shard(2, 4, 30, 900, 1000)), Write(Shard(0, 4, 10, 100)), Write(Shard(3, 4, 40, 5000)), Write(Shard(1, 4, 20, 200, 300, 400)) };
        List<string> problems = [], warnings = [];
        var merged = LoadMerge.Merge(paths, problems, warnings);
        Assert.Empty(problems);
        Assert.Empty(warnings);
        Assert.NotNull(merged);
        Assert.Equal("4 shards", merged.Shard);
        Assert.Equal(100, merged.Counters.CallsAttempted);
        Assert.Equal(96, merged.Counters.CallsEstablished);
        Assert.Equal(10_000, merged.Counters.RtpSent);
        Assert.Equal(4, merged.Failures["sip-486"]);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), merged.Started);

        var setup = LoadHistograms.Decode(merged.Histograms["setup-us"]);
        Assert.Equal(7, setup.TotalCount);
        Assert.InRange(setup.GetValueAtPercentile(100), 5000, 5010);
        Assert.InRange(setup.GetValueAtPercentile(0), 100, 101);

        // The timelines line up by absolute time: three intervals, concurrency summed per interval.
        Assert.Equal(3, merged.Timeline.Count);
        Assert.Equal([6L, 10L, 14L], merged.Timeline.Select(i => i.ConcurrentCalls));
        Assert.Equal(14, merged.MaxConcurrentCalls);
        Assert.All(merged.Timeline, i => Assert.Equal(7, LoadHistograms.Decode(i.Setup!).TotalCount));
    }

    [Fact]
    public void A_missing_shard_is_a_warning_and_the_rest_are_merged()
    {
        List<string> problems = [], warnings = [];
        var merged = LoadMerge.Merge([Write(Shard(0, 4, 10)), Write(Shard(3, 4, 40))], problems, warnings);
        Assert.Empty(problems);
        Assert.Equal("shard 1, 2 of 4 missing: the report is of 2 shards", Assert.Single(warnings));
        Assert.Equal(50, merged!.Counters.CallsAttempted);
    }

    [Fact]
    public void Files_that_are_not_the_shards_of_one_run_are_refused_each_with_its_reason()
    {
        var other = Shard(1, 4, 10);
        other.Plan["phones"] = "400";
        var cases = new (string[] Paths, string Says)[]
        {
            ([Write(Shard(0, 4, 1)), Write(Shard(0, 4, 1), "again.json")], "shard 0/4 is in"),
            ([Write(Shard(0, 4, 1)), Write(Shard(1, 2, 1))], "is of 2 shards"),
            ([Write(Shard(0, 4, 1)), Write(other, "other.json")], "its phones is 400, there 200"),
            ([Write(LoadReport.Merge([Shard(0, 2, 1), Shard(1, 2, 1)]), "merged.json")], "merged already"),
            ([Path.Combine(_dir, "absent.json")], "no such file"),
        };
        foreach (var (paths, says) in cases)
        {
            List<string> problems = [], warnings = [];
            Assert.Null(LoadMerge.Merge(paths, problems, warnings));
            Assert.Contains(problems, p => p.Contains(says, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("""{ "shard": "0/2", "histograms": { "setup-us": "AAAA" } }""")]
    [InlineData("""{ "shard": "0/2", "histograms": { "setup-us": "%%%" } }""")]
    [InlineData("""{ "shard": "0/2", "timeline": [ { "startMs": 1, "setup": "HISTFAAAACB4nJNpmSzMwMDAxsDAwMQABMxgGsRnBAAXdAEm" } ] }""")]
    public void A_file_that_is_not_a_report_is_named_and_nothing_merged(string text)
    {
        var bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, text);
        List<string> problems = [], warnings = [];
        Assert.Null(LoadMerge.Merge([Write(Shard(1, 2, 1)), bad], problems, warnings));
        Assert.StartsWith(bad + ": ", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void The_sources_of_the_shards_are_disjoint_and_together_are_the_plans()
    {
        var plan = new LoadPlan { Target = IPAddress.Loopback, Phones = 1000, Sources = LoadPlan.ParseSources("198.18.16.0/26", out _), Duration = TimeSpan.FromSeconds(10) };
        var all = new List<IPAddress>();
        for (var i = 0; i < 4; i++)
        {
            all.AddRange(ShardSources.Of(plan, new ShardSpec(i, 4)));
        }

        Assert.Equal(plan.Sources, all);
        var text = new StringWriter();
        ShardSources.Write(text, plan, new ShardSpec(1, 4), "eth1", commandsOnly: true);
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ShardSources.Of(plan, new ShardSpec(1, 4)).Count, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^ip addr replace 198\.18\.16\.\d+/32 dev eth1$", l));
    }
}

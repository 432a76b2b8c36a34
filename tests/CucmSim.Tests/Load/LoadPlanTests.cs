using System.Net;
using CucmSim.Load;
using HdrHistogram;
using Xunit;

namespace CucmSim.Tests.Load;

public sealed class LoadPlanTests
{
    private static LoadPlan Plan(int phones = 1000, int sources = 0, CallMode mode = CallMode.Server, LoadProtocol protocol = LoadProtocol.Sip) => new()
    {
        Target = IPAddress.Loopback,
        Phones = phones,
        Protocol = protocol,
        Sources = Enumerable.Range(0, sources).Select(i => new IPAddress([127, 1, (byte)(i >> 8), (byte)i])).ToArray(),
        CallsPerSecond = 20,
        Hold = TimeSpan.FromSeconds(5),
        Duration = TimeSpan.FromSeconds(30),
        RampUp = TimeSpan.FromSeconds(5),
        RampDown = TimeSpan.FromSeconds(5),
        Mode = mode,
    };

    [Fact]
    public void Sccp_phone_i_has_the_directory_number_serve_gives_its_device_name_line_one()
    {
        var plan = Plan(phones: 200_000, protocol: LoadProtocol.Sccp, mode: CallMode.PhoneToPhone);
        foreach (var i in (int[])[0, 1, 2, 99, 100, 123_456, plan.Phones - 1])
        {
            var phone = plan.Phone(i);
            Assert.Equal((100_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture), phone.DirectoryNumber);
            Assert.Equal(phone.DirectoryNumber, CucmSim.Protocols.Sccp.SccpDirectory.Number(phone.DeviceName, 1));
        }
    }

    [Theory]
    [InlineData(1000, 0, 4)]
    [InlineData(1000, 64, 4)]
    [InlineData(1000, 3, 4)]
    [InlineData(7, 64, 3)]
    [InlineData(18000, 1022, 7)]
    public void Shards_cover_every_phone_once(int phones, int sources, int shards)
    {
        var plan = Plan(phones, sources);
        var owners = new int[phones];
        for (var s = 0; s < shards; s++)
        {
            var (start, end) = new ShardSpec(s, shards).Phones(plan);
            for (var i = start; i < end; i++)
            {
                owners[i]++;
            }
        }

        Assert.All(owners, n => Assert.Equal(1, n));
    }

    [Fact]
    public void With_enough_sources_no_two_shards_share_an_address()
    {
        var plan = Plan(1000, 64);
        var used = Enumerable.Range(0, 4).Select(s =>
        {
            var (start, end) = new ShardSpec(s, 4).Phones(plan);
            return Enumerable.Range(start, end - start).Select(i => plan.Phone(i).Source!).ToHashSet();
        }).ToArray();
        for (var a = 0; a < 4; a++)
        {
            Assert.Equal(16, used[a].Count);
            for (var b = a + 1; b < 4; b++)
            {
                Assert.Empty(used[a].Intersect(used[b]));
            }
        }
    }

    [Fact]
    public void Sources_are_spread_in_equal_blocks()
    {
        var plan = Plan(1000, 64);
        var counts = Enumerable.Range(0, 1000).GroupBy(i => plan.SourceOf(i)).Select(g => g.Count()).ToArray();
        Assert.Equal(64, counts.Length);
        Assert.True(counts.Max() - counts.Min() <= 1);
    }

    [Theory]
    [InlineData(CallMode.Server, LoadProtocol.Sip)]
    [InlineData(CallMode.PhoneToPhone, LoadProtocol.Mixed)]
    public void Shards_replay_the_single_schedule(CallMode mode, LoadProtocol protocol)
    {
        var plan = Plan(1000, 64, mode, protocol);
        Assert.Empty(plan.Problems());
        var schedule = new LoadSchedule(plan);
        var whole = schedule.Calls(ShardSpec.Whole).ToList();
        var parts = Enumerable.Range(0, 4).SelectMany(s => new LoadSchedule(plan).Calls(new ShardSpec(s, 4))).OrderBy(c => c.Seq).ToList();
        Assert.Equal(whole, parts);
        Assert.Equal(schedule.TotalCalls, whole.Count);

        // 30 s with 5 s ramps at 20/s: 20 × (30 − 5) = 500 calls.
        Assert.Equal(500, whole.Count);
        Assert.True(whole.Zip(whole.Skip(1)).All(p => p.First.At <= p.Second.At));
        Assert.True(whole[^1].At <= schedule.CallPhaseEnd);
        Assert.True(whole[0].At >= schedule.RegistrationPhase);
        if (mode == CallMode.PhoneToPhone)
        {
            Assert.All(whole, c => Assert.Equal(plan.ProtocolOf(c.Caller), plan.ProtocolOf(c.Callee!.Value)));
            Assert.All(whole, c => Assert.NotEqual(c.Caller, c.Callee));
        }
    }

    [Fact]
    public void A_run_ends_when_its_last_call_was_held_and_one_without_calls_with_its_call_phase()
    {
        var plan = Plan();
        var schedule = new LoadSchedule(plan);
        var last = schedule.Calls(ShardSpec.Whole).Last();
        Assert.Equal(last.At + plan.Hold, schedule.End);
        Assert.True(schedule.End > schedule.CallPhaseEnd);

        // A rate too low to place a call in the duration: nothing is held, the run lasts its registrations and duration.
        var quiet = new LoadSchedule(plan with { CallsPerSecond = 0.001, RampUp = TimeSpan.Zero, RampDown = TimeSpan.Zero });
        Assert.Equal(0, quiet.TotalCalls);
        Assert.Equal(quiet.RegistrationPhase + TimeSpan.FromSeconds(30), quiet.End);
        Assert.Equal(quiet.CallPhaseEnd, quiet.End);

        // A hold shorter than the gap after the last call: the duration still runs out.
        var brief = new LoadSchedule(plan with { CallsPerSecond = 0.1, Hold = TimeSpan.FromSeconds(1), RampUp = TimeSpan.Zero, RampDown = TimeSpan.Zero });
        Assert.True(brief.TotalCalls > 0);
        Assert.Equal(brief.CallPhaseEnd, brief.End);
    }

    [Fact]
    public void A_phone_is_never_asked_to_call_while_it_talks()
    {
        var plan = Plan(1000, 0, CallMode.PhoneToPhone);
        var busyUntil = new Dictionary<int, TimeSpan>();
        foreach (var call in new LoadSchedule(plan).Calls(ShardSpec.Whole))
        {
            foreach (var phone in new[] { call.Caller, call.Callee!.Value })
            {
                Assert.True(busyUntil.GetValueOrDefault(phone) <= call.At, $"phone {phone} busy at call {call.Seq}");
                busyUntil[phone] = call.At + call.Hold;
            }
        }
    }

    [Fact]
    public void With_callers_only_the_first_phones_call_each_its_own_partner_among_the_rest()
    {
        // 128 phones on 64 sources, the first 64 calling: shard 0 of 2 (sources 0..31) holds every caller, shard 1 every callee.
        var plan = Plan(128, 64, CallMode.PhoneToPhone) with { Callers = 64, CallsPerSecond = 16, Hold = TimeSpan.FromSeconds(2), Duration = TimeSpan.FromSeconds(8), RampUp = TimeSpan.Zero, RampDown = TimeSpan.Zero };
        Assert.Empty(plan.Problems());
        var calls = new LoadSchedule(plan).Calls(ShardSpec.Whole).ToList();
        Assert.Equal(128, calls.Count);
        Assert.All(calls, c => Assert.InRange(c.Caller, 0, 63));
        Assert.All(calls, c => Assert.InRange(c.Callee!.Value, 64, 127));
        Assert.All(calls.GroupBy(c => c.Caller), g => Assert.Single(g.Select(c => c.Callee).Distinct()));
        Assert.Equal(64, calls.Select(c => c.Callee).Distinct().Count());
        Assert.Equal(calls, new LoadSchedule(plan).Calls(new ShardSpec(0, 2)));
        Assert.Empty(new LoadSchedule(plan).Calls(new ShardSpec(1, 2)));
        Assert.Equal((0, 64), new ShardSpec(0, 2).Phones(plan));

        // A cycle of 64 calls lasts 4 s, twice the hold: no phone is asked to call, or called, while it talks.
        var busyUntil = new Dictionary<int, TimeSpan>();
        foreach (var call in calls)
        {
            foreach (var phone in new[] { call.Caller, call.Callee!.Value })
            {
                Assert.True(busyUntil.GetValueOrDefault(phone) <= call.At, $"phone {phone} busy at call {call.Seq}");
                busyUntil[phone] = call.At + call.Hold;
            }
        }

        // Without --callers the same plan pairs phones at random, both ways, as before.
        var mixed = new LoadSchedule(plan with { Callers = null }).Calls(ShardSpec.Whole).ToList();
        Assert.Contains(mixed, c => c.Caller >= 64);
    }

    [Theory]
    [InlineData(65, CallMode.PhoneToPhone, LoadProtocol.Sip, "at most half")]
    [InlineData(0, CallMode.PhoneToPhone, LoadProtocol.Sip, "at most half")]
    [InlineData(64, CallMode.Server, LoadProtocol.Sip, "needs --mode phone")]
    [InlineData(64, CallMode.PhoneToPhone, LoadProtocol.Mixed, "needs --mode phone")]
    [InlineData(20, CallMode.PhoneToPhone, LoadProtocol.Sip, "give at least 32 callers")]
    public void Callers_that_cannot_work_are_refused(int callers, CallMode mode, LoadProtocol protocol, string problem)
    {
        var plan = Plan(128, 0, mode, protocol) with { Callers = callers, CallsPerSecond = 16, Hold = TimeSpan.FromSeconds(2) };
        Assert.Contains(plan.Problems(), p => p.Contains(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void Calls_count_fixes_the_schedule()
    {
        var plan = Plan() with { Duration = null, Calls = 321 };
        var calls = new LoadSchedule(plan).Calls(ShardSpec.Whole).ToList();
        Assert.Equal(321, calls.Count);
        Assert.Equal(Enumerable.Range(0, 321).Select(i => (long)i), calls.Select(c => c.Seq));
    }

    [Fact]
    public void Sccp_phone_numbers_follow_serve_rule_for_the_mac()
    {
        var plan = Plan(protocol: LoadProtocol.Sccp) with { Phones = 900_000, CallsPerSecond = 1 };
        foreach (var i in new[] { 0, 1, 999, 123_456, 899_999 })
        {
            var phone = plan.Phone(i);
            var mac = Convert.ToInt64(phone.DeviceName[3..], 16);
            Assert.Equal((100_000 + (mac % 900_000)).ToString(System.Globalization.CultureInfo.InvariantCulture), phone.DirectoryNumber);
            Assert.Equal((plan.DirectoryNumberBase + i).ToString(System.Globalization.CultureInfo.InvariantCulture), phone.DirectoryNumber);
        }
    }

    [Theory]
    [InlineData("198.18.16.0/22", 1022)]
    [InlineData("127.0.0.1,127.0.0.2", 2)]
    [InlineData("10.0.0.0/31", 2)]
    [InlineData("fd00::/120", 256)]
    public void Sources_parse(string text, int count)
    {
        var sources = LoadPlan.ParseSources(text, out var error);
        Assert.Null(error);
        Assert.Equal(count, sources.Count);
        Assert.Equal(count, sources.Distinct().Count());
    }

    [Theory]
    [InlineData("10.0.0.0/8")]
    [InlineData("nonsense")]
    [InlineData(",")]
    public void Bad_sources_say_why(string text)
    {
        Assert.Empty(LoadPlan.ParseSources(text, out var error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("0/4", true)]
    [InlineData("3/4", true)]
    [InlineData("4/4", false)]
    [InlineData("1", false)]
    [InlineData("-1/4", false)]
    [InlineData("0/0", false)]
    public void Shard_syntax(string text, bool ok) => Assert.Equal(ok, ShardSpec.TryParse(text, out _, out _));

    [Fact]
    public void Too_few_phones_for_the_rate_is_refused()
    {
        var plan = Plan(50, 0, CallMode.PhoneToPhone);
        Assert.Contains(plan.Problems(), p => p.Contains("give at least 200 phones", StringComparison.Ordinal));
    }

    [Fact]
    public void Reports_merge_counters_and_histograms()
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        LoadReport Shard(int i, params long[] setups)
        {
            var h = LoadHistograms.Create();
            foreach (var v in setups)
            {
                h.RecordValue(v);
            }

            var report = new LoadReport { Shard = $"{i}/2", Started = start, Ended = start.AddSeconds(10) };
            report.Counters.CallsAttempted = setups.Length;
            report.Counters.CallsEstablished = setups.Length;
            report.Failures["sip-486"] = i;
            report.Histograms["setup-us"] = LoadHistograms.Encode(h);
            report.Timeline.Add(new LoadInterval { StartMs = start.ToUnixTimeMilliseconds(), LengthMs = 1000, ConcurrentCalls = 3, Setup = LoadHistograms.Encode(h) });
            return LoadReport.FromJson(report.ToJson());
        }

        var merged = LoadReport.Merge([Shard(0, 1000, 2000), Shard(1, 3000, 4000, 5000)]);
        Assert.Equal(5, merged.Counters.CallsAttempted);
        Assert.Equal(1, merged.Failures["sip-486"]);
        var setup = LoadHistograms.Decode(merged.Histograms["setup-us"]);
        Assert.Equal(5, setup.TotalCount);
        Assert.InRange(setup.GetMaxValue(), 4995, 5005);
        Assert.Single(merged.Timeline);
        Assert.Equal(6, merged.MaxConcurrentCalls);
        Assert.Equal(5, LoadHistograms.Decode(merged.Timeline[0].Setup!).TotalCount);
    }
}

using System.Net;
using CucmSim.Load;
using CucmSim.Protocols.Rtp;
using CucmSim.Tests.Infrastructure;
using HdrHistogram;

namespace CucmSim.Tests.Load;

/// <summary>The load command line (every usage error exits 2), the E-model, and the report's outputs.</summary>
public sealed class LoadCommandTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await LoadCommand.RunAsync(args, output, error).DefaultTimeout();
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("--phones", "0")]
    [InlineData("--protocol", "h323")]
    [InlineData("--mode", "gateway")]
    [InlineData("--cps", "0")]
    [InlineData("--hold", "forever")]
    [InlineData("--max-failure-ratio", "2")]
    [InlineData("--bogus", "1")]
    [InlineData("--sources", "10.0.0.0/8")]
    [InlineData("--sources", "nonsense")]
    [InlineData("--callers", "0")]
    [InlineData("--max-pending", "-1")]
    public async Task A_bad_option_is_a_usage_error(string option, string value)
    {
        var (code, _, error) = await RunAsync("127.0.0.1", option, value);
        Assert.Equal(2, code);
        Assert.Contains(option == "--bogus" ? "unknown option --bogus" : option, error, StringComparison.Ordinal);
        Assert.Contains("see: cucmsim load --help", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server", "10", "--callers needs --mode phone")]
    [InlineData("phone", "60", "--callers must be 1..50")]
    public async Task Callers_outside_phone_mode_or_without_a_partner_each_are_usage_errors(string mode, string callers, string says)
    {
        var (code, _, error) = await RunAsync("127.0.0.1", "--phones", "100", "--cps", "1", "--mode", mode, "--callers", callers);
        Assert.Equal(2, code);
        Assert.Contains(says, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_name_the_missing_target_and_conflicts()
    {
        var (code, _, error) = await RunAsync("--phones", "10");
        Assert.Equal(2, code);
        Assert.Contains("name the TARGET", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("127.0.0.1", "--duration", "10", "--calls", "5");
        Assert.Equal(2, code);
        Assert.Contains("give --duration or --calls, not both", error, StringComparison.Ordinal);

        // The plan's own check: too few phones to hold the rate.
        (code, _, error) = await RunAsync("127.0.0.1", "--phones", "10", "--cps", "10", "--hold", "10");
        Assert.Equal(2, code);
        Assert.Contains("give at least 100 phones", error, StringComparison.Ordinal);

        // A profile without the role.
        (code, _, error) = await RunAsync("127.0.0.1", "--role", "toaster");
        Assert.Equal(2, code);
        Assert.Contains("has no role 'toaster'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_sources_are_named_with_the_commands_that_add_them()
    {
        // TEST-NET-2 addresses are on no interface here.
        var (code, _, error) = await RunAsync("127.0.0.1", "--phones", "100", "--sources", "198.51.100.0/30,127.0.0.1");
        Assert.Equal(2, code);
        Assert.Contains("--sources: 2 of 3 addresses are on no interface of this host", error, StringComparison.Ordinal);
        Assert.Contains("ip addr add 198.51.100.1/32 dev lo", error, StringComparison.Ordinal);
        Assert.Contains("ip addr add 198.51.100.2/32 dev lo", error, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1/32", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ports_come_from_the_profile_with_the_offset()
    {
        var (profile, _) = CucmSim.Catalog.ProfileLoader.TryLoad("cucm");
        var ports = LoadCommand.Ports(profile!, "phone", "cucm", 100);
        Assert.Equal(2100, ports["sccp"]);
        Assert.Equal(5160, ports["sip/udp"]);
        Assert.Equal(5160, ports["sip/tcp"]);
        Assert.Equal(5161, ports["sip-tls"]);

        // A role that sends no SCCP to the target cannot run SCCP phones.
        var (code, _, error) = await RunAsync("127.0.0.1", "--protocol", "sccp", "--role", "browser");
        Assert.Equal(2, code);
        Assert.Contains("has no sccp flow from browser to cucm", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30", 30)]
    [InlineData("1.5", 1.5)]
    [InlineData("500ms", 0.5)]
    [InlineData("2m", 120)]
    [InlineData("1h", 3600)]
    public void Times_take_units(string text, double seconds)
    {
        Assert.Null(LoadCli.Span(text, out var value));
        Assert.Equal(seconds, value.TotalSeconds, 6);
    }

    [Fact]
    public void The_E_model_rates_a_clean_G711_call_near_4_4_and_falls_with_loss_and_delay()
    {
        // R = 93.2 with no impairment gives the usual G.711 ceiling, MOS 4.41.
        Assert.Equal(4.41, EModel.Mos(EModel.Rating(0, 0)), 2);
        Assert.Equal(1, EModel.Mos(-5));
        Assert.Equal(4.5, EModel.Mos(120));

        // 1 % random loss with PLC: Ie-eff = 95 / 26.1 = 3.64.
        Assert.Equal(93.2 - 3.64, EModel.Rating(0, 1), 2);

        // The delay knee at 177.3 ms: 300 ms costs 0.024·300 + 0.11·122.7.
        Assert.Equal(93.2 - 7.2 - 13.497, EModel.Rating(300, 0), 2);

        var previous = 5.0;
        foreach (var loss in new[] { 0, 0.5, 1, 2, 5, 10, 20 })
        {
            var mos = EModel.LegMos(jitterMs: 1, lossPercent: loss);
            Assert.True(mos < previous, $"MOS {mos} at {loss} % loss is not below {previous}");
            previous = mos;
        }

        Assert.True(EModel.LegMos(2, 0) > EModel.LegMos(80, 0));
        Assert.True(EModel.LegMos(0, 0, networkDelayMs: 250) < 4.0);
    }

    /// <summary>A report as a run makes it: two intervals with setup times, failures, a lost leg.</summary>
    internal static LoadReport SampleReport()
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var report = new LoadReport { Started = start, Ended = start.AddSeconds(3), Plan = LoadEngine.PlanWords(new LoadPlan { Target = IPAddress.Loopback, Duration = TimeSpan.FromSeconds(2) }) };
        var whole = LoadHistograms.Create();
        for (var i = 0; i < 3; i++)
        {
            var h = LoadHistograms.Create();
            for (var v = 1; v <= 10 * (i + 1); v++)
            {
                h.RecordValue(v * 1000);
                whole.RecordValue(v * 1000);
            }

            var interval = new LoadInterval { StartMs = start.ToUnixTimeMilliseconds() + (i * 1000), LengthMs = 1000, ConcurrentCalls = i, Registered = 100, Setup = LoadHistograms.Encode(h) };
            interval.Counters.CallsAttempted = 10 * (i + 1);
            report.Timeline.Add(interval);
        }

        report.Counters.CallsAttempted = 60;
        report.Counters.CallsEstablished = 59;
        report.Counters.CallsFailed = 1;
        report.Failures["sip-486"] = 1;
        report.LostLegs["echo"] = 1;
        report.Histograms["setup-us"] = LoadHistograms.Encode(whole);
        return report;
    }

    [Fact]
    public void The_HdrHistogram_log_reads_back_with_HdrHistogram()
    {
        var report = SampleReport();
        var text = LoadOutputs.HistogramLog(report);
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text));
        using var reader = new HistogramLogReader(stream);
        var intervals = reader.ReadHistograms().ToList();
        Assert.Equal(3, intervals.Count);
        Assert.Equal([10L, 20L, 30L], intervals.Select(h => h.TotalCount));
        Assert.InRange(intervals[2].GetMaxValue(), 29_900, 30_100);
        Assert.Equal(1_800_000_001_000, intervals[1].StartTimeStamp);

        // Invariant numbers and no byte order mark, whatever the culture.
        Assert.DoesNotContain(",000,", text.Split('\n')[4], StringComparison.Ordinal);
        Assert.StartsWith("#[Histogram log format version 1.3]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_html_report_is_self_contained_with_charts()
    {
        var report = SampleReport();
        report.Failures["phone-busy"] = 2;
        var html = LoadOutputs.Html(report);
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Count(html, "<svg "));
        Assert.Contains("<polyline", html, StringComparison.Ordinal);
        Assert.Contains("sip-486", html, StringComparison.Ordinal);

        // The generator's own failures carry the summary's note.
        Assert.Contains("<p class=\"note\">phone-busy: 2 call attempts found their phone still in its previous call", html.Replace("&#39;", "'", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<link", html, StringComparison.Ordinal);
        Assert.DoesNotContain("src=", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Exit_codes_follow_the_failure_ratio_and_reachability()
    {
        var report = SampleReport();
        report.Counters.RegistrationsAttempted = 100;
        report.Counters.RegistrationsSucceeded = 100;
        Assert.Equal(0, LoadCommand.ExitCode(report, 0.01));
        Assert.Equal(1, LoadCommand.ExitCode(report, 0.001));
        report.Counters.RegistrationsSucceeded = 0;
        Assert.Equal(3, LoadCommand.ExitCode(report, 0.01));
    }
}

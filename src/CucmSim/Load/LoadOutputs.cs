using System.Globalization;
using System.Net;
using System.Text;
using HdrHistogram;

namespace CucmSim.Load;

/// <summary>The report in words (the summary), as one self-contained HTML page, and as an HdrHistogram interval log.</summary>
internal static class LoadOutputs
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The summary printed at the end of every run.</summary>
    public static void Summary(LoadReport report, double maxFailureRatio, int exitCode, TextWriter output)
    {
        var c = report.Counters;
        var seconds = Math.Max(0.001, (report.Ended - report.Started).TotalSeconds);
        output.WriteLine(string.Create(Inv, $"load {report.Shard}: {report.Plan.GetValueOrDefault("phones")} {report.Plan.GetValueOrDefault("protocol")} phones, {report.Plan.GetValueOrDefault("mode")} mode, {seconds:0.0} s, target {report.Plan.GetValueOrDefault("target")}"));
        output.WriteLine(string.Create(Inv, $"  registrations  {c.RegistrationsAttempted} attempted, {c.RegistrationsSucceeded} registered, {c.RegistrationsFailed} failed; delay {Percentiles(report, "register-us", 1000, "ms")}"));
        output.WriteLine(string.Create(Inv, $"  refreshes      {c.Refreshes} answered, {c.RefreshesFailed} failed"));
        output.WriteLine(string.Create(Inv, $"  calls          {c.CallsAttempted} attempted, {c.CallsEstablished} set up (session establishment ratio {100 * report.SessionEstablishmentRatio:0.##} %), {c.CallsFailed} failed, {c.CallsCompleted} completed, {c.CallsDropped} dropped; at most {report.MaxConcurrentCalls} at once"));
        if (c.CallsAnswered > 0)
        {
            output.WriteLine(string.Create(Inv, $"  answered       {c.CallsAnswered} calls offered to load phones"));
        }

        if (report.Plan.GetValueOrDefault("mode") == "phone" && (report.Shard == "0/1" || report.Shard.EndsWith("shards", StringComparison.Ordinal)) && c.CallsAnswered < c.CallsEstablished)
        {
            // A target that does not route a protocol between phones answers the call itself.
            output.WriteLine(string.Create(Inv, $"  warning        {c.CallsEstablished - c.CallsAnswered} calls were set up but no load phone answered them: the target answered them itself (does it route {report.Plan.GetValueOrDefault("protocol")} calls between phones?)"));
        }

        output.WriteLine(string.Create(Inv, $"  setup time     {Percentiles(report, "setup-us", 1000, "ms")}"));
        if (c.MediaLegs > 0 || c.RtpSent > 0)
        {
            output.WriteLine(string.Create(Inv, $"  media          {c.MediaLegs} legs, {c.MediaLegsLost} lost{(report.LostLegs.Count == 0 ? string.Empty : " (" + string.Join(", ", report.LostLegs.Select(l => $"{l.Key} {l.Value}")) + ")")}; RTP {c.RtpSent} sent, {c.RtpReceived} received, {c.RtpLost} lost; RTCP {c.RtcpSent} sent, {c.RtcpReceived} received"));
            output.WriteLine(string.Create(Inv, $"  per leg        jitter {Percentiles(report, "jitter-us", 1000, "ms")}; loss {Percentiles(report, "loss-ppm", 10_000, "%")}; MOS {Mos(report)}"));
        }

        output.WriteLine("  failures       " + (report.Failures.Count == 0 ? "none" : string.Join(", ", report.Failures.Select(f => $"{f.Key} {f.Value}"))));
        foreach (var note in GeneratorNotes(report))
        {
            output.WriteLine("  note           " + note);
        }

        output.WriteLine(string.Create(Inv, $"  verdict        failure ratio {100 * report.FailureRatio:0.###} % (limit {100 * maxFailureRatio:0.###} %): {exitCode switch { 0 => "ok", 1 => "too many failures", _ => "no phone reached the target" }}"));
    }

    /// <summary>
    /// Failures of the plan, not of the target: attempts the generator could not place. Said apart, so that a
    /// firewall is not blamed for them.
    /// </summary>
    public static IEnumerable<string> GeneratorNotes(LoadReport report)
    {
        if (report.Failures.GetValueOrDefault("phone-busy") is > 0 and var busy)
        {
            double.TryParse(report.Plan.GetValueOrDefault("cps"), NumberStyles.Float, Inv, out var cps);
            double.TryParse(report.Plan.GetValueOrDefault("callers") ?? report.Plan.GetValueOrDefault("phones"), NumberStyles.Float, Inv, out var callers);
            var every = cps > 0 && callers > 0 ? string.Create(Inv, $" (each calling phone's turn comes about every {callers / cps:0.#} s)") : string.Empty;
            yield return string.Create(Inv, $"phone-busy: {busy} call attempts found their phone still in its previous call{every}, so the generator placed fewer calls than planned. The calls lasted longer than that: a slow answer or release at the target, or --hold near the turn. More --phones or a lower --cps gives each call time to end; the target is not at fault for these.");
        }

        if (report.Failures.GetValueOrDefault("not-registered") is > 0 and var unregistered)
        {
            yield return string.Create(Inv, $"not-registered: {unregistered} call attempts came while their phone was not registered (its registration failed or had not finished: see the registration failures and --register-rate).");
        }
    }

    private static string Percentiles(LoadReport report, string name, double divisor, string unit)
    {
        if (!report.Histograms.TryGetValue(name, out var encoded))
        {
            return "-";
        }

        var h = LoadHistograms.Decode(encoded);
        string V(double p) => (h.GetValueAtPercentile(p) / divisor).ToString("0.###", Inv);
        return $"p50 {V(50)} {unit}, p95 {V(95)} {unit}, p99 {V(99)} {unit}, max {(h.GetMaxValue() / divisor).ToString("0.###", Inv)} {unit}";
    }

    private static string Mos(LoadReport report)
    {
        if (!report.Histograms.TryGetValue("mos-x100", out var encoded))
        {
            return "-";
        }

        var h = LoadHistograms.Decode(encoded);
        return string.Create(Inv, $"worst {h.GetValueAtPercentile(0) / 100.0:0.00}, p5 {h.GetValueAtPercentile(5) / 100.0:0.00}, median {h.GetValueAtPercentile(50) / 100.0:0.00} (E-model, G.711)");
    }

    /// <summary>
    /// The setup times as an HdrHistogram interval log (format 1.3, as HdrHistogram's HistogramLogWriter writes it,
    /// but UTF-8 and with invariant numbers): one line per interval, times in seconds from the start, the maximum in
    /// ms, the histogram (µs) in the compressed V2 encoding. Tagged lines carry the registration delays.
    /// </summary>
    public static string HistogramLog(LoadReport report)
    {
        var text = new StringBuilder();
        var start = report.Started.ToUnixTimeMilliseconds() / 1000.0;
        text.Append("#[Histogram log format version 1.3]\n");
        text.Append(Inv, $"#[StartTime: {start.ToString("0.000", Inv)} (seconds since epoch), {report.Started.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", Inv)}]\n");
        text.Append("#[setup time per interval, microseconds (SIP INVITE to 200, SCCP OffHook to StartMediaTransmission)]\n");
        text.Append("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
        foreach (var interval in report.Timeline)
        {
            var h = interval.Setup is null ? LoadHistograms.Create() : LoadHistograms.Decode(interval.Setup);
            var offset = (interval.StartMs / 1000.0) - start;
            text.Append(Inv, $"{offset.ToString("0.000", Inv)},{(interval.LengthMs / 1000.0).ToString("0.000", Inv)},{(h.GetMaxValue() / 1000.0).ToString("0.000", Inv)},{LoadHistograms.Encode(h)}\n");
        }

        return text.ToString();
    }

    /// <summary>One self-contained page: the plan, the counters, failures, and SVG charts of rates, calls and setup time over time.</summary>
    public static string Html(LoadReport report)
    {
        var c = report.Counters;
        var t0 = report.Timeline.Count == 0 ? 0 : report.Timeline[0].StartMs;
        double X(LoadInterval i) => (i.StartMs - t0 + i.LengthMs) / 1000.0;
        double PerSecond(LoadInterval i, long v) => v * 1000.0 / Math.Max(1, i.LengthMs);
        var rates = Chart("Rates per second", "per s",
        [
            ("registrations", "#1f77b4", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.RegistrationsSucceeded))).ToList()),
            ("call attempts", "#2ca02c", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.CallsAttempted))).ToList()),
            ("calls set up", "#9467bd", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.CallsEstablished))).ToList()),
            ("failures", "#d62728", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.CallsFailed + i.Counters.RegistrationsFailed))).ToList()),
        ]);
        var load = Chart("Phones registered and calls in progress", "count",
        [
            ("registered", "#1f77b4", report.Timeline.Select(i => (X(i), (double)i.Registered)).ToList()),
            ("concurrent calls", "#ff7f0e", report.Timeline.Select(i => (X(i), (double)i.ConcurrentCalls)).ToList()),
        ]);
        var setups = report.Timeline.Where(i => i.Setup is not null).Select(i => (X: X(i), H: LoadHistograms.Decode(i.Setup!))).ToList();
        var latency = Chart("Setup time", "ms",
        [
            ("p50", "#2ca02c", setups.Select(s => (s.X, s.H.GetValueAtPercentile(50) / 1000.0)).ToList()),
            ("p95", "#ff7f0e", setups.Select(s => (s.X, s.H.GetValueAtPercentile(95) / 1000.0)).ToList()),
            ("p99", "#d62728", setups.Select(s => (s.X, s.H.GetValueAtPercentile(99) / 1000.0)).ToList()),
        ]);
        var media = Chart("RTP packets per second", "per s",
        [
            ("sent", "#1f77b4", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.RtpSent))).ToList()),
            ("received", "#2ca02c", report.Timeline.Select(i => (X(i), PerSecond(i, i.Counters.RtpReceived))).ToList()),
        ]);

        string E(string s) => WebUtility.HtmlEncode(s);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cucmsim load report</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}")
            .Append("th{background:#f3f3f3}.chart{margin:1em 0}.bad{color:#b00}.ok{color:#080}.note{color:#555;max-width:60em}svg text{font-size:11px;font-family:system-ui,sans-serif}")
            .Append("</style></head><body>\n<h1>cucmsim load</h1>\n");
        html.Append(Inv, $"<p>Shard {E(report.Shard)}; {E(report.Started.ToString("u", Inv))} to {E(report.Ended.ToString("u", Inv))}.</p>\n");
        html.Append("<h2>Plan</h2><table>");
        foreach (var (k, v) in report.Plan.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            html.Append("<tr><th>").Append(E(k)).Append("</th><td>").Append(E(v)).Append("</td></tr>");
        }

        html.Append("</table>\n<h2>Results</h2><table>");
        void Row(string name, string value) => html.Append("<tr><th>").Append(E(name)).Append("</th><td>").Append(E(value)).Append("</td></tr>");
        Row("registrations", string.Create(Inv, $"{c.RegistrationsSucceeded} of {c.RegistrationsAttempted} ({c.RegistrationsFailed} failed); delay {Percentiles(report, "register-us", 1000, "ms")}"));
        Row("refreshes", string.Create(Inv, $"{c.Refreshes} answered, {c.RefreshesFailed} failed"));
        Row("calls", string.Create(Inv, $"{c.CallsAttempted} attempted, {c.CallsEstablished} set up, {c.CallsFailed} failed, {c.CallsCompleted} completed, {c.CallsDropped} dropped"));
        Row("session establishment ratio", (100 * report.SessionEstablishmentRatio).ToString("0.##", Inv) + " %");
        Row("most concurrent calls", report.MaxConcurrentCalls.ToString(Inv));
        Row("setup time", Percentiles(report, "setup-us", 1000, "ms"));
        Row("media legs", string.Create(Inv, $"{c.MediaLegs} ({c.MediaLegsLost} lost)"));
        Row("RTP", string.Create(Inv, $"{c.RtpSent} sent, {c.RtpReceived} received, {c.RtpLost} lost; RTCP {c.RtcpSent} sent, {c.RtcpReceived} received"));
        Row("jitter per leg", Percentiles(report, "jitter-us", 1000, "ms"));
        Row("loss per leg", Percentiles(report, "loss-ppm", 10_000, "%"));
        Row("MOS per leg", Mos(report));
        Row("failure ratio", (100 * report.FailureRatio).ToString("0.###", Inv) + " %");
        html.Append("</table>\n<h2>Failures</h2>");
        if (report.Failures.Count == 0)
        {
            html.Append("<p class=\"ok\">none</p>");
        }
        else
        {
            html.Append("<table><tr><th>reason</th><th>count</th></tr>");
            foreach (var (k, v) in report.Failures)
            {
                html.Append("<tr><td class=\"bad\">").Append(E(k)).Append("</td><td>").Append(v.ToString(Inv)).Append("</td></tr>");
            }

            html.Append("</table>");
            foreach (var note in GeneratorNotes(report))
            {
                html.Append("<p class=\"note\">").Append(E(note)).Append("</p>");
            }
        }

        if (report.LostLegs.Count > 0)
        {
            html.Append("<h2>Media legs lost, by leg</h2><table><tr><th>leg</th><th>count</th></tr>");
            foreach (var (k, v) in report.LostLegs)
            {
                html.Append("<tr><td>").Append(E(k)).Append("</td><td>").Append(v.ToString(Inv)).Append("</td></tr>");
            }

            html.Append("</table>");
        }

        html.Append("\n<h2>Over time</h2>\n").Append(rates).Append(load).Append(latency).Append(media);
        html.Append("\n</body></html>\n");
        return html.ToString();
    }

    /// <summary>A line chart as inline SVG: seconds from the start on x, one polyline per series, a legend.</summary>
    private static string Chart(string title, string unit, IReadOnlyList<(string Name, string Colour, List<(double X, double Y)> Points)> series)
    {
        const int W = 760, H = 240, L = 56, R = 150, T = 24, B = 32;
        var points = series.SelectMany(s => s.Points).ToList();
        var maxX = points.Count == 0 ? 1 : Math.Max(1, points.Max(p => p.X));
        var maxY = points.Count == 0 ? 1 : Math.Max(1e-9, points.Max(p => p.Y));
        maxY = Nice(maxY);
        double Sx(double x) => L + ((W - L - R) * x / maxX);
        double Sy(double y) => T + ((H - T - B) * (1 - (y / maxY)));
        var svg = new StringBuilder();
        svg.Append(Inv, $"<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{WebUtility.HtmlEncode(title)}\">");
        svg.Append(Inv, $"<text x=\"{L}\" y=\"14\" font-weight=\"bold\">{WebUtility.HtmlEncode(title)}</text>");
        svg.Append(Inv, $"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"#888\"/>");
        for (var k = 0; k <= 4; k++)
        {
            var y = maxY * k / 4;
            svg.Append(Inv, $"<line x1=\"{L}\" y1=\"{Sy(y):0.#}\" x2=\"{W - R}\" y2=\"{Sy(y):0.#}\" stroke=\"#eee\"/><text x=\"{L - 4}\" y=\"{Sy(y) + 4:0.#}\" text-anchor=\"end\">{y.ToString("0.##", Inv)}</text>");
            var x = maxX * k / 4;
            svg.Append(Inv, $"<text x=\"{Sx(x):0.#}\" y=\"{H - B + 16}\" text-anchor=\"middle\">{x.ToString("0.#", Inv)} s</text>");
        }

        svg.Append(Inv, $"<text x=\"12\" y=\"{T + ((H - T - B) / 2)}\" transform=\"rotate(-90 12 {T + ((H - T - B) / 2)})\" text-anchor=\"middle\">{WebUtility.HtmlEncode(unit)}</text>");
        var row = 0;
        foreach (var (name, colour, data) in series)
        {
            if (data.Count > 0)
            {
                svg.Append(Inv, $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{string.Join(" ", data.Select(p => string.Create(Inv, $"{Sx(p.X):0.#},{Sy(p.Y):0.#}")))}\"><title>{WebUtility.HtmlEncode(name)}</title></polyline>");
            }

            var ly = T + 10 + (row++ * 16);
            svg.Append(Inv, $"<rect x=\"{W - R + 10}\" y=\"{ly - 8}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{W - R + 26}\" y=\"{ly + 1}\">{WebUtility.HtmlEncode(name)}</text>");
        }

        svg.Append("</svg></div>\n");
        return svg.ToString();
    }

    private static double Nice(double max)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(max)));
        foreach (var step in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (step * magnitude >= max)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }
}

using System.Globalization;
using System.Net;
using System.Text;
using System.Xml.Linq;
using Spectre.Console;

namespace CucmSim.Probe;

/// <summary>The report formats: JUnit XML for CI, one self-contained HTML page, the text table for terminals.</summary>
public static class ReportWriters
{
    private static string Seconds(double ms) => (ms / 1000).ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>
    /// JUnit XML: one testsuite per guide table, one testcase per flow. A failure's message is the verdict, its text the
    /// reason; the evidence goes to system-out. Classnames hold roles and tables only, never addresses, so runs against
    /// different targets group alike in GitLab and Jenkins.
    /// </summary>
    public static string Junit(ProbeReport report, Func<int, string> tableTitle)
    {
        var suites = new XElement("testsuites",
            new XAttribute("name", $"cucmsim probe {report.Role} to {report.TargetRole}"),
            new XAttribute("tests", report.Flows.Count),
            new XAttribute("failures", report.Flows.Count(f => f.Result == "fail")),
            new XAttribute("skipped", report.Flows.Count(f => f.Result == "skip")),
            new XAttribute("time", Seconds(report.ElapsedMs)));
        foreach (var table in report.Flows.GroupBy(f => f.Table).OrderBy(g => g.Key))
        {
            var suite = new XElement("testsuite",
                new XAttribute("name", tableTitle(table.Key)),
                new XAttribute("tests", table.Count()),
                new XAttribute("failures", table.Count(f => f.Result == "fail")),
                new XAttribute("errors", 0),
                new XAttribute("skipped", table.Count(f => f.Result == "skip")),
                new XAttribute("time", Seconds(table.Sum(f => f.ElapsedMs))),
                new XAttribute("timestamp", report.Started.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)));
            foreach (var flow in table)
            {
                var testcase = new XElement("testcase",
                    new XAttribute("classname", string.Create(CultureInfo.InvariantCulture, $"probe.{report.Role}-to-{report.TargetRole}.table{flow.Table}")),
                    new XAttribute("name", $"{flow.Id} {flow.Transport}/{flow.Ports} {flow.Protocol}"),
                    new XAttribute("time", Seconds(flow.ElapsedMs)));
                if (flow.Result == "fail")
                {
                    testcase.Add(new XElement("failure",
                        new XAttribute("message", flow.VerdictName),
                        new XAttribute("type", flow.VerdictName),
                        $"expected {flow.Expected}, observed {flow.VerdictName}: {flow.Reason}"));
                }
                else if (flow.Result == "skip")
                {
                    testcase.Add(new XElement("skipped", new XAttribute("message", flow.Reason)));
                }

                testcase.Add(new XElement("system-out", Evidence(flow)));
                suite.Add(testcase);
            }

            suites.Add(suite);
        }

        return new XDocument(new XDeclaration("1.0", "utf-8", null), suites).Declaration + "\n" + suites;
    }

    /// <summary>Every line a reader needs to see why: reason, legs with their details, diffs, the server's record.</summary>
    public static string Evidence(FlowResult flow)
    {
        var sb = new StringBuilder();
        sb.Append("verdict: ").Append(flow.VerdictName).Append(" (expected ").Append(flow.Expected).Append(", ").Append(flow.Result).Append(")\n");
        sb.Append("reason: ").Append(flow.Reason).Append('\n');
        foreach (var e in flow.Evidence)
        {
            sb.Append(e).Append('\n');
        }

        foreach (var leg in flow.Legs)
        {
            sb.Append(CultureInfo.InvariantCulture, $"leg {leg.Name} {leg.Listener} [{leg.Role}] {leg.VerdictName}: {leg.Detail} ({leg.ElapsedMs:0} ms)");
            if (leg.Local is not null)
            {
                sb.Append(" local ").Append(leg.Local);
            }

            if (leg.PeerSeen is not null)
            {
                sb.Append(", seen as ").Append(leg.PeerSeen);
            }

            if (leg.Nonces.Count > 0)
            {
                sb.Append(", nonce ").Append(string.Join(",", leg.Nonces));
            }

            sb.Append('\n');
            if (leg.Certificate is { } c)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  certificate: subject {c.Subject}; issuer {c.Issuer}; SANs {string.Join(", ", c.Sans)}; expires {c.NotAfter:yyyy-MM-dd}\n");
            }

            foreach (var e in leg.Evidence)
            {
                sb.Append("  ").Append(e).Append('\n');
            }
        }

        foreach (var d in flow.Diffs)
        {
            sb.Append(CultureInfo.InvariantCulture, $"rewritten {d.Leg} {d.Field}: sent '{d.Sent}', got '{d.Got}'\n");
        }

        return sb.ToString();
    }

    /// <summary>One HTML file with no external asset: a summary, filters by verdict and result, the table, each flow's evidence.</summary>
    public static string Html(ProbeReport report, Func<int, string> tableTitle)
    {
        static string E(string? s) => WebUtility.HtmlEncode(s ?? string.Empty);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cucmsim probe ").Append(E(report.Target)).Append("</title>\n<style>\n")
          .Append("body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;width:100%}")
          .Append("th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}")
          .Append("tr.group td{background:#eef;font-weight:bold}.pass{color:#186a1d}.fail{color:#b00020;font-weight:bold}.skip{color:#777}")
          .Append("pre{white-space:pre-wrap;margin:.3em 0;font-size:12px}summary{cursor:pointer}.v{font-family:monospace}")
          .Append("#filters label{margin-right:1em}\n</style></head><body>\n");
        sb.Append("<h1>cucmsim probe: ").Append(E(report.Role)).Append(" to ").Append(E(report.TargetRole)).Append(" at ").Append(E(report.Target)).Append("</h1>\n");
        sb.Append("<p>profile ").Append(E(report.Profile)).Append(", started ").Append(E(report.Started.ToString("u", CultureInfo.InvariantCulture)))
          .Append(CultureInfo.InvariantCulture, $", {report.ElapsedMs / 1000:0.0} s, server's record: ").Append(E(report.ServerView)).Append(", exit code ").Append(report.ExitCode).Append("</p>\n<p>");
        foreach (var (k, v) in report.Summary)
        {
            sb.Append("<span class=\"v\">").Append(E(k)).Append(' ').Append(v).Append("</span> &nbsp; ");
        }

        sb.Append("</p>\n<div id=\"filters\">verdict: <select id=\"fv\"><option value=\"\">all</option>");
        foreach (var v in report.Flows.Select(f => f.VerdictName).Distinct().Order(StringComparer.Ordinal))
        {
            sb.Append("<option>").Append(E(v)).Append("</option>");
        }

        sb.Append("</select> <label><input type=\"checkbox\" id=\"ff\"> failures only</label> text: <input id=\"ft\" size=\"24\"></div>\n");
        if (report.Changes is { Count: > 0 } changes)
        {
            sb.Append("<h2>Changed since the baseline</h2><ul>");
            foreach (var c in changes)
            {
                sb.Append("<li>").Append(E(c.ToString())).Append("</li>");
            }

            sb.Append("</ul>\n");
        }

        sb.Append("<table id=\"flows\"><thead><tr><th>flow</th><th>ports</th><th>protocol</th><th>expected</th><th>verdict</th><th>result</th><th>reason and evidence</th></tr></thead><tbody>\n");
        foreach (var table in report.Flows.GroupBy(f => f.Table).OrderBy(g => g.Key))
        {
            sb.Append("<tr class=\"group\"><td colspan=\"7\">").Append(E(tableTitle(table.Key))).Append("</td></tr>\n");
            foreach (var f in table)
            {
                sb.Append("<tr class=\"flow\" id=\"flow-").Append(E(f.Id)).Append("\" data-verdict=\"").Append(E(f.VerdictName)).Append("\" data-result=\"").Append(E(f.Result)).Append("\">")
                  .Append("<td class=\"v\">").Append(E(f.Id)).Append("</td><td>").Append(E(f.Transport)).Append(' ').Append(E(f.Ports)).Append("</td><td>").Append(E(f.Protocol))
                  .Append("</td><td>").Append(E(f.Expected)).Append("</td><td class=\"v\">").Append(E(f.VerdictName)).Append("</td><td class=\"").Append(E(f.Result)).Append("\">").Append(E(f.Result))
                  .Append("</td><td>").Append(E(f.Reason)).Append("<details><summary>evidence</summary><pre>").Append(E(Evidence(f))).Append("</pre></details></td></tr>\n");
            }
        }

        sb.Append("</tbody></table>\n<script>\n")
          .Append("(function(){var fv=document.getElementById('fv'),ff=document.getElementById('ff'),ft=document.getElementById('ft');")
          .Append("function apply(){var v=fv.value,f=ff.checked,t=ft.value.toLowerCase();")
          .Append("document.querySelectorAll('tr.flow').forEach(function(r){var ok=(!v||r.dataset.verdict===v)&&(!f||r.dataset.result==='fail')&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);r.style.display=ok?'':'none';});}")
          .Append("fv.onchange=apply;ff.onchange=apply;ft.oninput=apply;})();\n</script>\n</body></html>\n");
        return sb.ToString();
    }

    /// <summary>
    /// The terminal's final table, grouped by the guide's tables (Spectre.Console: colours on a terminal, plain text
    /// and a fixed width when the output is a file or a pipe).
    /// </summary>
    public static void Terminal(ProbeReport report, Func<int, string> tableTitle, TextWriter output, bool terminal)
    {
        var console = Cli.Tables.ConsoleOn(output, terminal, plainWidth: 220);

        foreach (var group in report.Flows.GroupBy(f => f.Table).OrderBy(g => g.Key))
        {
            var table = new Table { Border = TableBorder.Simple, Title = new TableTitle(tableTitle(group.Key)) };
            table.AddColumns("FLOW", "PORTS", "PROTOCOL", "EXPECTED", "VERDICT", "RESULT", "REASON");
            table.Columns[^1].Width(110);
            foreach (var f in group)
            {
                var colour = f.Verdict switch
                {
                    Verdict.Allowed => "green",
                    Verdict.Skipped => "grey",
                    Verdict.Rewritten or Verdict.SecondaryBlocked or Verdict.MtuDrop or Verdict.Expired or Verdict.OneWay or Verdict.Inconclusive => "yellow",
                    _ => "red",
                };
                table.AddRow(
                    new Text(f.Id), new Text($"{f.Transport} {f.Ports}"), new Text(f.Protocol), new Text(f.Expected),
                    new Markup($"[{colour}]{Markup.Escape(f.VerdictName)}[/]"),
                    new Markup(f.Result == "fail" ? "[bold red]FAIL[/]" : f.Result == "pass" ? "[green]PASS[/]" : "[grey]SKIP[/]"),
                    new Text(Cli.Tables.Shorten(f.Reason, 220)));
            }

            console.Write(table);
        }

        if (report.Changes is { } changes)
        {
            output.WriteLine(changes.Count == 0 ? "baseline: nothing changed" : $"baseline: {changes.Count} change(s)");
            foreach (var c in changes)
            {
                output.WriteLine("  " + c);
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{report.Flows.Count} flows: {report.Summary.GetValueOrDefault("pass")} pass, {report.Summary.GetValueOrDefault("fail")} fail, {report.Summary.GetValueOrDefault("skip")} skipped ({string.Join(", ", report.Flows.GroupBy(f => f.VerdictName).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}"))}); {report.ElapsedMs / 1000:0.00} s; server's record: {report.ServerView}"));
    }
}

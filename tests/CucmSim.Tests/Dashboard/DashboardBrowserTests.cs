using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CucmSim.Clients.Echo;
using CucmSim.Clients.Sccp;
using CucmSim.Clients.Sip;
using CucmSim.Probe;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;
using OpenQA.Selenium;

namespace CucmSim.Tests.Dashboard;

/// <summary>The control API's dashboard and the probe's HTML report in Debian's Chromium, driven by Selenium.</summary>
public sealed class DashboardBrowserTests
{
    /// <summary>How long a hit may take to show without a reload.</summary>
    private static readonly TimeSpan Live = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task The_dashboard_maps_every_listener_and_shows_hits_devices_and_probe_runs_live()
    {
        Assert.True(Browser.Available, "install Debian's chromium and chromium-driver (test.sh does)");
        await using var server = await SimHost.StartAsync(new ServeOptions { EphemeralPorts = true, Except = ["rtp"] });
        using var browser = new Browser();
        var driver = browser.Driver;
        driver.Navigate().GoToUrl($"http://{server.ControlEndPoint}/");
        browser.Until(d => d.FindElement(By.CssSelector("body[data-ready=true]")), "the dashboard's first read");
        browser.Until(d => d.FindElement(By.Id("live")).Text == "live", "the event stream to open");

        // Every listener of the role is on the map, once per guide table it serves.
        var cells = driver.FindElements(By.CssSelector("#map .cell"));
        var mapped = cells.Select(c => c.GetAttribute("data-listener") ?? string.Empty).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(server.Listeners.Select(l => l.Id).ToHashSet(StringComparer.Ordinal), mapped);
        Assert.All(cells, c => Assert.Equal("0", c.GetAttribute("data-hits")));

        // Hits made now show within two seconds, with no reload: an echo, a SIP OPTIONS, an SCCP registration.
        var echo = await EchoClient.TcpAsync(server.EndPoint("tcp/2000")).DefaultTimeout();
        Assert.True(echo.Ok, echo.Error);
        WaitHits(browser, "tcp/2000", 1);
        browser.Until(d => d.FindElements(By.CssSelector("#ledger tbody tr")).Any(r => r.Text.Contains(echo.Nonce, StringComparison.Ordinal)), "the echo in the ledger tail", Live);

        await using (var sip = await SipClient.ConnectAsync(new SipClientOptions { Target = server.EndPoint("udp/5060"), Transport = "udp" }).DefaultTimeout())
        {
            var options = await sip.OptionsAsync().DefaultTimeout();
            Assert.True(options.Ok, options.Error);
        }

        WaitHits(browser, "udp/5060", 1);

        await using var phone = new SccpPhone();
        await phone.ConnectAsync(server.EndPoint("tcp/2000")).DefaultTimeout();
        Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
        var clock = Stopwatch.StartNew();
        var row = browser.Until(d => d.FindElement(By.CssSelector($"#devices tr[data-device='{phone.Options.DeviceName}']")), "the phone in the devices table", Live);
        Assert.True(clock.Elapsed < Live + TimeSpan.FromSeconds(0.5), $"the registration showed after {clock.Elapsed}");
        Assert.Contains("sccp", row.Text, StringComparison.Ordinal);
        Assert.Contains(phone.LocalEndPoint!.Port.ToString(CultureInfo.InvariantCulture), row.Text, StringComparison.Ordinal);
        WaitHits(browser, "tcp/2000", 2);

        // A probe run sent to the control API (nothing listens at this offset: blocked verdicts with their evidence).
        var probe = await ProbeCommand.RunAsync(
            ["127.0.0.1", "--port-offset", "61500", "--only", "t6.sccp,t6.tftp", "--timeout", "1", "--retries", "0", "--report-to", $"http://{server.ControlEndPoint}"],
            TextWriter.Null, TextWriter.Null).DefaultTimeout();
        Assert.NotEqual(2, probe);
        Assert.Equal(1, server.ProbeRuns.Count);
        var groups = browser.Until(d => d.FindElements(By.CssSelector("#probe-runs .verdict-group")), "the probe run's verdict groups", Live);
        var verdicts = groups.Select(g => g.GetAttribute("data-verdict")).ToList();
        Assert.Contains("blocked-reset", verdicts);
        var sccp = driver.FindElement(By.CssSelector("#probe-runs details.flow[data-flow='t6.sccp']"));
        Assert.False(sccp.Displayed);
        driver.FindElement(By.CssSelector("#probe-runs .verdict-group[data-verdict='blocked-reset'] > summary")).Click();
        sccp.FindElement(By.TagName("summary")).Click();
        var evidence = sccp.FindElement(By.TagName("pre")).Text;
        Assert.Contains("verdict: blocked-reset", evidence, StringComparison.Ordinal);
        Assert.Contains("reason:", evidence, StringComparison.Ordinal);
        Assert.DoesNotContain("undefined", evidence, StringComparison.Ordinal);

        // Filters: only hit, only never hit, protocol, table.
        var hitIds = server.Listeners.Where(l => l.Hits > 0).Select(l => l.Id).ToHashSet(StringComparer.Ordinal);
        Select(driver, "f-hits", "hit");
        Assert.Equal(hitIds, VisibleListeners(driver));
        Select(driver, "f-hits", "never");
        Assert.Equal(server.Listeners.Select(l => l.Id).Except(hitIds).ToHashSet(StringComparer.Ordinal), VisibleListeners(driver));
        Select(driver, "f-hits", "");
        Select(driver, "f-protocol", "sip");
        Assert.Equal(server.Listeners.Where(l => l.Spec.Protocol == "sip").Select(l => l.Id).ToHashSet(StringComparer.Ordinal), VisibleListeners(driver));
        Select(driver, "f-protocol", "");
        Select(driver, "f-table", "6");
        Assert.Equal(server.Listeners.Where(l => l.Spec.Flows.Any(f => f.Table == 6)).Select(l => l.Id).ToHashSet(StringComparer.Ordinal), VisibleListeners(driver));
        Assert.All(driver.FindElements(By.CssSelector("#map .table-group")).Where(g => g.Displayed), g => Assert.Equal("6", g.GetAttribute("data-table")));
        Select(driver, "f-table", "");

        // The ledger's filters.
        driver.FindElement(By.Id("l-kind")).SendKeys("sccp-register");
        var shown = driver.FindElements(By.CssSelector("#ledger tbody tr"));
        Assert.NotEmpty(shown);
        Assert.All(shown, r => Assert.StartsWith("sccp-register", r.GetAttribute("data-kind"), StringComparison.Ordinal));
        driver.FindElement(By.Id("l-kind")).Clear();
        driver.FindElement(By.Id("l-peer")).SendKeys("no-such-peer");
        Assert.Empty(driver.FindElements(By.CssSelector("#ledger tbody tr")));
        driver.FindElement(By.Id("l-peer")).Clear();
        driver.FindElement(By.Id("l-listener")).SendKeys("udp/5060");
        Assert.All(driver.FindElements(By.CssSelector("#ledger tbody tr")), r => Assert.Contains("udp/5060", r.Text, StringComparison.Ordinal));
        driver.FindElement(By.Id("l-listener")).Clear();
        ((IJavaScriptExecutor)driver).ExecuteScript("document.getElementById('l-listener').dispatchEvent(new Event('input'))");

        // The whole page, from the top, for the artifact (and the README's picture).
        var height = Convert.ToInt32(((IJavaScriptExecutor)driver).ExecuteScript("return document.documentElement.scrollHeight;"), CultureInfo.InvariantCulture);
        driver.Manage().Window.Size = new System.Drawing.Size(1400, Math.Min(height + 40, 6000));
        ((IJavaScriptExecutor)driver).ExecuteScript("window.scrollTo(0, 0);");
        var shot = browser.Screenshot("dashboard.png");
        Assert.True(new FileInfo(shot).Length > 10_000, shot);
        if (Environment.GetEnvironmentVariable("CUCMSIM_UPDATE_SCREENSHOT") is { Length: > 0 } docs)
        {
            File.Copy(shot, docs, overwrite: true);
        }

        Assert.Empty(browser.ConsoleErrors());
    }

    [Fact]
    public async Task The_probe_html_report_lists_every_flow_filters_and_expands_its_evidence()
    {
        Assert.True(Browser.Available, "install Debian's chromium and chromium-driver (test.sh does)");

        // The SCCP listener on offset 62000 answers; TFTP is not served there: two verdicts.
        await using var server = await SimHost.StartAsync(new ServeOptions { PortOffset = 62000, Only = ["t6.sccp"] });
        var html = Path.Combine(SimHost.TempDirectory(), "report.html");
        var json = Path.Combine(SimHost.TempDirectory(), "report.json");
        var errors = new StringWriter();
        await ProbeCommand.RunAsync(
            ["127.0.0.1", "--port-offset", "62000", "--only", "t6.sccp,t6.tftp", "--timeout", "1", "--retries", "0", "--html", html, "--json", json,
             "--control", $"http://{server.ControlEndPoint}", "--report-to", $"{server.ControlEndPoint}"],
            TextWriter.Null, errors).DefaultTimeout();
        var report = ProbeReport.FromJson(await File.ReadAllTextAsync(json));
        Assert.Equal(["t6.sccp", "t6.tftp"], report.Flows.Select(f => f.Id).Order(StringComparer.Ordinal));
        Assert.Equal("allowed", report.Flows.Single(f => f.Id == "t6.sccp").VerdictName);
        Assert.DoesNotContain("--report-to", errors.ToString(), StringComparison.Ordinal);

        using var browser = new Browser();
        var driver = browser.Driver;
        driver.Navigate().GoToUrl(new Uri(html).AbsoluteUri);
        var rows = driver.FindElements(By.CssSelector("tr.flow"));
        Assert.Equal(report.Flows.Select(f => f.Id).Order(StringComparer.Ordinal), rows.Select(r => r.FindElement(By.CssSelector("td")).Text).Order(StringComparer.Ordinal));

        // Filters: by verdict, failures only, text.
        Select(driver, "fv", "allowed");
        Assert.Equal(["t6.sccp"], VisibleFlows(driver));
        Select(driver, "fv", "");
        driver.FindElement(By.Id("ff")).Click();
        Assert.Equal(report.Flows.Where(f => f.Result == "fail").Select(f => f.Id).Order(StringComparer.Ordinal), VisibleFlows(driver));
        driver.FindElement(By.Id("ff")).Click();
        driver.FindElement(By.Id("ft")).SendKeys("tftp");
        Assert.Equal(["t6.tftp"], VisibleFlows(driver));
        driver.FindElement(By.Id("ft")).Clear();
        ((IJavaScriptExecutor)driver).ExecuteScript("document.getElementById('ft').dispatchEvent(new Event('input'))");
        Assert.Equal(2, VisibleFlows(driver).Count);

        // Evidence expands.
        var row = driver.FindElement(By.Id("flow-t6.sccp"));
        var pre = row.FindElement(By.TagName("pre"));
        Assert.False(pre.Displayed);
        row.FindElement(By.TagName("summary")).Click();
        Assert.True(pre.Displayed);
        Assert.Contains("verdict: allowed", pre.Text, StringComparison.Ordinal);
        Assert.Empty(browser.ConsoleErrors());

        // The same run, sent with --report-to, is on the dashboard grouped by verdict.
        Assert.Equal(1, server.ProbeRuns.Count);
        driver.Navigate().GoToUrl($"http://{server.ControlEndPoint}/");
        browser.Until(d => d.FindElement(By.CssSelector("body[data-ready=true]")), "the dashboard's first read");
        var verdicts = driver.FindElements(By.CssSelector("#probe-runs .verdict-group")).Select(g => g.GetAttribute("data-verdict")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(report.Flows.Select(f => f.VerdictName).Distinct().Order(StringComparer.Ordinal), verdicts);
        Assert.Empty(browser.ConsoleErrors());
    }

    [Fact]
    public async Task Probe_runs_are_bounded_and_bad_reports_refused()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { EphemeralPorts = true, Only = ["t6.sccp"] });
        using var http = server.Control();
        using var bad = await http.PostAsync("/api/probe-runs", new StringContent("{\"no\":1}")).DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        using var junk = await http.PostAsync("/api/probe-runs", new StringContent("not json")).DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, junk.StatusCode);
        using var huge = await http.PostAsync("/api/probe-runs", new StringContent("{\"flows\":[" + new string(' ', ProbeRuns.MaxBytes) + "]}")).DefaultTimeout();
        Assert.Equal(System.Net.HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        for (var i = 0; i < ProbeRuns.MaxRuns + 5; i++)
        {
            using var ok = await http.PostAsync("/api/probe-runs", new StringContent($"{{\"target\":\"t{i}\",\"flows\":[{{\"id\":\"x\",\"result\":\"fail\"}}]}}")).DefaultTimeout();
            Assert.Equal(System.Net.HttpStatusCode.Created, ok.StatusCode);
        }

        using var list = JsonDocument.Parse(await http.GetStringAsync("/api/probe-runs").DefaultTimeout());
        var runs = list.RootElement.EnumerateArray().ToList();
        Assert.Equal(ProbeRuns.MaxRuns, runs.Count);
        Assert.Equal($"t{ProbeRuns.MaxRuns + 4}", runs[^1].GetProperty("target").GetString());
        Assert.Equal(1, runs[^1].GetProperty("fail").GetInt32());
        await server.WaitForRecordAsync(r => r.Kind == "event" && r.Verdict == "probe-run");

        // The page and its assets are served, and the stream without event names serves browsers' onmessage.
        Assert.Contains("dashboard.js", await http.GetStringAsync("/").DefaultTimeout(), StringComparison.Ordinal);
        Assert.Contains("EventSource", await http.GetStringAsync("/dashboard.js").DefaultTimeout(), StringComparison.Ordinal);
    }

    private static void WaitHits(Browser browser, string listener, int atLeast) =>
        browser.Until(d => d.FindElements(By.CssSelector($"#map .cell[data-listener='{listener}']"))
            .All(c => int.Parse(c.GetAttribute("data-hits") ?? "0", CultureInfo.InvariantCulture) >= atLeast), $"{listener} with {atLeast} hit(s) on the map", Live);

    private static void Select(IWebDriver driver, string id, string value)
    {
        var select = driver.FindElement(By.Id(id));
        select.FindElements(By.TagName("option")).First(o => o.GetDomProperty("value") == value).Click();
    }

    private static HashSet<string> VisibleListeners(IWebDriver driver) =>
        ((IJavaScriptExecutor)driver).ExecuteScript(
            "return Array.from(document.querySelectorAll('#map .cell')).filter(function(c){return c.offsetParent!==null;}).map(function(c){return c.dataset.listener;});") is IEnumerable<object> ids
            ? ids.Select(i => (string)i).ToHashSet(StringComparer.Ordinal)
            : [];

    private static List<string> VisibleFlows(IWebDriver driver) =>
        driver.FindElements(By.CssSelector("tr.flow")).Where(r => r.Displayed).Select(r => r.FindElement(By.CssSelector("td")).Text).Order(StringComparer.Ordinal).ToList();
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;
using CucmSim.Cli;

namespace CucmSim.Probe;

/// <summary>cucmsim probe: plays the sending role of every flow toward a cucmsim serve and judges each path.</summary>
internal static class ProbeCommand
{
    public const int ExitAsExpected = 0;
    public const int ExitNotAsExpected = 1;
    public const int ExitBadOptions = 2;
    public const int ExitUnreachable = 3;

    /// <summary>cucmsim probe with these arguments (what follows "probe" on the command line).</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        CliMain.RunAsync(["probe", .. argv], output, error, cancellationToken);

    public static async Task<int> RunAsync(System.CommandLine.ParseResult args, ProbeCli cli, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var errors = OptionKinds.Problems(args);

        // A value that did not parse is among the errors already; the rest of the checks go on with the default.
        T Get<T>(System.CommandLine.Option<T> option, T fallback)
        {
            try
            {
                return args.GetValue(option) ?? fallback;
            }
            catch (InvalidOperationException)
            {
                return fallback;
            }
        }

        var from = args.GetValue(cli.From);
        var targetText = args.GetValue(cli.Target);
        var plan = args.GetValue(cli.Plan);
        if (targetText is null && from is null && !plan)
        {
            errors.Add("name the TARGET: the address or name of the host that runs 'cucmsim serve'");
        }

        var offset = Get(cli.PortOffset, 0);
        var retries = Get(cli.Retries, 1);
        var concurrency = Get(cli.Concurrency, 64);
        var timeout = TimeSpan.FromSeconds(Math.Clamp(Get(cli.Timeout, 2), 0.05, 600));
        var rtpSampleText = args.GetValue(cli.RtpSample);
        int? rtpSample = rtpSampleText == "all" ? null : int.TryParse(rtpSampleText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 16;

        IPAddress? source = null;
        if (args.GetValue(cli.Source) is { } s && !IPAddress.TryParse(s, out source))
        {
            errors.Add($"--source {s}: not an IP address");
        }

        CucmSim.Clients.Snmp.SnmpV3User? snmpUser = null;
        if (args.GetValue(cli.SnmpUser) is { } userText)
        {
            try
            {
                var u = Serve.Snmp.SnmpUser.Parse(userText);
                snmpUser = new CucmSim.Clients.Snmp.SnmpV3User(u.Name, u.Auth, u.AuthPassword, u.Priv, u.PrivPassword);
            }
            catch (FormatException ex)
            {
                errors.Add($"--snmp-user {userText.Split(':')[0]}:...: {ex.Message}");
            }
        }

        Uri? control = null;
        if (args.GetValue(cli.Control) is { } c)
        {
            var text = c.Contains("://", StringComparison.Ordinal) ? c : "http://" + c;
            if (!Uri.TryCreate(text, UriKind.Absolute, out control) || control.Scheme is not ("http" or "https"))
            {
                errors.Add($"--control {c}: write the control API's URL, e.g. http://10.0.0.5:9900");
            }
        }

        var token = args.GetValue(cli.ControlToken) ?? (Environment.GetEnvironmentVariable(Serve.ControlAccess.EnvironmentVariable) is { Length: > 0 } variable ? variable : null);
        Uri? reportTo = null;
        if (args.GetValue(cli.ReportTo) is { } rt)
        {
            reportTo = ReportTarget(rt);
            if (reportTo is null)
            {
                errors.Add($"--report-to {rt}: write the control API's URL, e.g. http://10.0.0.5:9900");
            }
        }

        var ledger = args.GetValue(cli.Ledger);
        if (ledger is not null && !File.Exists(ledger) && from is not null)
        {
            errors.Add($"--ledger {ledger}: no such file");
        }

        if (from is not null && !File.Exists(from))
        {
            errors.Add($"--from {from}: no such file");
        }

        ProbeReport? baseline = null;
        if (args.GetValue(cli.Baseline) is { } b)
        {
            baseline = ReadReport(b, "--baseline", errors);
        }

        var (profile, problems) = ProfileLoader.TryLoad(args.GetValue(cli.Profile) ?? ProfileLoader.DefaultProfile);
        if (profile is null)
        {
            ProfilesCommand.PrintProblems(problems, error);
            Fail(errors, error);
            return ExitBadOptions;
        }

        var only = args.GetValue(cli.Only) ?? [];
        var except = args.GetValue(cli.Except) ?? [];
        var filter = FlowFilter.Parse(profile, only, except, errors);
        var expectations = Expectations.AllAllowed;
        if (args.GetValue(cli.Expect) is { } expectFile)
        {
            if (File.Exists(expectFile))
            {
                expectations = Expectations.Parse(expectFile, await File.ReadAllTextAsync(expectFile, cancellationToken).ConfigureAwait(false), profile, errors);
            }
            else
            {
                errors.Add($"--expect {expectFile}: no such file");
            }
        }

        var role = args.GetValue(cli.Role) ?? "phone";
        var targetRole = args.GetValue(cli.TargetRole) ?? "cucm";
        ProbePlan? probePlan = null;
        try
        {
            probePlan = ProbePlan.Build(profile, role, targetRole, filter, offset, rtpSample);
            if (probePlan.Flows.Count == 0)
            {
                errors.Add($"profile '{profile.Name}' has no flow from {role} to {targetRole}{(only.Length + except.Length > 0 ? " left by --only/--except" : string.Empty)}");
            }
        }
        catch (ArgumentException ex)
        {
            errors.Add(ex.Message);
        }

        if (errors.Count > 0 || probePlan is null)
        {
            Fail(errors, error);
            return ExitBadOptions;
        }

        string Title(int table) => profile.Name == "cucm" || profile.Extends == "cucm" ? ProbePlan.TableTitle(table) : string.Create(CultureInfo.InvariantCulture, $"Table {table}");

        if (plan)
        {
            PrintPlan(probePlan, profile, role, targetRole, targetText, offset, Title, output);
            return ExitAsExpected;
        }

        ProbeReport report;
        if (from is not null)
        {
            report = ReadReport(from, "--from", errors)!;
            if (errors.Count > 0)
            {
                Fail(errors, error);
                return ExitBadOptions;
            }
        }
        else
        {
            IPAddress target;
            try
            {
                target = await ResolveAsync(targetText!, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                error.WriteLine($"cucmsim probe: {targetText}: {ex.Message}");
                return ExitUnreachable;
            }

            var context = new ProbeContext
            {
                Target = target,
                Source = source,
                Timeout = timeout,
                Retries = retries,
                SnmpCommunity = args.GetValue(cli.SnmpCommunity) ?? "public",
                SnmpUser = snmpUser,
                AxlUser = args.GetValue(cli.AxlUser) ?? "administrator:cucmsim",
                SipPassword = args.GetValue(cli.SipPassword),
                SipNumber = args.GetValue(cli.Number) ?? "1000",
                Mtu = args.GetValue(cli.Mtu),
                IdleSeconds = Get(cli.Idle, 0),
            };
            report = new ProbeReport
            {
                Version = CliMain.VersionText,
                Started = DateTimeOffset.UtcNow,
                Target = target.ToString(),
                Profile = profile.Name,
                Role = role,
                TargetRole = targetRole,
                PortOffset = offset,
                Source = source?.ToString(),
                TimeoutMs = timeout.TotalMilliseconds,
                Retries = retries,
                Concurrency = concurrency,
                RtpSample = rtpSample?.ToString(CultureInfo.InvariantCulture) ?? "all",
                IdleSeconds = context.IdleSeconds == 0 ? null : context.IdleSeconds,
                DeviceName = context.DeviceName,
            };

            using var http = control is null ? null : ControlClient(control, TimeSpan.FromSeconds(5), token);
            long? since = null;
            if (http is not null)
            {
                try
                {
                    since = await ServerView.LastSeqAsync(http, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or KeyNotFoundException)
                {
                    error.WriteLine($"cucmsim probe: --control {control}: {ex.Message}; going on without the server's record");
                }
            }

            var progress = new ProbeProgress(probePlan.Flows.Count, error, !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var flows = await ProbeRunner.RunAsync(probePlan, context, concurrency, progress.Done, cancellationToken).ConfigureAwait(false);
            progress.Finish();
            report.Flows.AddRange(flows);
            report.ElapsedMs = clock.Elapsed.TotalMilliseconds;
            report.Finished = DateTimeOffset.UtcNow;

            if (http is not null && since is { } seq)
            {
                try
                {
                    var wanted = flows.SelectMany(f => f.Legs).Where(l => l.Outcome == Outcome.Answered && l.Nonces.Count > 0).Select(l => l.Nonces[^1]).ToList();
                    var view = await ServerView.FromControlAsync(http, seq, wanted, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                    Rejudge(report, view);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or KeyNotFoundException)
                {
                    error.WriteLine($"cucmsim probe: --control {control}: {ex.Message}; verdicts without the server's record");
                }
            }
        }

        if (ledger is not null)
        {
            if (File.Exists(ledger))
            {
                Rejudge(report, ServerView.FromLedgerFile(ledger));
            }
            else
            {
                error.WriteLine($"cucmsim probe: --ledger {ledger}: no such file (yet); verdicts without the server's record");
            }
        }
        else if (from is not null && control is not null)
        {
            error.WriteLine("cucmsim probe: --from judges again with --ledger FILE; the control API keeps only its newest records");
        }

        foreach (var flow in report.Flows)
        {
            Judge.Expect(flow, expectations);
        }

        if (baseline is not null)
        {
            report.Changes = BaselineChange.Compare(baseline, report);
        }

        report.Summarise();
        report.ExitCode = ExitCode(report);
        ReportWriters.Terminal(report, Title, output, Tables.IsTerminal(output));
        await WriteAsync(args.GetValue(cli.Json), report.ToJson(), output, cancellationToken).ConfigureAwait(false);
        await WriteAsync(args.GetValue(cli.Junit), ReportWriters.Junit(report, Title), output, cancellationToken).ConfigureAwait(false);
        await WriteAsync(args.GetValue(cli.Html), ReportWriters.Html(report, Title), output, cancellationToken).ConfigureAwait(false);
        if (reportTo is not null)
        {
            await SendReportAsync(reportTo, token, report, error, cancellationToken).ConfigureAwait(false);
        }

        return report.ExitCode;
    }

    /// <summary>An HTTP client for serve's control API, carrying its token when there is one.</summary>
    private static HttpClient ControlClient(Uri? baseAddress, TimeSpan timeout, string? token)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = timeout };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>The URL a report is posted to: the control API's /api/probe-runs unless the URL names another path.</summary>
    internal static Uri? ReportTarget(string text)
    {
        var withScheme = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
        if (!Uri.TryCreate(withScheme, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return null;
        }

        return uri.AbsolutePath is "" or "/" ? new Uri(uri, "/api/probe-runs") : uri;
    }

    /// <summary>Posts the JSON report to serve's control API; a failure is a warning, never the run's exit code.</summary>
    private static async Task SendReportAsync(Uri target, string? token, ProbeReport report, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            using var http = ControlClient(null, TimeSpan.FromSeconds(10), token);
            using var content = new StringContent(report.ToJson(), System.Text.Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(target, content, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                error.WriteLine($"cucmsim probe: --report-to {target}: HTTP {(int)response.StatusCode} {body.Trim()}");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            error.WriteLine($"cucmsim probe: --report-to {target}: {ex.Message}; the report was not sent");
        }
    }

    private static void Rejudge(ProbeReport report, ServerView view)
    {
        report.ServerView = view.Source;
        foreach (var flow in report.Flows)
        {
            Judge.Flow(flow, view);
        }
    }

    /// <summary>0 when every flow is as expected; 3 when nothing at all answered (and that was not the intent); 1 otherwise.</summary>
    public static int ExitCode(ProbeReport report)
    {
        if (report.Flows.All(f => f.Result != "fail"))
        {
            return ExitAsExpected;
        }

        var anyAnswer = report.Flows.SelectMany(f => f.Legs).Any(l => l.Outcome is Outcome.Answered or Outcome.Incomplete);
        return anyAnswer || report.Flows.All(f => f.Legs.Count == 0) ? ExitNotAsExpected : ExitUnreachable;
    }

    internal static async Task<IPAddress> ResolveAsync(string text, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(text.Trim('[', ']'), out var address))
        {
            return address;
        }

        var addresses = await Dns.GetHostAddressesAsync(text, cancellationToken).ConfigureAwait(false);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
    }

    private static ProbeReport? ReadReport(string path, string option, List<string> errors)
    {
        try
        {
            return ProbeReport.FromJson(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            errors.Add($"{option} {path}: {ex.Message}");
            return null;
        }
    }

    internal static async Task WriteAsync(string? path, string content, TextWriter output, CancellationToken cancellationToken)
    {
        if (path is null)
        {
            return;
        }

        if (path == "-")
        {
            await output.WriteAsync(content).ConfigureAwait(false);
            return;
        }

        await File.WriteAllTextAsync(path, content, cancellationToken).ConfigureAwait(false);
    }

    private static void PrintPlan(ProbePlan plan, Profile profile, string role, string targetRole, string? target, int offset, Func<int, string> title, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"probe plan: profile {profile.Name}, {role} to {targetRole}{(target is null ? string.Empty : " at " + target)}{(offset == 0 ? string.Empty : $", port offset {offset}")}; {plan.Flows.Count} flows, {plan.TargetCount} ports; nothing sent"));
        foreach (var table in plan.Flows.GroupBy(f => f.Flow.Table).OrderBy(g => g.Key))
        {
            output.WriteLine();
            output.WriteLine(title(table.Key));
            var text = Tables.Create("FLOW", "TRANSPORT", "PORTS DIALLED", "PROTOCOL", "EXCHANGE", "PURPOSE");
            foreach (var f in table)
            {
                var dialled = f.IsRtp
                    ? string.Create(CultureInfo.InvariantCulture, $"{f.Targets.Count} of {f.Flow.Ports.Text}{(offset == 0 ? string.Empty : $" (+{offset})")}")
                    : string.Join(",", f.Targets.Select(t => t.Dial).Distinct());
                text.Row(120, f.Flow.Id, f.Flow.Transport.ToString().ToLowerInvariant(), f.SkipReason is null ? dialled : "-", f.Flow.Protocol, f.Exchange, f.Flow.Purpose);
            }

            Tables.Write(output, text);
        }
    }

    private static void Fail(List<string> errors, TextWriter error)
    {
        foreach (var e in errors)
        {
            error.WriteLine($"cucmsim probe: {e}");
        }

        error.WriteLine("see: cucmsim probe --help");
    }
}

/// <summary>The live line: flows done out of all, by verdict; redrawn in place on a terminal, silent otherwise.</summary>
internal sealed class ProbeProgress(int total, TextWriter writer, bool live)
{
    private readonly Dictionary<string, int> _byVerdict = new(StringComparer.Ordinal);
    private int _done;

    public void Done(FlowResult flow)
    {
        if (!live)
        {
            return;
        }

        lock (_byVerdict)
        {
            _done++;
            _byVerdict[flow.VerdictName] = _byVerdict.GetValueOrDefault(flow.VerdictName) + 1;
            const int width = 30;
            var filled = total == 0 ? width : _done * width / total;
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"\r[{new string('#', filled)}{new string('.', width - filled)}] {_done}/{total} flows  {string.Join("  ", _byVerdict.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))}\u001b[K"));
        }
    }

    public void Finish()
    {
        if (live)
        {
            writer.WriteLine();
        }
    }
}

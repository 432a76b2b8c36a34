using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
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

    public const string Usage = """
        usage: cucmsim probe TARGET [options]
               cucmsim probe --from RESULT.json --ledger FILE [report options]

        Plays the sending role of every flow of the profile whose listener is the target role, against a
        'cucmsim serve' at TARGET on the other side of the firewall, and gives each flow a verdict with its
        evidence: allowed, rewritten, secondary-blocked, one-way, blocked-silent, blocked-reset, blocked-icmp,
        inconclusive, error or skipped.

          --profile NAME|FILE   profile (default: the embedded 'cucm')
          --role ROLE           the role this side plays (default: phone)
          --target-role ROLE    the role the server plays (default: cucm)
          --port-offset N       the offset the server was started with
          --only SEL, --except SEL  flows to run or leave out, as in serve: a table (6), a protocol (sip) or a
                                flow id (t6.sccp); repeatable or comma-separated
          --source ADDR         send from this local address
          --timeout S           wait per attempt, seconds (default 2)
          --retries N           attempts after the first (default 1)
          --concurrency N       ports probed at once (default 64)
          --rtp-sample N|all    media ports of the RTP pool to probe (default 16, evenly spread)
          --snmp-community C    community of the SNMP GET (default public)
          --sip-password PW     answer a REGISTER challenge with digest credentials (serve --sip-password)
          --number N            the number the SIP and SCCP calls dial (default 1000, serve's test extension)
          --plan                print what would be tested and send nothing
          --control URL         serve's control API (http://ADDR:PORT): what the server saw, by nonce
          --ledger FILE         serve's ledger file (JSON Lines), read after the run for the same purpose
          --from RESULT.json    judge a saved --json result again (with --ledger or --control), send nothing
          --expect FILE         expected outcome per selector: lines 'SELECTOR allowed|denied' (flow id,
                                table, protocol, port:N, tcp/N, udp/N); the last matching line wins
          --baseline OLD.json   report what changed since an earlier run
          --json FILE, --junit FILE, --html FILE   write the report in these formats ('-' for stdout)

        Exit codes: 0 every flow as expected, 1 some flow not, 2 bad options or profile, 3 target not reached at all.
        """;

    private static string Version => typeof(ProbeCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    public static async Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var args = Args.Parse(argv,
            ["profile", "role", "target-role", "port-offset", "only", "except", "source", "timeout", "retries", "concurrency", "rtp-sample", "snmp-community", "sip-password", "number",
             "control", "ledger", "from", "expect", "baseline", "json", "junit", "html"],
            ["plan", "help"]);
        if (args.Flag("help"))
        {
            output.WriteLine(Usage);
            return ExitAsExpected;
        }

        var errors = new List<string>(args.Errors);
        var from = args.Value("from");
        if (args.Positionals.Count > 1)
        {
            errors.Add($"one TARGET, not {args.Positionals.Count}: {string.Join(" ", args.Positionals)}");
        }

        var targetText = args.Positionals.FirstOrDefault();
        if (targetText is null && from is null && !args.Flag("plan"))
        {
            errors.Add("name the TARGET: the address or name of the host that runs 'cucmsim serve'");
        }

        var offset = args.Int("port-offset", 0, 0, 65535, errors);
        var retries = args.Int("retries", 1, 0, 20, errors);
        var concurrency = args.Int("concurrency", 64, 1, 4096, errors);
        var timeout = TimeSpan.FromSeconds(2);
        if (args.Value("timeout") is { } t)
        {
            if (double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0.05 and <= 600)
            {
                timeout = TimeSpan.FromSeconds(seconds);
            }
            else
            {
                errors.Add($"--timeout {t}: seconds, from 0.05 to 600");
            }
        }

        int? rtpSample = 16;
        if (args.Value("rtp-sample") is { } rs)
        {
            rtpSample = rs == "all" ? null : args.Int("rtp-sample", 16, 0, 65535, errors);
        }

        IPAddress? source = null;
        if (args.Value("source") is { } s && !IPAddress.TryParse(s, out source))
        {
            errors.Add($"--source {s}: not an IP address");
        }

        Uri? control = null;
        if (args.Value("control") is { } c)
        {
            var text = c.Contains("://", StringComparison.Ordinal) ? c : "http://" + c;
            if (!Uri.TryCreate(text, UriKind.Absolute, out control) || control.Scheme is not ("http" or "https"))
            {
                errors.Add($"--control {c}: write the control API's URL, e.g. http://10.0.0.5:9900");
            }
        }

        var ledger = args.Value("ledger");
        if (ledger is not null && !File.Exists(ledger) && from is not null)
        {
            errors.Add($"--ledger {ledger}: no such file");
        }

        if (from is not null && !File.Exists(from))
        {
            errors.Add($"--from {from}: no such file");
        }

        ProbeReport? baseline = null;
        if (args.Value("baseline") is { } b)
        {
            baseline = ReadReport(b, "--baseline", errors);
        }

        var (profile, problems) = ProfileLoader.TryLoad(args.Value("profile") ?? ProfileLoader.DefaultProfile);
        if (profile is null)
        {
            ProfilesCommand.PrintProblems(problems, error);
            Fail(errors, error);
            return ExitBadOptions;
        }

        var filter = FlowFilter.Parse(profile, args.Values("only"), args.Values("except"), errors);
        var expectations = Expectations.AllAllowed;
        if (args.Value("expect") is { } expectFile)
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

        var role = args.Value("role") ?? "phone";
        var targetRole = args.Value("target-role") ?? "cucm";
        ProbePlan? plan = null;
        try
        {
            plan = ProbePlan.Build(profile, role, targetRole, filter, offset, rtpSample);
            if (plan.Flows.Count == 0)
            {
                errors.Add($"profile '{profile.Name}' has no flow from {role} to {targetRole}{(args.Values("only").Count + args.Values("except").Count > 0 ? " left by --only/--except" : string.Empty)}");
            }
        }
        catch (ArgumentException ex)
        {
            errors.Add(ex.Message);
        }

        if (errors.Count > 0 || plan is null)
        {
            Fail(errors, error);
            return ExitBadOptions;
        }

        string Title(int table) => profile.Name == "cucm" || profile.Extends == "cucm" ? ProbePlan.TableTitle(table) : string.Create(CultureInfo.InvariantCulture, $"Table {table}");

        if (args.Flag("plan"))
        {
            PrintPlan(plan, profile, role, targetRole, targetText, offset, Title, output);
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
                SnmpCommunity = args.Value("snmp-community") ?? "public",
                SipPassword = args.Value("sip-password"),
                SipNumber = args.Value("number") ?? "1000",
            };
            report = new ProbeReport
            {
                Version = Version,
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
                DeviceName = context.DeviceName,
            };

            using var http = control is null ? null : new HttpClient { BaseAddress = control, Timeout = TimeSpan.FromSeconds(5) };
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

            var progress = new ProbeProgress(plan.Flows.Count, error, !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var flows = await ProbeRunner.RunAsync(plan, context, concurrency, progress.Done, cancellationToken).ConfigureAwait(false);
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
        ReportWriters.Text(report, Title, output);
        await WriteAsync(args.Value("json"), report.ToJson(), output, cancellationToken).ConfigureAwait(false);
        await WriteAsync(args.Value("junit"), ReportWriters.Junit(report, Title), output, cancellationToken).ConfigureAwait(false);
        await WriteAsync(args.Value("html"), ReportWriters.Html(report, Title), output, cancellationToken).ConfigureAwait(false);
        return report.ExitCode;
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

    private static async Task<IPAddress> ResolveAsync(string text, CancellationToken cancellationToken)
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

    private static async Task WriteAsync(string? path, string content, TextWriter output, CancellationToken cancellationToken)
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
            var text = new TextTable("FLOW", "TRANSPORT", "PORTS DIALLED", "PROTOCOL", "EXCHANGE", "PURPOSE") { MaxCellWidth = 80 };
            foreach (var f in table)
            {
                var dialled = f.IsRtp
                    ? string.Create(CultureInfo.InvariantCulture, $"{f.Targets.Count} of {f.Flow.Ports.Text}{(offset == 0 ? string.Empty : $" (+{offset})")}")
                    : string.Join(",", f.Targets.Select(t => t.Dial).Distinct());
                text.Add(f.Flow.Id, f.Flow.Transport.ToString().ToLowerInvariant(), f.SkipReason is null ? dialled : "-", f.Flow.Protocol, f.Exchange, f.Flow.Purpose);
            }

            output.Write(text);
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

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CucmSim.Catalog;
using CucmSim.Probe;

namespace CucmSim.Lab;

/// <summary>
/// cucmsim lab: a training lab in one command. phones ⇄ firewall ⇄ cucm in network namespaces on this host, the
/// firewall loaded from 'cucmsim acl' and changed by a scenario, serve in the cucm namespace, probe from the phones.
/// </summary>
internal sealed class LabCommand
{
    public const int ExitFailed = 1;
    public const int ExitBadOptions = 2;

    private const string Description = "a training lab in network namespaces (root): phones, firewall and cucm, scenarios to break and fix";

    private readonly Option<string> _name = new("--name") { Description = "the lab's name: several labs can run side by side (1-8 of a-z, 0-9)", HelpName = "NAME", DefaultValueFactory = _ => "cslab" };
    private readonly Option<string> _scenario = new("--scenario") { Description = $"a built-in scenario ({string.Join(", ", LabScenario.EmbeddedNames)}) or a file", HelpName = "NAME|FILE", DefaultValueFactory = _ => "clean" };
    private readonly Option<string[]> _only = new("--only") { Description = "serve, the policy and the probe keep only these flows (a table, a protocol, a flow id)", HelpName = "SEL" };
    private readonly Option<string[]> _except = new("--except") { Description = "flows to leave out of serve, the policy and the probe", HelpName = "SEL" };
    private readonly Option<string> _profile = new("--profile") { Description = "profile (default: the embedded 'cucm')", HelpName = "NAME|FILE", DefaultValueFactory = _ => ProfileLoader.DefaultProfile };
    private readonly Option<string?> _json = new("--json") { Description = "lab check: write the probe's report here too", HelpName = "FILE" };
    private readonly Argument<string> _ns = new("NAMESPACE") { Description = "phones, firewall or cucm" };
    private readonly Command _up;
    private readonly Command _down;
    private readonly Command _status;
    private readonly Command _probe;
    private readonly Command _check;
    private readonly Command _exec;
    private readonly Command _scenarios;

    public LabCommand()
    {
        _ns.AcceptOnlyFromAmong("phones", "firewall", "cucm");
        _up = new Command("up", "build the lab (removing any leftover of the same name first) and start serve") { _name, _scenario, _only, _except, _profile };
        _down = new Command("down", "stop serve and remove the namespaces; safe on a lab that crashed or is gone") { _name };
        _status = new Command("status", "the scenario, serve, the firewall's rules with their counters, conntrack entries and expectations") { _name };
        _probe = new Command("probe", "run 'cucmsim probe' from the phones namespace toward serve; options after the command go to the probe") { _name };
        _probe.TreatUnmatchedTokensAsErrors = false;
        _check = new Command("check", "run the scenario's expected verdicts as a test: exit 0 when every flow is as the scenario says") { _name, _json };
        _exec = new Command("exec", "run a command in one of the lab's namespaces: lab exec firewall nft list ruleset") { _name, _ns };
        _exec.TreatUnmatchedTokensAsErrors = false;
        _scenarios = new Command("scenarios", "list the built-in scenarios");
        Cli.ProfileCompletions.Selectors(_only, _profile);
        Cli.ProfileCompletions.Selectors(_except, _profile);
        _scenario.CompletionSources.Add(_ => LabScenario.EmbeddedNames.Select(n => new System.CommandLine.Completions.CompletionItem(n)));
        Command = new Command("lab", Description) { _up, _down, _status, _probe, _check, _exec, _scenarios };
    }

    public Command Command { get; }

    /// <summary>Gives the lab's commands their action: each lists its problems its own way (exit 2).</summary>
    public void Bind()
    {
        foreach (var each in new[] { Command, _up, _down, _status, _probe, _check, _exec, _scenarios })
        {
            each.Action = new Cli.CommandAction((parsed, cancellationToken) =>
                RunAsync(parsed, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        }
    }

    public async Task<int> RunAsync(ParseResult args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var (name, scenario, only, except, profile, json, ns) = (_name, _scenario, _only, _except, _profile, _json, _ns);
        var (root, up, down, status, probe, check, exec, scenarios) = (Command, _up, _down, _status, _probe, _check, _exec, _scenarios);
        if (args.CommandResult.Command == root)
        {
            new System.CommandLine.Help.HelpAction().Invoke(args);
            return ExitBadOptions;
        }

        var errors = Cli.OptionKinds.Problems(args);
        var command = args.CommandResult.Command;
        if (command == scenarios)
        {
            foreach (var s in LabScenario.EmbeddedNames)
            {
                var scenarioErrors = new List<string>();
                var loaded = LabScenario.Load(s, scenarioErrors);
                output.WriteLine($"{s,-22} {loaded?.Title}");
            }

            return 0;
        }

        var labName = args.GetValue(name)!;
        if (!LabNetwork.IsValidName(labName))
        {
            errors.Add($"--name {labName}: 1 to 8 characters of a-z and 0-9 (interface names are built from it)");
        }

        if (!Environment.IsPrivilegedProcess)
        {
            errors.Add("the lab builds network namespaces and firewall rules: run it as root");
        }

        if (errors.Count > 0)
        {
            return Fail(error, errors);
        }

        var lab = new LabNetwork(labName);
        try
        {
            if (command == up)
            {
                return await UpAsync(lab, args.GetValue(scenario)!, args.GetValue(profile)!, args.GetValue(only) ?? [], args.GetValue(except) ?? [], output, error, cancellationToken).ConfigureAwait(false);
            }

            if (command == down)
            {
                var removed = await lab.RemoveAsync(cancellationToken).ConfigureAwait(false);
                output.WriteLine(removed.Count == 0 ? $"lab {lab.Name}: nothing to remove" : $"lab {lab.Name}: removed {string.Join(", ", removed)}");
                return 0;
            }

            if (lab.ReadState() is not { } state)
            {
                return Fail(error, [$"lab {lab.Name} is not up ('cucmsim lab up --name {lab.Name}')"]);
            }

            if (command == status)
            {
                return await StatusAsync(lab, state, output, cancellationToken).ConfigureAwait(false);
            }

            if (command == probe)
            {
                return await ProbeAsync(lab, state, [.. args.UnmatchedTokens], null, cancellationToken).ConfigureAwait(false);
            }

            if (command == exec)
            {
                var target = args.GetValue(ns) switch { "phones" => lab.PhonesNs, "firewall" => lab.FirewallNs, _ => lab.CucmNs };
                if (args.UnmatchedTokens.Count == 0)
                {
                    return Fail(error, ["name the command to run: lab exec firewall nft list ruleset"]);
                }

                return await InheritAsync(["ip", "netns", "exec", target, .. args.UnmatchedTokens], cancellationToken).ConfigureAwait(false);
            }

            return await CheckAsync(lab, state, args.GetValue(json), output, error, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"cucmsim lab: {ex.Message}");
            return ExitFailed;
        }
    }

    private static async Task<int> UpAsync(LabNetwork lab, string scenarioName, string profileName, string[] only, string[] except, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var scenario = LabScenario.Load(scenarioName, errors);
        var (profile, problems) = ProfileLoader.TryLoad(profileName);
        errors.AddRange(problems.Select(p => p.ToString()));
        var filter = profile is null ? FlowFilter.All : FlowFilter.Parse(profile, only, except, errors);
        if (errors.Count > 0 || scenario is null || profile is null)
        {
            return Fail(error, errors);
        }

        var leftovers = await lab.RemoveAsync(cancellationToken).ConfigureAwait(false);
        if (leftovers.Count > 0)
        {
            output.WriteLine($"lab {lab.Name}: removed what an earlier run left: {string.Join(", ", leftovers)}");
        }

        try
        {
            await lab.CreateAsync(cancellationToken).ConfigureAwait(false);
            await lab.ApplyAsync(scenario, profile, filter, cancellationToken).ConfigureAwait(false);
            if (File.Exists(lab.LedgerPath))
            {
                File.Delete(lab.LedgerPath);
            }

            string[] selection = [.. only.SelectMany(o => new[] { "--only", o }), .. except.SelectMany(e => new[] { "--except", e })];
            var pid = await lab.StartServeAsync(["--profile", profileName, "--log-level", "warning", .. selection], TimeSpan.FromSeconds(90), cancellationToken).ConfigureAwait(false);
            lab.WriteState(new LabNetwork.State(lab.Name, scenarioName, pid, DateTimeOffset.UtcNow, only.Length == 0 ? null : string.Join(",", only), except.Length == 0 ? null : string.Join(",", except)));
        }
        catch
        {
            await lab.RemoveAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        output.WriteLine($"""
            lab {lab.Name} is up, scenario '{scenario.Name}': {scenario.Title}

              phones    {LabNetwork.Phones}   (namespace {lab.PhonesNs})
              firewall  {LabNetwork.FirewallPhones} | {LabNetwork.FirewallCucm}   (namespace {lab.FirewallNs}, nftables table inet {LabNetwork.Table}{(scenario.Nat ? ", phones translated" : "")})
              cucm      {LabNetwork.Cucm}   (namespace {lab.CucmNs}, cucmsim serve, ledger {lab.LedgerPath})

            {scenario.Story}

            next:  cucmsim lab probe --name {lab.Name}          run every phone flow toward cucm
                   cucmsim lab status --name {lab.Name}         rules with counters, conntrack
                   cucmsim lab exec firewall nft list ruleset
                   cucmsim lab check --name {lab.Name}          are the scenario's verdicts there?
                   cucmsim lab down --name {lab.Name}
            """);
        return 0;
    }

    private static async Task<int> StatusAsync(LabNetwork lab, LabNetwork.State state, TextWriter output, CancellationToken cancellationToken)
    {
        var alive = LabNetwork.IsAlive(state.Pid);
        output.WriteLine($"lab {lab.Name}: scenario '{state.Scenario}', up since {state.Started:u}; serve pid {state.Pid} {(alive ? "running" : "NOT running (see " + lab.LogPath + ")")}");
        output.WriteLine();
        output.WriteLine("# firewall: nft list ruleset");
        output.WriteLine((await LabNetwork.RunAsync("ip", ["netns", "exec", lab.FirewallNs, "nft", "list", "ruleset"], null, cancellationToken).ConfigureAwait(false)).Output.TrimEnd());
        foreach (var (title, args) in new[] { ("conntrack entries", new[] { "-L" }), ("conntrack expectations (channels that helpers opened)", new[] { "-L", "expect" }) })
        {
            output.WriteLine();
            output.WriteLine($"# firewall: {title}");
            var installed = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin").Split(':').Any(d => File.Exists(Path.Combine(d, "conntrack")));
            output.WriteLine(installed
                ? (await LabNetwork.RunAsync("ip", ["netns", "exec", lab.FirewallNs, "conntrack", .. args], null, cancellationToken).ConfigureAwait(false)).Output.TrimEnd()
                : "(the conntrack tool is not installed: apt-get install conntrack)");
        }

        return alive ? 0 : ExitFailed;
    }

    /// <summary>Runs the probe from the phones namespace toward serve, judging with serve's ledger; output goes to the terminal unless a report file is asked for.</summary>
    private static Task<int> ProbeAsync(LabNetwork lab, LabNetwork.State state, string[] more, string? quietTo, CancellationToken cancellationToken)
    {
        string[] selection = [.. state.Only is { } o ? new[] { "--only", o } : [], .. state.Except is { } e ? new[] { "--except", e } : []];
        string[] command = ["ip", "netns", "exec", lab.PhonesNs, .. LabNetwork.SelfCommand(), "probe", LabNetwork.Cucm.ToString(), "--ledger", lab.LedgerPath, .. selection, .. more];
        return quietTo is null ? InheritAsync(command, cancellationToken) : QuietAsync(command, quietTo, cancellationToken);
    }

    private static async Task<int> QuietAsync(string[] command, string log, CancellationToken cancellationToken)
    {
        var result = await LabNetwork.RunAsync(command[0], command[1..], null, cancellationToken, TimeSpan.FromMinutes(30)).ConfigureAwait(false);
        await File.WriteAllTextAsync(log, result.Output, cancellationToken).ConfigureAwait(false);
        return result.ExitCode;
    }

    private static async Task<int> CheckAsync(LabNetwork lab, LabNetwork.State state, string? json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var scenario = LabScenario.Load(state.Scenario, errors);
        if (scenario is null)
        {
            return Fail(error, errors);
        }

        var expect = Path.Combine(lab.StateDir, "expect.txt");
        await File.WriteAllLinesAsync(expect, scenario.Expect.Select(p => $"{p.Key} {p.Value}"), cancellationToken).ConfigureAwait(false);
        var report = json ?? Path.Combine(lab.StateDir, "check.json");
        var exit = await ProbeAsync(lab, state, ["--expect", expect, "--json", report, "--timeout", "2", "--retries", "0", "--rtp-sample", "8"], Path.Combine(lab.StateDir, "check.log"), cancellationToken).ConfigureAwait(false);
        if (!File.Exists(report))
        {
            return Fail(error, [$"the probe wrote no report (exit {exit}); its output: {Path.Combine(lab.StateDir, "check.log")}"]);
        }

        var result = ProbeReport.FromJson(await File.ReadAllTextAsync(report, cancellationToken).ConfigureAwait(false));
        output.WriteLine($"lab {lab.Name}, scenario '{scenario.Name}': {scenario.Title}");
        foreach (var flow in result.Flows.Where(f => f.Result != "skip"))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {(flow.Result == "pass" ? "ok  " : "FAIL")}  {flow.Id,-22} expected {flow.Expected,-18} got {flow.VerdictName,-18} {(flow.Result == "pass" ? "" : flow.Reason)}").TrimEnd());
        }

        var failed = result.Flows.Count(f => f.Result == "fail");
        output.WriteLine(failed == 0
            ? $"every flow as the scenario says ({result.Flows.Count(f => f.Result == "pass")} flows)"
            : $"{failed} flows not as the scenario says; the fix: {scenario.Fix}");
        return exit == 0 && failed == 0 ? 0 : ExitFailed;
    }

    private static async Task<int> InheritAsync(string[] command, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var a in command[1..])
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return process.ExitCode;
    }

    private static int Fail(TextWriter error, List<string> errors)
    {
        foreach (var e in errors)
        {
            error.WriteLine($"cucmsim lab: {e}");
        }

        return ExitBadOptions;
    }
}

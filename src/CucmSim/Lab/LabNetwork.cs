using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using CucmSim.Acl;
using CucmSim.Catalog;

namespace CucmSim.Lab;

/// <summary>
/// The lab on this host: phones ⇄ firewall ⇄ cucm as three network namespaces joined by veth pairs, addressed from
/// the benchmarking range 198.18.0.0/15, nftables in the firewall namespace and a serve in the cucm namespace. Its
/// state (serve's process id, log and ledger) lives under /run/cucmsim/lab/NAME, so that 'down' finds everything
/// again, also after a crash. Nothing touches the root namespace's addresses or rules.
/// </summary>
internal sealed class LabNetwork
{
    public static readonly IPAddress Phones = IPAddress.Parse("198.18.1.10");
    public static readonly IPAddress FirewallPhones = IPAddress.Parse("198.18.1.1");
    public static readonly IPAddress FirewallCucm = IPAddress.Parse("198.18.2.1");
    public static readonly IPAddress Cucm = IPAddress.Parse("198.18.2.10");

    public const string PhonesNet = "198.18.1.0/24";

    public LabNetwork(string name, string? stateRoot = null)
    {
        Name = name;
        StateDir = Path.Combine(stateRoot ?? "/run/cucmsim/lab", name);
    }

    public string Name { get; }

    public string StateDir { get; }

    public string PhonesNs => Name + "-phones";

    public string FirewallNs => Name + "-fw";

    public string CucmNs => Name + "-cucm";

    public string LedgerPath => Path.Combine(StateDir, "ledger.jsonl");

    public string LogPath => Path.Combine(StateDir, "serve.log");

    public string StatePath => Path.Combine(StateDir, "lab.json");

    /// <summary>The table that <c>cucmsim acl</c> writes for phones to cucm, which the scenario then changes.</summary>
    public const string Table = "cucmsim_phone_to_cucm";

    public IReadOnlyList<string> Namespaces => [PhonesNs, FirewallNs, CucmNs];

    /// <summary>Names that fit the 15 characters of an interface name once suffixed.</summary>
    public static bool IsValidName(string name) => name.Length is >= 1 and <= 8 && name.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9');

    /// <summary>Namespaces, veth pairs, addresses, routes and forwarding. Throws with the failing step.</summary>
    public async Task CreateAsync(CancellationToken cancellationToken)
    {
        var n = Name;
        string[] steps =
        [
            $"ip netns add {PhonesNs}",
            $"ip netns add {FirewallNs}",
            $"ip netns add {CucmNs}",
            $"ip link add {n}-p type veth peer name {n}-fp",
            $"ip link add {n}-c type veth peer name {n}-fc",
            $"ip link set {n}-p netns {PhonesNs}",
            $"ip link set {n}-fp netns {FirewallNs}",
            $"ip link set {n}-fc netns {FirewallNs}",
            $"ip link set {n}-c netns {CucmNs}",
            $"ip -n {PhonesNs} addr add {Phones}/24 dev {n}-p",
            $"ip -n {FirewallNs} addr add {FirewallPhones}/24 dev {n}-fp",
            $"ip -n {FirewallNs} addr add {FirewallCucm}/24 dev {n}-fc",
            $"ip -n {CucmNs} addr add {Cucm}/24 dev {n}-c",
            $"ip -n {PhonesNs} link set {n}-p up",
            $"ip -n {PhonesNs} link set lo up",
            $"ip -n {FirewallNs} link set {n}-fp up",
            $"ip -n {FirewallNs} link set {n}-fc up",
            $"ip -n {FirewallNs} link set lo up",
            $"ip -n {CucmNs} link set {n}-c up",
            $"ip -n {CucmNs} link set lo up",
            $"ip -n {PhonesNs} route add default via {FirewallPhones}",
            $"ip -n {CucmNs} route add default via {FirewallCucm}",
            $"ip netns exec {FirewallNs} sysctl -qw net.ipv4.ip_forward=1",
        ];
        foreach (var step in steps)
        {
            var parts = step.Split(' ');
            var result = await RunAsync(parts[0], parts[1..], null, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"{step}: {result.Output.Trim()}");
            }
        }
    }

    /// <summary>The ACL for phones to cucm with the scenario's options, then the scenario's NAT and rules.</summary>
    public async Task ApplyAsync(LabScenario scenario, Profile profile, FlowFilter filter, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var aclCli = new AclCommand();
        var parsed = aclCli.Command.Parse([.. scenario.Acl, "--format", "nftables"]);
        errors.AddRange(parsed.Errors.Select(e => $"scenario '{scenario.Name}', acl options: {e.Message}"));
        var scenarioFilter = FlowFilter.Parse(profile, parsed.GetValue(aclCli.Only) ?? [], parsed.GetValue(aclCli.Except) ?? [], errors);
        var options = new AclOptions("phone", "cucm", AclFormat.Nftables)
        {
            Addresses = new Dictionary<string, IReadOnlyList<string>> { ["phone"] = [PhonesNet], ["cucm"] = [Cucm.ToString()] },
            Filter = filter.And(scenarioFilter),
            Inspect = parsed.GetValue(aclCli.Inspect),
            NoEphemeralHoles = parsed.GetValue(aclCli.NoEphemeralHoles),
            Counters = true,
        };
        var policy = AclPolicy.Build(profile, options, errors);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join("; ", errors));
        }

        var ruleset = new System.Text.StringBuilder(AclWriters.Write(policy, profile.Name));
        if (scenario.Nat)
        {
            ruleset.Append(CultureInfo.InvariantCulture, $"table ip cucmsim_lab_nat {{\n  chain post {{ type nat hook postrouting priority srcnat; oifname \"{Name}-fc\" counter masquerade; }}\n}}\n");
        }

        foreach (var rule in scenario.Rules)
        {
            var space = rule.IndexOf(' ', StringComparison.Ordinal);
            ruleset.Append(CultureInfo.InvariantCulture, $"{rule[..space]} rule inet {Table} forward {Substitute(rule[(space + 1)..])}\n");
        }

        var loaded = await RunAsync("ip", ["netns", "exec", FirewallNs, "nft", "-f", "-"], ruleset.ToString(), cancellationToken).ConfigureAwait(false);
        if (loaded.ExitCode != 0)
        {
            throw new InvalidOperationException($"nft: {loaded.Output.Trim()}");
        }
    }

    private static string Substitute(string rule) => rule
        .Replace("{cucm}", Cucm.ToString(), StringComparison.Ordinal)
        .Replace("{phones}", PhonesNet, StringComparison.Ordinal)
        .Replace("{firewall-phones}", FirewallPhones.ToString(), StringComparison.Ordinal)
        .Replace("{firewall-cucm}", FirewallCucm.ToString(), StringComparison.Ordinal);

    /// <summary>
    /// Starts serve in the cucm namespace in a session of its own (it outlives this command), its output in the lab's
    /// log, and waits for its readiness line. Returns its process id.
    /// </summary>
    public async Task<int> StartServeAsync(IReadOnlyList<string> serveArgs, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(StateDir);
        File.WriteAllText(LogPath, string.Empty);
        var self = SelfCommand();
        string[] command = ["ip", "netns", "exec", CucmNs, .. self, "serve", "--ledger", LedgerPath, "--state-dir", Path.Combine(StateDir, "serve"), .. serveArgs];
        var started = await RunAsync("/bin/sh", ["-c", $"setsid \"$@\" >'{LogPath}' 2>&1 </dev/null & echo $!", "sh", .. command], null, cancellationToken).ConfigureAwait(false);
        var pid = int.Parse(started.Output.Trim(), CultureInfo.InvariantCulture);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var log = await File.ReadAllTextAsync(LogPath, cancellationToken).ConfigureAwait(false);
            if (log.Split('\n').Any(l => l.StartsWith("ready:", StringComparison.Ordinal)))
            {
                return pid;
            }

            if (!IsAlive(pid))
            {
                throw new InvalidOperationException($"serve ended before it was ready:\n{log}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"serve was not ready within {timeout.TotalSeconds:0} s; its log: {LogPath}");
    }

    /// <summary>How to run this same program again: the apphost, or dotnet with this assembly.</summary>
    public static string[] SelfCommand()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(LabNetwork).Assembly.Location] : [process];
    }

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);

    /// <summary>
    /// Stops serve (SIGTERM, so its ledger is flushed; SIGKILL after 10 s), kills whatever else runs in the lab's
    /// namespaces, deletes them with their veths and removes the lab's state directory. Safe to run on a lab that is half built, crashed or gone.
    /// Returns what it removed.
    /// </summary>
    public async Task<List<string>> RemoveAsync(CancellationToken cancellationToken)
    {
        var removed = new List<string>();
        if (ReadState() is { } state && state.Pid > 0 && IsAlive(state.Pid))
        {
            _ = await RunAsync("kill", ["-TERM", state.Pid.ToString(CultureInfo.InvariantCulture)], null, cancellationToken).ConfigureAwait(false);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (IsAlive(state.Pid) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            removed.Add($"serve (pid {state.Pid})");
        }

        var existing = (await RunAsync("ip", ["netns", "list"], null, cancellationToken).ConfigureAwait(false)).Output;
        foreach (var ns in Namespaces.Where(ns => existing.Split('\n').Any(l => l.Split(' ')[0] == ns)))
        {
            var pids = (await RunAsync("ip", ["netns", "pids", ns], null, cancellationToken).ConfigureAwait(false)).Output
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var pid in pids)
            {
                _ = await RunAsync("kill", ["-KILL", pid], null, cancellationToken).ConfigureAwait(false);
            }

            _ = await RunAsync("ip", ["netns", "del", ns], null, cancellationToken).ConfigureAwait(false);
            removed.Add("namespace " + ns);
        }

        // The lab's state (serve's log, ledger and certificates, the probe's last reports) goes with it.
        if (Directory.Exists(StateDir))
        {
            Directory.Delete(StateDir, recursive: true);
        }

        return removed;
    }

    public sealed record State(string Name, string Scenario, int Pid, DateTimeOffset Started, string? Only, string? Except);

    public void WriteState(State state)
    {
        Directory.CreateDirectory(StateDir);
        File.WriteAllText(StatePath, JsonSerializer.Serialize(state));
    }

    public State? ReadState()
    {
        try
        {
            return File.Exists(StatePath) ? JsonSerializer.Deserialize<State>(File.ReadAllText(StatePath)) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public sealed record Result(int ExitCode, string Output);

    /// <summary>Runs a tool to completion (60 s at most unless <paramref name="limit"/> says), stdout and stderr together.</summary>
    public static async Task<Result> RunAsync(string tool, IEnumerable<string> args, string? stdin, CancellationToken cancellationToken, TimeSpan? limit = null)
    {
        var bound = limit ?? TimeSpan.FromSeconds(60);
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            process.StandardInput.Close();
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', psi.ArgumentList)} did not finish within {bound.TotalSeconds:0} s");
        }

        return new Result(process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }
}

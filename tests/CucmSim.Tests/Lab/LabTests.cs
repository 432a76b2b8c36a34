using CucmSim.Lab;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Lab;

/// <summary>
/// <c>cucmsim lab</c> run as users run it (the real executable, as root): every built-in scenario comes up, its
/// expected verdicts hold under 'lab check', and 'down' leaves nothing behind, also after serve was killed.
/// </summary>
public sealed class LabTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static string NewName() => "t" + Guid.NewGuid().ToString("N")[..6];

    private static Task<ToolResult> LabAsync(params string[] args) =>
        ExternalTool.RunAsync("dotnet", [CucmSimProcess.DllPath, "lab", .. args], Timeout);

    private static async Task<string[]> NamespacesAsync(string name) =>
        (await ExternalTool.RunAsync("ip", ["netns", "list"], TimeSpan.FromSeconds(10))).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).Where(n => n.StartsWith(name + "-", StringComparison.Ordinal)).ToArray();

    public static TheoryData<string> Scenarios() => [.. LabScenario.EmbeddedNames];

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Every_scenario_comes_up_shows_its_verdicts_and_goes_away(string scenario)
    {
        var name = NewName();
        try
        {
            var up = await LabAsync("up", "--name", name, "--scenario", scenario, "--only", "6");
            Assert.True(up.ExitCode == 0, up.All);
            Assert.Contains($"scenario '{scenario}'", up.Stdout);
            Assert.Equal(3, (await NamespacesAsync(name)).Length);

            var check = await LabAsync("check", "--name", name);
            Assert.True(check.ExitCode == 0, check.All);
            Assert.Contains("every flow as the scenario says (14 flows)", check.Stdout);

            if (scenario == "clean")
            {
                // The counters and conntrack show what the probe did.
                var status = await LabAsync("status", "--name", name);
                Assert.True(status.ExitCode == 0, status.All);
                Assert.Matches(@"tcp dport 2000 counter packets [1-9]\d* bytes \d+ accept comment ""t6.sccp table 6 row 3", status.Stdout);
                Assert.Contains("dport=2000", status.Stdout);
            }
        }
        finally
        {
            var down = await LabAsync("down", "--name", name);
            Assert.True(down.ExitCode == 0, down.All);
        }

        Assert.Empty(await NamespacesAsync(name));
        Assert.False(Directory.Exists(new LabNetwork(name).StateDir));
    }

    [Fact]
    public async Task A_lab_whose_serve_was_killed_is_cleaned_up_by_the_next_up_and_by_down()
    {
        var name = NewName();
        try
        {
            var up = await LabAsync("up", "--name", name, "--only", "t6.sccp");
            Assert.True(up.ExitCode == 0, up.All);
            var state = new LabNetwork(name).ReadState()!;
            await ExternalTool.RunAsync("kill", ["-KILL", state.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));

            var status = await LabAsync("status", "--name", name);
            Assert.Equal(1, status.ExitCode);
            Assert.Contains("NOT running", status.Stdout);

            // A half-built leftover too: one namespace of the name, nothing else.
            await LabAsync("down", "--name", name);
            await Netns.RunStepsAsync([$"ip netns add {name}-fw"]);

            var again = await LabAsync("up", "--name", name, "--only", "t6.sccp");
            Assert.True(again.ExitCode == 0, again.All);
            Assert.Contains($"removed what an earlier run left: namespace {name}-fw", again.Stdout);
            var check = await LabAsync("check", "--name", name);
            Assert.True(check.ExitCode == 0, check.All);
        }
        finally
        {
            await LabAsync("down", "--name", name);
        }

        Assert.Empty(await NamespacesAsync(name));
        var root = await ExternalTool.RunAsync("nft", ["list", "tables"], TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("cucmsim_phone_to_cucm", root.Stdout);
    }

    [Fact]
    public async Task Bad_options_and_a_lab_that_is_not_up_get_clear_answers()
    {
        var bad = await LabAsync("up", "--name", "Bad_Name!", "--scenario", "no-such-thing");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("1 to 8 characters", bad.Stderr);

        var unknown = await LabAsync("up", "--name", NewName(), "--scenario", "no-such-thing");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no scenario 'no-such-thing' (built in: clean,", unknown.Stderr);

        // lab probe and lab exec pass the words they do not know on; a lab that is not up is still the answer.
        var passOn = await LabAsync("exec", "--name", NewName(), "firewall", "nft", "--debug=all", "list", "ruleset");
        Assert.Equal(2, passOn.ExitCode);
        Assert.DoesNotContain("unknown option", passOn.Stderr);
        Assert.Contains("is not up", passOn.Stderr);

        var notUp = await LabAsync("check", "--name", NewName());
        Assert.Equal(2, notUp.ExitCode);
        Assert.Contains("is not up", notUp.Stderr);
    }

    [Fact]
    public void Scenario_files_are_checked_field_by_field()
    {
        var errors = new List<string>();
        Assert.NotNull(LabScenario.Parse("""{ "name": "x", "title": "t", "story": "s", "rules": ["drop everything"], "expect": { "t6.sip": 3 }, "colour": "red" }"""u8, "test.json", errors));
        Assert.Contains(errors, e => e.Contains("unknown field 'colour'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("must start with 'add' or 'insert'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'expect' maps selectors to verdicts", StringComparison.Ordinal));

        errors.Clear();
        Assert.Null(LabScenario.Parse("{ \"name\": "u8, "truncated.json", errors));
        Assert.Single(errors);

        // Oversized files are refused before they are read; random bytes give problems, never an exception.
        var big = Path.Combine(SimHost.TempDirectory(), "big.json");
        File.WriteAllText(big, "{\"name\": \"" + new string('x', LabScenario.MaxBytes) + "\"}");
        errors.Clear();
        Assert.Null(LabScenario.Load(big, errors));
        Assert.Contains(errors, e => e.Contains("larger than", StringComparison.Ordinal));

        var random = new Random(1);
        var bytes = new byte[512];
        var valid = System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(Path.Combine(Repository.Root(), "profiles", "labs", "reject-vs-drop.json")));
        for (var i = 0; i < 2000; i++)
        {
            errors.Clear();
            ReadOnlySpan<byte> input;
            if (i % 2 == 0)
            {
                random.NextBytes(bytes);
                input = bytes.AsSpan(0, random.Next(bytes.Length));
            }
            else
            {
                var cut = valid.ToArray();
                cut[random.Next(cut.Length)] = (byte)random.Next(256);
                input = cut.AsSpan(0, random.Next(cut.Length + 1));
            }

            if (LabScenario.Parse(input, "random.json", errors) is null)
            {
                Assert.NotEmpty(errors);
            }
        }

        foreach (var name in LabScenario.EmbeddedNames)
        {
            errors.Clear();
            var scenario = LabScenario.Load(name, errors);
            Assert.True(errors.Count == 0, string.Join("; ", errors));
            Assert.Equal(name, scenario!.Name);
            Assert.NotEmpty(scenario.Fix);
        }
    }
}

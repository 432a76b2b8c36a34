using System.Net;
using CucmSim.Load;
using Xunit;

namespace CucmSim.Tests.Load;

/// <summary>The plan as a file that every shard reads (--plan), the command line over it, and the hash that tells plans apart.</summary>
public sealed class ShardPlanFileTests
{
    private static readonly LoadPlan Defaults = new() { Target = IPAddress.Loopback };

    [Fact]
    public void A_plan_written_to_a_file_reads_back_as_the_same_plan_with_the_same_hash()
    {
        var plan = Defaults with
        {
            Phones = 1234,
            Protocol = LoadProtocol.Mixed,
            Sources = LoadPlan.ParseSources("127.1.0.0/28", out _),
            RegisterRate = 250.5,
            CallsPerSecond = 12,
            Hold = TimeSpan.FromSeconds(3.5),
            Calls = 999,
            RampUp = TimeSpan.FromSeconds(2),
            Mode = CallMode.PhoneToPhone,
            Callers = 600,
            Media = false,
            Seed = 42,
            MacBase = 0x0A1000000100,
        };
        var file = LoadPlanFile.Parse(LoadPlanFile.From(plan).ToJson(), out var error);
        Assert.True(file is not null, error);
        var back = file.Apply(Defaults, _ => false, IPAddress.Loopback);
        Assert.Equal(LoadPlanFile.Hash(plan), LoadPlanFile.Hash(back));
        Assert.Equal(plan.Sources, back.Sources);
        Assert.Equal(plan.Calls, back.Calls);
        Assert.Null(back.Duration);
        Assert.Equal(plan.MacBase, back.MacBase);
        Assert.Equal(600, back.Callers);
    }

    [Fact]
    public void The_default_cap_on_pending_registrations_is_left_out_of_the_file_so_older_plans_keep_their_hash()
    {
        var plan = Defaults with { Duration = TimeSpan.FromSeconds(60) };
        Assert.DoesNotContain("maxPending", LoadPlanFile.From(plan).ToJson(), StringComparison.Ordinal);
        var capped = plan with { MaxPending = 0 };
        Assert.Contains("\"maxPending\": 0", LoadPlanFile.From(capped).ToJson(), StringComparison.Ordinal);
        var back = LoadPlanFile.Parse(LoadPlanFile.From(capped).ToJson(), out var error)!.Apply(plan, _ => false);
        Assert.Null(error);
        Assert.Equal(0, back.MaxPending);
        Assert.Null(LoadPlanFile.Parse("{\"maxPending\": -1}", out error));
        Assert.Contains("maxPending", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_member_that_decides_the_run_changes_the_hash()
    {
        var plan = Defaults with { Duration = TimeSpan.FromSeconds(60) };
        var variants = new[]
        {
            plan with { Phones = 101 },
            plan with { Protocol = LoadProtocol.Sccp },
            plan with { Sources = [IPAddress.Parse("127.0.0.2")] },
            plan with { RegisterRate = 101 },
            plan with { CallsPerSecond = 11 },
            plan with { Hold = TimeSpan.FromSeconds(11) },
            plan with { Duration = TimeSpan.FromSeconds(61) },
            plan with { RampUp = TimeSpan.FromSeconds(1) },
            plan with { RampDown = TimeSpan.FromSeconds(1) },
            plan with { Mode = CallMode.PhoneToPhone },
            plan with { Mode = CallMode.PhoneToPhone, Callers = 50 },
            plan with { Media = false },
            plan with { Seed = 2 },
            plan with { Target = IPAddress.Parse("127.0.0.9") },
            plan with { DirectoryNumberBase = 200_000 },
            plan with { ServerNumber = "8888" },
            plan with { MacBase = 1 },
            plan with { MaxPending = 50 },
        };
        var hashes = variants.Select(LoadPlanFile.Hash).Append(LoadPlanFile.Hash(plan)).ToList();
        Assert.Equal(hashes.Count, hashes.Distinct().Count());
        Assert.Matches("^[0-9a-f]{16}$", hashes[^1]);
    }

    [Fact]
    public void An_option_given_on_the_command_line_wins_over_the_file()
    {
        var file = LoadPlanFile.Parse("""{ "phones": 500, "cps": 5, "duration": 30, "protocol": "sccp" }""", out var error)!;
        Assert.Null(error);
        var given = new HashSet<string> { "--phones", "--calls" };
        var plan = file.Apply(Defaults with { Phones = 200, Calls = 10 }, given.Contains);
        Assert.Equal(200, plan.Phones);
        Assert.Equal(5, plan.CallsPerSecond);
        Assert.Equal(LoadProtocol.Sccp, plan.Protocol);

        // --calls on the command line replaces the file's duration: the two exclude each other.
        Assert.Equal(10, plan.Calls);
        Assert.Null(plan.Duration);
    }

    [Theory]
    [InlineData("""{ "phones": 10, "phonez": 11 }""", "phonez")]
    [InlineData("""{ "protocol": "h323" }""", "protocol 'h323'")]
    [InlineData("""{ "mode": "p2p" }""", "mode 'p2p'")]
    [InlineData("""{ "sources": "10.0.0.0/8" }""", "more than 65536")]
    [InlineData("""{ "hold": -1 }""", "seconds, from 0 to a week")]
    [InlineData("""{ "duration": 10, "calls": 5 }""", "one of duration and calls")]
    [InlineData("""{ "macBase": "xyz" }""", "12 hex digits")]
    [InlineData("""[1, 2]""", "--plan")]
    [InlineData("""{ "phones": "many" }""", "--plan")]
    public void A_plan_file_with_a_mistake_is_refused_with_what_is_wrong(string json, string says)
    {
        Assert.Null(LoadPlanFile.Parse(json, out var error));
        Assert.Contains(says, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_oversized_plan_file_is_refused()
    {
        Assert.Null(LoadPlanFile.Read("/nonexistent/plan.json", out var error));
        Assert.Contains("no such file", error, StringComparison.Ordinal);
        var big = Path.GetTempFileName();
        try
        {
            File.WriteAllText(big, new string(' ', LoadPlanFile.MaxBytes + 1));
            Assert.Null(LoadPlanFile.Read(big, out error));
            Assert.Contains("at most", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(big);
        }
    }
}

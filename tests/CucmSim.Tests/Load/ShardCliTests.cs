using System.Net;
using CucmSim.Cli;
using CucmSim.Load;
using CucmSim.Tests.Infrastructure;
using Xunit;

namespace CucmSim.Tests.Load;

/// <summary>The sharding options of cucmsim load: the shard from --shard or JOB_COMPLETION_INDEX, the coordinator, --start-at; and 'load sources'.</summary>
public sealed class ShardCliTests
{
    private static (ShardSettings? Settings, List<string> Problems) Read(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var cli = new CliMain();
        var parsed = cli.Parse(["load", "127.0.0.1", .. args]);
        var problems = new List<string>();
        return (cli.Load.Sharding.Read(parsed, name => environment.GetValueOrDefault(name), problems), problems);
    }

    private static readonly Dictionary<string, string> NoEnvironment = [];

    [Fact]
    public void The_index_comes_from_job_completion_index_with_shards()
    {
        var (settings, problems) = Read(new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "2" }, "--shards", "4", "--coordinator", "load-coordinator");
        Assert.Empty(problems);
        Assert.Equal(new ShardSpec(2, 4), settings!.Shard);
        Assert.Equal(("load-coordinator", 9910), settings.Coordinator);
        Assert.False(settings.Coordinates);

        (settings, problems) = Read(new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "0" }, "--shards", "4", "--coordinator", "load-coordinator:9911");
        Assert.Empty(problems);
        Assert.True(settings!.Coordinates);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 9911), settings.Listen);
    }

    [Theory]
    [InlineData("--shards 4", "JOB_COMPLETION_INDEX, which is not set: give --shard i/4 instead")]
    [InlineData("--shard 1/4 --shards 4", "not both")]
    [InlineData("--shard 4/4", "i below n")]
    [InlineData("--shard 2/4", "shard 2/4 needs shard 0's address (--coordinator HOST:PORT), or a common --start-at")]
    [InlineData("--shard 1/2 --coordinator host:99999", "--coordinator host:99999: HOST:PORT")]
    [InlineData("--shard 0/2 --coordinator-listen somehost:9910", "an address of this host")]
    [InlineData("--start-at 2026-01-31T12:00:00", "RFC 3339")]
    [InlineData("--start-at tomorrow", "RFC 3339")]
    [InlineData("--local-shards 4 --shard 1/4", "--local-shards runs every shard itself")]
    public void Sharding_that_does_not_add_up_is_refused_with_what_to_give(string args, string says)
    {
        var (settings, problems) = Read(NoEnvironment, args.Split(' '));
        Assert.Null(settings);
        Assert.Contains(problems, p => p.Contains(says, StringComparison.Ordinal));
    }

    [Fact]
    public void An_index_out_of_range_in_the_environment_is_refused()
    {
        var (settings, problems) = Read(new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "4" }, "--shards", "4");
        Assert.Null(settings);
        Assert.Equal("JOB_COMPLETION_INDEX=4 is not an index below --shards 4", Assert.Single(problems));
    }

    [Theory]
    [InlineData("1800000000", 1_800_000_000_000)]
    [InlineData("1800000000.25", 1_800_000_000_250)]
    [InlineData("2027-01-15T08:00:00Z", 1_800_000_000_000)]
    [InlineData("2027-01-15T09:00:00.5+01:00", 1_800_000_000_500)]
    public void Start_times_are_rfc_3339_or_unix_seconds(string text, long unixMs)
    {
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(unixMs), ShardCli.ParseTime(text));
    }

    [Fact]
    public void A_shard_without_a_coordinator_starts_at_the_given_time()
    {
        var (settings, problems) = Read(NoEnvironment, "--shard", "3/4", "--start-at", "1800000000");
        Assert.Empty(problems);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), settings!.StartAt);
        Assert.False(settings.Coordinates);
    }

    [Fact]
    public async Task Load_sources_prints_a_shards_addresses_and_the_commands_that_add_them()
    {
        var plan = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(plan, """{ "phones": 1000, "sources": "198.18.16.0/29" }""");
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await CliMain.RunAsync(["load", "sources", "--plan", plan, "--shard", "1/3", "--dev", "eth1"], output, error).DefaultTimeout();
            Assert.True(code == 0, error.ToString());

            // Six sources over three shards: two each; shard 1 has the third and fourth.
            Assert.Equal(
                """
                # shard 1/3: phones 334..666 (333), 2 source addresses
                198.18.16.3
                198.18.16.4
                # add them to eth1 (as root; 'replace' instead of 'add' keeps an address already there):
                ip addr add 198.18.16.3/32 dev eth1
                ip addr add 198.18.16.4/32 dev eth1

                """.ReplaceLineEndings(), output.ToString());

            output = new StringWriter();
            code = await CliMain.RunAsync(["load", "sources", "--plan", plan, "--shard", "2/3", "--dev", "eth1", "--commands", "--delete"], output, error).DefaultTimeout();
            Assert.Equal(0, code);
            Assert.Equal("ip addr del 198.18.16.5/32 dev eth1\nip addr del 198.18.16.6/32 dev eth1\n", output.ToString());

            code = await CliMain.RunAsync(["load", "sources", "--plan", plan, "--shard", "3/3"], output, error).DefaultTimeout();
            Assert.Equal(2, code);
            Assert.Contains("i below n", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(plan);
        }
    }

    [Fact]
    public async Task A_plan_file_gives_the_target_and_the_plan_and_options_win_over_it()
    {
        var plan = Path.GetTempFileName();
        try
        {
            // A plan whose phones cannot hold its calls: the problem names the file's numbers, or the option's when given.
            await File.WriteAllTextAsync(plan, """{ "target": "127.0.0.1", "phones": 10, "cps": 10, "hold": 5, "calls": 10 }""");
            var error = new StringWriter();
            var code = await CliMain.RunAsync(["load", "--plan", plan], new StringWriter(), error).DefaultTimeout();
            Assert.Equal(2, code);
            Assert.Contains("10 phones cannot hold 10 calls/s for 5 s", error.ToString(), StringComparison.Ordinal);

            error = new StringWriter();
            code = await CliMain.RunAsync(["load", "--plan", plan, "--phones", "20"], new StringWriter(), error).DefaultTimeout();
            Assert.Equal(2, code);
            Assert.Contains("20 phones cannot hold 10 calls/s for 5 s", error.ToString(), StringComparison.Ordinal);

            await File.WriteAllTextAsync(plan, """{ "phonez": 10 }""");
            error = new StringWriter();
            code = await CliMain.RunAsync(["load", "127.0.0.1", "--plan", plan], new StringWriter(), error).DefaultTimeout();
            Assert.Equal(2, code);
            Assert.Contains("phonez", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(plan);
        }
    }
}

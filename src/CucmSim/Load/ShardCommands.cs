using System.CommandLine;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Load;

/// <summary>'cucmsim load merge' (the shards' reports made one) and 'cucmsim load sources' (a shard's source addresses).</summary>
internal static class ShardCommands
{
    public static Command Merge()
    {
        var files = new Argument<string[]>("FILES") { Arity = ArgumentArity.OneOrMore, Description = "the shards' --json reports (shard*.json)" };
        var json = new Option<string?>("--json") { Description = "write the merged report as JSON ('-' for stdout)", HelpName = "FILE" }.Optional();
        var html = new Option<string?>("--html") { Description = "write the merged report as one self-contained HTML page", HelpName = "FILE" }.Optional();
        var hlog = new Option<string?>("--hlog") { Description = "write the merged setup times as an HdrHistogram interval log", HelpName = "FILE" }.Optional();
        var ratio = new Option<double>("--max-failure-ratio") { Description = "failed registrations and calls over attempts above which merge exits 1", HelpName = "F", DefaultValueFactory = _ => 0.01 };
        var command = new Command("merge", "merge the shards' reports of one run: counters summed, histograms added; prints the run's summary") { files, json, html, hlog, ratio };
        command.Action = new CommandAction(async (parsed, cancellationToken) =>
        {
            var output = parsed.InvocationConfiguration.Output;
            var error = parsed.InvocationConfiguration.Error;
            if (CliMain.Usage(parsed, "cucmsim load merge", error))
            {
                return LoadCommand.ExitBadOptions;
            }

            List<string> problems = [], warnings = [];
            var report = LoadMerge.Merge(parsed.GetValue(files) ?? [], problems, warnings);
            foreach (var line in problems.Concat(warnings))
            {
                error.WriteLine("cucmsim load merge: " + line);
            }

            if (report is null)
            {
                return LoadCommand.ExitBadOptions;
            }

            var limit = parsed.GetValue(ratio);
            var code = LoadCommand.ExitCode(report, limit);
            if (warnings.Count > 0 && code == LoadCommand.ExitOk)
            {
                code = LoadCommand.ExitFailures;
            }

            var request = new LoadRequest(new LoadPlan { Target = IPAddress.None }, new LoadTargets(null, null, null, null), new LoadRunOptions(), limit, parsed.GetValue(json), parsed.GetValue(html), parsed.GetValue(hlog), Quiet: true);
            return await LoadCommand.ReportAsync(report, request, code, output, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static Command Sources(ShardCli sharding)
    {
        var phones = new Option<int?>("--phones") { Description = "phones in all (over the plan file's)", HelpName = "N" };
        var sources = new Option<string?>("--sources") { Description = "the source addresses of the whole run (over the plan file's)", HelpName = "CIDR|LIST" }.Optional();
        var device = new Option<string>("--dev") { Description = "the interface the commands add the addresses to", HelpName = "DEV", DefaultValueFactory = _ => "eth0" }.LastWins();
        var commands = new Option<bool>("--commands") { Description = "print only 'ip addr replace' commands, one a line, for a script ('| sh')" };
        var delete = new Option<bool>("--delete") { Description = "with --commands: 'ip addr del' commands that remove the addresses again" };

        var command = new Command("sources", "print the source addresses a shard's phones send from, and the 'ip addr' commands that add them")
        {
            sharding.Plan, sharding.Shard, sharding.Shards, phones, sources, device, commands, delete,
        };
        command.Action = new CommandAction((parsed, _) =>
        {
            var output = parsed.InvocationConfiguration.Output;
            var error = parsed.InvocationConfiguration.Error;
            if (CliMain.Usage(parsed, "cucmsim load sources", error))
            {
                return Task.FromResult(LoadCommand.ExitBadOptions);
            }

            var problems = new List<string>();
            var spec = sharding.ReadSpec(parsed, Environment.GetEnvironmentVariable, problems);
            var loadPlan = new LoadPlan { Target = IPAddress.None };
            if (parsed.GetValue(sharding.Plan) is { } path)
            {
                if (LoadPlanFile.Read(path, out var planError) is { } file)
                {
                    loadPlan = file.Apply(loadPlan, _ => false);
                }
                else
                {
                    problems.Add(planError!);
                }
            }

            if (parsed.GetValue(phones) is { } count)
            {
                loadPlan = loadPlan with { Phones = count };
            }

            if (parsed.GetValue(sources) is { } list)
            {
                loadPlan = loadPlan with { Sources = LoadPlan.ParseSources(list, out var sourceError) };
                if (sourceError is not null)
                {
                    problems.Add($"--sources {list}: {sourceError}");
                }
            }

            if (loadPlan.Phones is < 1 or > LoadPlan.MaxPhones)
            {
                problems.Add($"--phones must be 1..{LoadPlan.MaxPhones}");
            }

            if (problems.Count > 0)
            {
                foreach (var p in problems)
                {
                    error.WriteLine("cucmsim load sources: " + p);
                }

                return Task.FromResult(LoadCommand.ExitBadOptions);
            }

            ShardSources.Write(output, loadPlan, spec, parsed.GetValue(device) ?? "eth0", parsed.GetValue(commands), parsed.GetValue(delete) ? "del" : "replace");
            return Task.FromResult(LoadCommand.ExitOk);
        });
        return command;
    }
}

using System.CommandLine;
using CucmSim.Catalog;

namespace CucmSim.Cli;

internal static class ProfilesCommand
{
    /// <summary>
    /// cucmsim profiles list | show NAME|FILE [--role ROLE] [--wide] [--notes] | validate FILE [--role ROLE]: help per
    /// verb, every usage error listed, exit 1 for bad usage or a bad profile.
    /// </summary>
    public static Command Create()
    {
        var showProfile = new Argument<string>("NAME|FILE") { Description = $"an embedded profile ({string.Join(", ", ProfileLoader.EmbeddedNames)}) or a file" };
        var showRole = new Option<string?>("--role") { Description = "also show what this role binds", HelpName = "ROLE" };
        var wide = new Option<bool>("--wide") { Description = "write cells out whole" };
        var notes = new Option<bool>("--notes") { Description = "list the guide's oddities the profile keeps visible" };
        var validateProfile = new Argument<string>("FILE") { Description = "a profile file (or an embedded name)" };
        var validateRole = new Option<string?>("--role") { Description = "also check that this role can serve", HelpName = "ROLE" };
        showProfile.CompletionSources.Add(ProfileLoader.EmbeddedNames.ToArray());
        var list = new Command("list", "the profiles built into cucmsim");
        var show = new Command("show", "every flow of a profile as a table, then what a role binds") { showProfile, showRole, wide, notes };
        var validate = new Command("validate", "check a profile; every problem is printed with file and line (exit 1 if any)") { validateProfile, validateRole };
        var profiles = new Command("profiles", "list, show and validate port profiles") { list, show, validate };

        profiles.Action = new CommandAction((parsed, _) =>
        {
            if (CliMain.Usage(parsed, "cucmsim profiles", parsed.InvocationConfiguration.Error, unexpected: "unknown verb"))
            {
                return Task.FromResult(1);
            }

            // No verb: the help, and the exit code of a usage error.
            new System.CommandLine.Help.HelpAction().Invoke(parsed);
            return Task.FromResult(1);
        });
        list.Action = Verb("list", (parsed, output, error) => List(output));
        show.Action = Verb("show", (parsed, output, error) =>
            Show(parsed.GetValue(showProfile)!, parsed.GetValue(showRole), parsed.GetValue(wide), parsed.GetValue(notes), output, error));
        validate.Action = Verb("validate", (parsed, output, error) =>
            Validate(parsed.GetValue(validateProfile)!, parsed.GetValue(validateRole), output, error));
        return profiles;
    }

    private static CommandAction Verb(string name, Func<ParseResult, TextWriter, TextWriter, int> run) => new((parsed, _) =>
        Task.FromResult(CliMain.Usage(parsed, $"cucmsim profiles {name}", parsed.InvocationConfiguration.Error)
            ? 1
            : run(parsed, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error)));

    private static int List(TextWriter output)
    {
        var table = Tables.Create("NAME", "TITLE", "ROLES", "FLOWS", "TABLES");
        foreach (var name in ProfileLoader.EmbeddedNames)
        {
            var p = ProfileLoader.Load(name);
            table.Row(200, name, p.Title, p.Roles.Count, p.Flows.Count, string.Join(",", p.Flows.Select(f => f.Table).Distinct().Order()));
        }

        Tables.Write(output, table);
        return 0;
    }

    private static int Show(string nameOrPath, string? role, bool wide, bool notes, TextWriter output, TextWriter error)
    {
        var (profile, problems) = ProfileLoader.TryLoad(nameOrPath);
        if (profile is null || problems.Count > 0)
        {
            PrintProblems(problems, error);
            return 1;
        }

        output.WriteLine($"profile {profile.Name}: {profile.Title}");
        if (profile.Source.Length > 0)
        {
            output.WriteLine($"source: {profile.Source}");
        }

        output.WriteLine();
        var table = Tables.Create("ID", "T", "FROM", "TO", "PORTS", "TRANSPORT", "PROTOCOL", "PURPOSE");
        foreach (var f in profile.Flows.OrderBy(f => f.Table).ThenBy(f => f.Row))
        {
            var to = f.Service is null ? f.To : $"{f.To} ({f.Service})";
            var ports = f.Then is null ? f.Ports.Text : $"{f.Ports.Text} then {f.Then}";
            var transport = f.Transport == Transport.Ip ? "ip-proto" : f.Transport.ToString().ToLowerInvariant();
            table.Row(wide ? 400 : 48, f.Id, f.Table, f.From, to, ports, transport, f.Protocol, f.Purpose);
        }

        Tables.Write(output, table);
        if (notes)
        {
            output.WriteLine();
            output.WriteLine("notes (the guide's oddities):");
            foreach (var f in profile.Flows.Where(f => f.Note is not null))
            {
                output.WriteLine($"  {f.Id}: {f.Note}");
            }
        }

        output.WriteLine();
        PrintRoleSummary(profile, role, output);
        return 0;
    }

    private static void PrintRoleSummary(Profile profile, string? role, TextWriter output)
    {
        var roles = role is null
            ? profile.Roles.Keys.Where(r => profile.Flows.Any(f => f.To == r && f.IsBindable))
            : [role];
        var table = Tables.Create("ROLE", "TCP", "UDP", "RTP POOL", "EPHEMERAL FLOWS", "IP-PROTOCOL FLOWS");
        foreach (var r in roles)
        {
            if (!profile.Roles.ContainsKey(r))
            {
                output.WriteLine($"no role '{r}' in profile {profile.Name}");
                continue;
            }

            var plan = ListenerPlan.Build(profile, r);
            table.Row(200, r, plan.TcpCount, plan.UdpCount,
                plan.Rtp is null ? "-" : $"{plan.Rtp.Count} ({string.Join(",", plan.Rtp.Ranges)})",
                profile.Flows.Count(f => f.To == r && f.Ports.IsEphemeral),
                profile.Flows.Count(f => f.To == r && f.Transport == Transport.Ip));
        }

        output.WriteLine("what each role binds when it serves:");
        Tables.Write(output, table);
        foreach (var r in roles.Where(profile.Roles.ContainsKey))
        {
            if (ListenerPlan.Build(profile, r).Rtp is { Yielded.Count: > 0 } rtp)
            {
                output.WriteLine($"note: the {r} RTP pool leaves out {string.Join(", ", rtp.Yielded)}: fixed listeners of the same role hold them");
            }
        }
    }

    private static int Validate(string path, string? role, TextWriter output, TextWriter error)
    {
        var (profile, problems) = ProfileLoader.TryLoad(path);
        if (profile is null || problems.Count > 0)
        {
            PrintProblems(problems, error);
            return 1;
        }

        output.WriteLine($"{path}: ok: profile '{profile.Name}', {profile.Flows.Count} flows, {profile.Roles.Count} roles");
        PrintRoleSummary(profile, role, output);
        return 0;
    }

    internal static void PrintProblems(IReadOnlyList<ProfileProblem> problems, TextWriter error)
    {
        foreach (var p in problems)
        {
            error.WriteLine(p);
        }

        error.WriteLine($"{problems.Count} problem(s)");
    }
}

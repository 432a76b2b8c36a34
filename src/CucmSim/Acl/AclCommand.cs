using System.CommandLine;
using CucmSim.Catalog;
using CucmSim.Cli;

namespace CucmSim.Acl;

/// <summary>cucmsim acl: the profile's flows from one role to another as firewall rules.</summary>
internal sealed class AclCommand
{
    public const int ExitBadOptions = 2;

    public AclCommand()
    {
        Command = new Command("acl", "the profile's flows from one role to another as firewall rules: ASA, IOS, nftables, iptables")
        {
            From, To, Format, Profile, Addresses, Only, Except, Inspect, NoEphemeralHoles, Counters, PortOffset, Name, Output,
        };
        Cli.ProfileCompletions.SendingRoles(From, Profile);
        Cli.ProfileCompletions.ListeningRoles(To, Profile);
        Cli.ProfileCompletions.Selectors(Only, Profile);
        Cli.ProfileCompletions.Selectors(Except, Profile);
    }

    public Command Command { get; }

    public Option<string> From { get; } = new("--from") { Description = "the sending role", HelpName = "ROLE", DefaultValueFactory = _ => "phone" };

    public Option<string> To { get; } = new("--to") { Description = "the listening role", HelpName = "ROLE", DefaultValueFactory = _ => "cucm" };

    public Option<string> Format { get; } = new Option<string>("--format") { Description = "asa, ios, nftables or iptables", HelpName = "FORMAT", Required = true }.OneOf("asa", "ios", "nftables", "iptables");

    public Option<string> Profile { get; } = new("--profile") { Description = "profile (default: the embedded 'cucm')", HelpName = "NAME|FILE", DefaultValueFactory = _ => ProfileLoader.DefaultProfile };

    public Option<string[]> Addresses { get; } = new("--addresses")
    {
        Description = "networks of a role, e.g. phone=10.1.0.0/16,cucm=10.0.0.5 (a role may be named again for more networks); a role without any is 'any'",
        HelpName = "ROLE=CIDR,...",
    };

    public Option<string[]> Only { get; } = new("--only") { Description = "flows to include, as in serve: a table (6), a protocol (sip) or a flow id (t6.sccp)", HelpName = "SEL" };

    public Option<string[]> Except { get; } = new("--except") { Description = "flows to leave out", HelpName = "SEL" };

    public Option<bool> Inspect { get; } = new("--inspect") { Description = "add the inspections (ASA inspect, IOS zone-based, conntrack helpers) that open secondary channels, instead of open ranges" };

    public Option<bool> NoEphemeralHoles { get; } = new("--no-ephemeral-holes") { Description = "open no range for ports chosen per session; say where inspection is needed instead" };

    public Option<bool> Counters { get; } = new("--counters") { Description = "a counter on every nftables rule, to read hits back with 'nft list ruleset'" };

    public Option<int> PortOffset { get; } = new Option<int>("--port-offset") { Description = "the offset serve was started with", HelpName = "N", DefaultValueFactory = _ => 0 }.Whole(0, 65535);

    public Option<string?> Name { get; } = new("--name") { Description = "the access list's (or nftables table's) name", HelpName = "NAME" };

    public Option<string?> Output { get; } = new("--output", "-o") { Description = "write to FILE instead of standard output", HelpName = "FILE" };

    /// <summary>cucmsim acl with these arguments (what follows "acl" on the command line).</summary>
    public static Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error) =>
        Cli.CliMain.RunAsync(["acl", .. argv], output, error);

    public static Task<int> RunAsync(ParseResult args, AclCommand cli, TextWriter output, TextWriter error)
    {
        // Values that did not parse are listed together here; the checks that need the profile come after.
        var errors = Cli.OptionKinds.Problems(args);
        if (errors.Count > 0)
        {
            return Task.FromResult(Fail(error, errors));
        }

        var (profile, problems) = ProfileLoader.TryLoad(args.GetValue(cli.Profile)!);
        if (profile is null)
        {
            return Task.FromResult(Fail(error, [.. errors, .. problems.Select(p => p.ToString())]));
        }

        var addresses = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in (args.GetValue(cli.Addresses) ?? []).SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == pair.Length - 1)
            {
                errors.Add($"--addresses {pair}: write ROLE=CIDR (phone=10.1.0.0/16)");
                continue;
            }

            if (!addresses.TryGetValue(pair[..eq], out var list))
            {
                addresses[pair[..eq]] = list = [];
            }

            list.Add(pair[(eq + 1)..]);
        }

        var filter = FlowFilter.Parse(profile, args.GetValue(cli.Only) ?? [], args.GetValue(cli.Except) ?? [], errors);
        var options = new AclOptions(args.GetValue(cli.From)!, args.GetValue(cli.To)!, Enum.TryParse<AclFormat>(args.GetValue(cli.Format), ignoreCase: true, out var format) ? format : AclFormat.Nftables)
        {
            Addresses = addresses.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value),
            Filter = filter,
            Inspect = args.GetValue(cli.Inspect),
            NoEphemeralHoles = args.GetValue(cli.NoEphemeralHoles),
            Counters = args.GetValue(cli.Counters),
            PortOffset = args.GetValue(cli.PortOffset),
            Name = args.GetValue(cli.Name),
        };
        var policy = AclPolicy.Build(profile, options, errors);
        if (errors.Count == 0)
        {
            AclWriters.Check(policy, errors);
        }

        if (errors.Count == 0 && policy.Entries.Count == 0)
        {
            errors.Add($"no flow of profile '{profile.Name}' goes from {options.From} to {options.To} (after --only/--except); 'cucmsim profiles show {profile.Name}' lists them");
        }

        if (errors.Count > 0)
        {
            return Task.FromResult(Fail(error, errors));
        }

        var text = AclWriters.Write(policy, profile.Name);
        if (args.GetValue(cli.Output) is { } file && file != "-")
        {
            File.WriteAllText(file, text);
            error.WriteLine($"cucmsim acl: {policy.Entries.Count(e => e.Emitted)} rules for {policy.Entries.Select(e => e.Flow.Id).Distinct().Count()} flows written to {file}");
        }
        else
        {
            output.Write(text);
        }

        return Task.FromResult(0);
    }

    private static int Fail(TextWriter error, List<string> errors)
    {
        foreach (var e in errors)
        {
            error.WriteLine($"cucmsim acl: {e}");
        }

        error.WriteLine("'cucmsim acl --help' lists the options");
        return ExitBadOptions;
    }
}

using System.CommandLine;
using CucmSim.Catalog;

namespace CucmSim.Acl;

/// <summary>cucmsim acl: the profile's flows from one role to another as firewall rules.</summary>
internal sealed class AclCommand
{
    public const int ExitBadOptions = 2;

    public AclCommand()
    {
        Command = new Command("acl", """
            Writes the profile's flows from one role to another as firewall rules: Cisco ASA or IOS access lists,
            an nftables table (load with 'nft -f') or iptables-restore input. Every rule carries the flow id and the
            guide's table and row; the output is the same for the same profile and options.
            """)
        {
            From, To, Format, Profile, Addresses, Only, Except, Inspect, NoEphemeralHoles, Counters, PortOffset, Name, Output,
        };
        Command.Options.Add(new System.CommandLine.Help.HelpOption());
        PortOffset.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, out var v) && v is < 0 or > 65535)
            {
                r.AddError($"--port-offset {v}: a whole number from 0 to 65535");
            }
        });
    }

    public Command Command { get; }

    public Option<string> From { get; } = new("--from") { Description = "the sending role", HelpName = "ROLE", DefaultValueFactory = _ => "phone" };

    public Option<string> To { get; } = new("--to") { Description = "the listening role", HelpName = "ROLE", DefaultValueFactory = _ => "cucm" };

    public Option<AclFormat> Format { get; } = new("--format") { Description = "asa, ios, nftables or iptables", HelpName = "FORMAT", Required = true };

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

    public Option<int> PortOffset { get; } = new("--port-offset") { Description = "the offset serve was started with", HelpName = "N", DefaultValueFactory = _ => 0 };

    public Option<string?> Name { get; } = new("--name") { Description = "the access list's (or nftables table's) name", HelpName = "NAME" };

    public Option<string?> Output { get; } = new("--output", "-o") { Description = "write to FILE instead of standard output", HelpName = "FILE" };

    public static Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter output, TextWriter error)
    {
        var cli = new AclCommand();
        var args = cli.Command.Parse(argv);
        if (args.Action is System.CommandLine.Help.HelpAction)
        {
            return Task.FromResult(args.Invoke(new InvocationConfiguration { Output = output, Error = error }));
        }

        var errors = args.Errors.Select(e => e.Message).ToList();
        if (errors.Count > 0)
        {
            return Task.FromResult(Fail(error, errors));
        }

        var (profile, problems) = ProfileLoader.TryLoad(args.GetValue(cli.Profile)!);
        if (profile is null)
        {
            return Task.FromResult(Fail(error, [.. problems.Select(p => p.ToString())]));
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
        var options = new AclOptions(args.GetValue(cli.From)!, args.GetValue(cli.To)!, args.GetValue(cli.Format))
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

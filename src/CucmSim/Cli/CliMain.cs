using System.Reflection;

namespace CucmSim.Cli;

internal static class CliMain
{
    public const string Usage = """
        cucmsim: a Cisco Unified Communications Manager stand-in for firewall, NAT and inspection tests

        usage: cucmsim <command> [options]

        commands:
          serve      bind every listener of a role and answer, record every hit
          probe      run every flow toward a serve across the firewall, a verdict per flow
          profiles   list, show and validate port profiles
          lab        a training lab in network namespaces: phones, firewall, cucm; scenarios to break and fix
          acl        the profile's flows from one role to another as firewall rules (ASA, IOS, nftables, iptables)
          version    print the version

        'cucmsim <command> --help' describes a command.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            output.WriteLine(Usage);
            return args.Length == 0 ? 1 : 0;
        }

        var rest = args[1..];
        switch (args[0])
        {
            case "serve":
                return await ServeCommand.RunAsync(rest, output, error).ConfigureAwait(false);
            case "probe":
                return await Probe.ProbeCommand.RunAsync(rest, output, error).ConfigureAwait(false);
            case "lab":
                return await Lab.LabCommand.RunAsync(rest, output, error).ConfigureAwait(false);
            case "acl":
                return await Acl.AclCommand.RunAsync(rest, output, error).ConfigureAwait(false);
            case "profiles":
                return ProfilesCommand.Run(rest, output, error);
            case "version" or "--version":
                output.WriteLine($"cucmsim {typeof(CliMain).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0"}");
                return 0;
            default:
                error.WriteLine($"cucmsim: unknown command '{args[0]}'");
                error.WriteLine(Usage);
                return 1;
        }
    }
}

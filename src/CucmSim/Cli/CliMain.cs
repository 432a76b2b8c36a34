using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace CucmSim.Cli;

/// <summary>
/// The cucmsim command line: one System.CommandLine root with the commands serve, probe, load, acl, lab, profiles, version
/// and completion. Help (--help on any command) and completions ("[suggest:N]") come from the declarations.
/// </summary>
internal sealed class CliMain
{
    public CliMain()
    {
        Root = new RootCommand("cucmsim: a Cisco Unified Communications Manager stand-in for firewall, NAT and inspection tests")
        {
            Serve.Command, Probe.Command, Load.Command, Acl.Command, Lab.Command, ProfilesCommand.Create(), Version(), Completion,
        };
        // -h and --help only: the "/?" and "/h" spellings would be offered as completions (and globbed by shells).
        foreach (var builtIn in Root.Options.OfType<System.CommandLine.Help.HelpOption>().ToList())
        {
            Root.Options.Remove(builtIn);
        }

        var help = new System.CommandLine.Help.HelpOption("--help", "-h");
        var generated = (SynchronousCommandLineAction)help.Action!;
        var details = new Dictionary<Command, string> { [Serve.Command] = ServeCli.Details, [Probe.Command] = CucmSim.Probe.ProbeCli.Details, [Load.Command] = CucmSim.Load.LoadCli.Details, [Completion] = CompletionCommand.Details };
        help.Action = new CommandAction((parsed, _) =>
        {
            var code = generated.Invoke(parsed);
            if (details.TryGetValue(parsed.CommandResult.Command, out var text))
            {
                parsed.InvocationConfiguration.Output.WriteLine(text);
                parsed.InvocationConfiguration.Output.WriteLine();
            }

            return Task.FromResult(code);
        });
        Root.Options.Add(help);
        Root.Action = new CommandAction((parsed, _) =>
        {
            var error = parsed.InvocationConfiguration.Error;
            if (parsed.Tokens.Count == 0)
            {
                // No command: the help, and the exit code of a usage error.
                new System.CommandLine.Help.HelpAction().Invoke(parsed);
                return Task.FromResult(1);
            }

            return Task.FromResult(Usage(parsed, "cucmsim", error, unexpected: "unknown command") ? 1 : 0);
        });
        Serve.Command.Action = new CommandAction((parsed, _) =>
            ServeCommand.RunAsync(parsed, Serve, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error));
        Probe.Command.Action = new CommandAction((parsed, cancellationToken) =>
            CucmSim.Probe.ProbeCommand.RunAsync(parsed, Probe, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        Load.Command.Action = new CommandAction((parsed, cancellationToken) =>
            CucmSim.Load.LoadCommand.RunAsync(parsed, Load, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        Acl.Command.Action = new CommandAction((parsed, _) =>
            CucmSim.Acl.AclCommand.RunAsync(parsed, Acl, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error));
        Lab.Bind();
        foreach (var version in Root.Options.OfType<VersionOption>())
        {
            version.Action = new CommandAction((parsed, _) => PrintVersion(parsed));
        }
    }

    public RootCommand Root { get; }

    public ServeCli Serve { get; } = new();

    public Probe.ProbeCli Probe { get; } = new();

    public CucmSim.Load.LoadCli Load { get; } = new();

    public CucmSim.Acl.AclCommand Acl { get; } = new();

    public CucmSim.Lab.LabCommand Lab { get; } = new();

    private Command Completion { get; } = CompletionCommand.Create();

    public static string VersionText => typeof(CliMain).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args);

    /// <summary>Runs a parsed command line; <paramref name="output"/> and <paramref name="error"/> take what it prints.</summary>
    public static Task<int> InvokeAsync(ParseResult parsed, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // serve handles SIGINT and SIGTERM itself (it drains for up to five seconds) and exceptions are bugs to see.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        }, cancellationToken);

    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        InvokeAsync(new CliMain().Parse(args), output, error, cancellationToken);

    /// <summary>Prints every problem of the command line as "COMMAND: problem"; true when there was any.</summary>
    public static bool Usage(ParseResult parsed, string command, TextWriter error, string unexpected = "unexpected argument")
    {
        var problems = OptionKinds.Problems(parsed, unexpected);
        foreach (var p in problems)
        {
            error.WriteLine($"{command}: {p}");
        }

        if (problems.Count > 0)
        {
            error.WriteLine($"see: {command} --help");
        }

        return problems.Count > 0;
    }

    private static Command Version()
    {
        var version = new Command("version", "print the version");
        version.Action = new CommandAction((parsed, _) => Usage(parsed, "cucmsim version", parsed.InvocationConfiguration.Error) ? Task.FromResult(1) : PrintVersion(parsed));
        return version;
    }

    private static Task<int> PrintVersion(ParseResult parsed)
    {
        parsed.InvocationConfiguration.Output.WriteLine($"cucmsim {VersionText}");
        return Task.FromResult(0);
    }
}

/// <summary>
/// A command's action. It runs even when the command line has problems (System.CommandLine would print them with the
/// whole help): each command lists its problems its own way and picks its own exit code.
/// </summary>
internal sealed class CommandAction(Func<ParseResult, CancellationToken, Task<int>> run) : AsynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default) => run(parseResult, cancellationToken);
}

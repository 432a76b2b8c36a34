using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using CucmSim.Catalog;
using CucmSim.Serve;
using Microsoft.Extensions.Logging;

namespace CucmSim.Cli;

internal static class ServeCommand
{
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string SocketThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    private static int DefaultIoThreads => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// Sets the runtime's socket engine up for --io and --io-threads. Called by the executable's entry point after
    /// parsing and before any socket exists: the runtime reads both settings once, when its socket engine starts.
    /// Inline completions run socket continuations on the engine threads instead of hopping to the thread pool. An
    /// explicit option wins over the environment; the environment wins over the defaults.
    /// </summary>
    public static void ConfigureRuntime(ParseResult parsed, ServeCli cli)
    {
        if (parsed.CommandResult.Command != cli.Command || parsed.Errors.Count > 0)
        {
            return;
        }

        var io = parsed.GetResult(cli.Io) is { Implicit: false } ? parsed.GetValue(cli.Io) : null;
        if (io == "pool")
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, null);
        }
        else if (io == "inline" || Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        if (parsed.GetResult(cli.IoThreads) is { Implicit: false })
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, parsed.GetValue(cli.IoThreads).ToString(CultureInfo.InvariantCulture));
        }
        else if (Environment.GetEnvironmentVariable(SocketThreadsVariable) is null)
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, DefaultIoThreads.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static async Task<int> RunAsync(ParseResult parsed, ServeCli cli, TextWriter output, TextWriter error)
    {
        if (CliMain.Usage(parsed, "cucmsim serve", error))
        {
            return 1;
        }

        var options = cli.Bind(parsed);
        var level = cli.Level(parsed);

        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            })
            .SetMinimumLevel(level)
            .AddFilter("Microsoft", level <= LogLevel.Debug ? level : LogLevel.Warning));

        var stop = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGTERM"); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGINT"); });
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, ctx => { ctx.Cancel = true; stop.TrySetResult("SIGQUIT"); });

        SimServer server;
        try
        {
            server = await SimServer.StartAsync(options, loggers).ConfigureAwait(false);
        }
        catch (ProfileException ex)
        {
            ProfilesCommand.PrintProblems(ex.Problems, error);
            return 1;
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"cucmsim serve: {ex.Message}");
            return 1;
        }

        await using (server.ConfigureAwait(false))
        {
            Report(server, output);
            if (options.Strict && !server.Complete)
            {
                output.WriteLine("--strict: not every listener is up; stopping (exit 2)");
                await server.StopAsync().ConfigureAwait(false);
                return 2;
            }

            var signal = await stop.Task.ConfigureAwait(false);
            output.WriteLine($"{signal}: draining connections and flushing the ledger");
            await server.StopAsync().ConfigureAwait(false);
            output.WriteLine($"stopped; ledger: {server.Ledger.LastSeq} records{(server.Ledger.Path is null ? string.Empty : $" in {server.Ledger.Path}")}");
        }

        return 0;
    }

    private static void Report(SimServer server, TextWriter output)
    {
        if (server.Context.Identity.ExternalAddress is { } external && System.Net.IPAddress.IsLoopback(external))
        {
            output.WriteLine($"warning: --external-address {external} is a loopback address: SDP, SCCP media and generated phone configs tell " +
                "every peer to reach it, and no peer on another host can; leave it out to embed the address each request reached");
        }

        foreach (var l in server.Listeners.Where(l => l.Status == ListenerStatus.Failed))
        {
            output.WriteLine($"FAILED {l.Id} ({l.Spec.Protocol}): {l.Error}{(l.Fix is null ? string.Empty : $"\n       fix: {l.Fix}")}");
        }

        if (server.RtpError is not null)
        {
            output.WriteLine($"FAILED rtp pool: {server.RtpError}");
        }
        else if (server.Rtp is { } rtp && rtp.Bound < rtp.Requested)
        {
            output.WriteLine($"FAILED rtp pool: {rtp.Requested - rtp.Bound} of {rtp.Requested} ports did not bind, e.g. {string.Join("; ", rtp.Failures.Take(3))}");
        }

        if (server.ControlError is not null)
        {
            output.WriteLine($"FAILED {server.ControlError}");
        }

        if (server.StateWarning is not null)
        {
            output.WriteLine($"warning: {server.StateWarning}");
        }

        if (server.EphemeralWarning is not null)
        {
            output.WriteLine($"warning: {server.EphemeralWarning}");
        }

        if (server.ControlAccess is { Generated: true } access)
        {
            output.WriteLine($"control token: {access.Token} (the control API on {server.ControlEndPoint} asks for it; kept in {access.File})");
        }

        if (server.Context.SshHostKey is { } hostKey)
        {
            output.WriteLine($"ssh host key: {hostKey.Algorithm} {hostKey.Fingerprint} ({hostKey.Path ?? $"this run only: {hostKey.Problem}"})");
        }

        var tcp = server.Listeners.Where(l => l.Transport == "tcp").ToList();
        var udp = server.Listeners.Where(l => l.Transport == "udp").ToList();
        var rtpText = server.Plan.Rtp is null
            ? "no rtp pool"
            : $"rtp pool {server.Rtp?.Bound ?? 0}/{server.Plan.Rtp.Count * (server.Options.Bind.Count == 0 ? 1 : server.Options.Bind.Count)} ports ({string.Join(",", server.Plan.Rtp.Ranges.Select(r => new PortRange(r.Low + server.Options.PortOffset, r.High + server.Options.PortOffset)))})";
        var control = server.ControlEndPoint is null ? "no control api" : $"control http://{server.ControlEndPoint}";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ready: {server.BoundCount}/{server.Listeners.Count} listeners up ({tcp.Count(l => l.Status == ListenerStatus.Bound)}/{tcp.Count} tcp, {udp.Count(l => l.Status == ListenerStatus.Bound)}/{udp.Count} udp), {rtpText}; profile {server.Profile.Name}, role {server.Plan.Role}; {control}; ledger {server.Ledger.Path ?? "in memory"}; {server.StartupTime.TotalSeconds:0.000} s"));
    }
}

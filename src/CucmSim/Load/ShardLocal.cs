using System.Diagnostics;
using System.Net;

namespace CucmSim.Load;

/// <summary>
/// --local-shards N: this process is shard 0 of N and coordinates on loopback; shards 1..N-1 are child processes of
/// the same executable with the same command line and their own --shard i/N (so their own source addresses). A stop
/// (SIGINT, SIGTERM) is passed to the children as SIGTERM: they drain and report like shard 0.
/// </summary>
internal static class ShardLocal
{
    /// <summary>Options of the parent alone: the children get their own shard and write no files.</summary>
    private static readonly HashSet<string> ParentOnly = new(StringComparer.Ordinal)
    {
        "--local-shards", "--json", "--html", "--hlog", "--coordinator-listen", "--shard-timeout",
    };

    public static async Task<int> RunAsync(LoadRequest request, ShardSettings settings, IReadOnlyList<string> tokens, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var count = settings.LocalShards;
        var parent = settings with { Shard = new ShardSpec(0, count), Listen = new IPEndPoint(IPAddress.Loopback, 0), LocalShards = 1 };
        var children = new List<Process>();

        // A child that ends with a usage, reach or shard error did so before the start: the run cannot come together.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Log(string line)
        {
            lock (error)
            {
                error.WriteLine(line);
            }
        }

        void Spawn(IPEndPoint coordinator)
        {
            for (var i = 1; i < count; i++)
            {
                var psi = Command();
                foreach (var arg in ChildArguments(tokens, new ShardSpec(i, count), coordinator, settings.Timeout))
                {
                    psi.ArgumentList.Add(arg);
                }

                var child = Process.Start(psi)!;
                var prefix = $"shard {i}/{count}: ";
                child.ErrorDataReceived += (_, e) =>
                {
                    if (e.Data is { Length: > 0 } line)
                    {
                        Log(line.StartsWith(prefix, StringComparison.Ordinal) ? line : prefix + line);
                    }
                };
                child.OutputDataReceived += (_, _) => { };
                child.EnableRaisingEvents = true;
                child.Exited += (_, _) =>
                {
                    if (child.ExitCode is LoadCommand.ExitBadOptions or LoadCommand.ExitUnreachable or ShardRun.ExitShards)
                    {
                        Log($"{prefix}ended with exit code {child.ExitCode} before the start; stopping");
                        try
                        {
                            failed.Cancel();
                        }
                        catch (ObjectDisposedException)
                        {
                            // The run is over already.
                        }
                    }
                };
                child.BeginErrorReadLine();
                child.BeginOutputReadLine();
                lock (children)
                {
                    children.Add(child);
                }
            }
        }

        using var forward = failed.Token.Register(() =>
        {
            List<Process> running;
            lock (children)
            {
                running = [.. children];
            }

            foreach (var child in running)
            {
                Terminate(child);
            }
        });
        try
        {
            return await ShardRun.RunAsync(request, parent, output, error, Spawn, failed.Token).ConfigureAwait(false);
        }
        finally
        {
            // The children have reported (or given up) by now: they end by themselves; any left after a grace is ended.
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10) + request.Options.Timeout);
            foreach (var child in children)
            {
                try
                {
                    await child.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Log($"cucmsim load: a shard (pid {child.Id}) did not end; killed");
                    child.Kill();
                }

                child.Dispose();
            }
        }
    }

    /// <summary>The child's command line: the parent's, without the parent's own options, as shard <paramref name="shard"/>.</summary>
    public static List<string> ChildArguments(IReadOnlyList<string> tokens, ShardSpec shard, IPEndPoint coordinator, TimeSpan timeout)
    {
        var args = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var name = token.Split('=', 2)[0];
            if (ParentOnly.Contains(name))
            {
                if (!token.Contains('=', StringComparison.Ordinal))
                {
                    i++;
                }

                continue;
            }

            if (name == "--quiet")
            {
                continue;
            }

            args.Add(token);
        }

        args.AddRange(["--shard", shard.ToString(), "--coordinator", coordinator.ToString(), "--shard-timeout", timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture), "--quiet"]);
        return args;
    }

    /// <summary>This executable: the apphost itself, or dotnet with the assembly.</summary>
    private static ProcessStartInfo Command()
    {
        var path = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(path) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = false };
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(ShardLocal).Assembly.Location);
        }

        return psi;
    }

    private static void Terminate(Process child)
    {
        try
        {
            if (!child.HasExited)
            {
                _ = Tmds.Linux.LibC.kill(child.Id, Tmds.Linux.LibC.SIGTERM);
            }
        }
        catch (InvalidOperationException)
        {
            // Not started or gone already.
        }
    }
}

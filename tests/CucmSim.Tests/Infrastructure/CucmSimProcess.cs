using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace CucmSim.Tests.Infrastructure;

/// <summary>Runs the real cucmsim executable as a child process (signals, exit codes, the ledger file).</summary>
public sealed partial class CucmSimProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Seen)> _watches = [];
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CucmSimProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int Pid => _process.Id;

    public IPEndPoint? Control { get; private set; }

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "cucmsim.dll");

    public static CucmSimProcess Start(params string[] args) => StartAs(null, args);

    /// <summary>Starts cucmsim with these environment variables added (JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it).</summary>
    /// <param name="netns">a network namespace to run in (ip netns exec keeps the environment), or null</param>
    public static CucmSimProcess StartWith(IReadOnlyDictionary<string, string> environment, string? netns, params string[] args)
    {
        var psi = new ProcessStartInfo(netns is null ? "dotnet" : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }

        foreach (var a in (netns is null ? [] : new[] { "netns", "exec", netns, "dotnet" }).Append(DllPath).Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        return new CucmSimProcess(Process.Start(psi)!);
    }

    /// <summary>The first line of output that matches <paramref name="pattern"/> (one already printed, or the next), within the default timeout.</summary>
    public Task<Match> LineAsync(Regex pattern)
    {
        var seen = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            _watches.Add((pattern, seen));
            foreach (var line in _output.ToString().Split('\n'))
            {
                if (pattern.Match(line) is { Success: true } match)
                {
                    seen.TrySetResult(match);
                    break;
                }
            }
        }

        return seen.Task.DefaultTimeout(what: $"a line matching {pattern}:\n{Output}");
    }

    /// <summary>Starts cucmsim inside a network namespace (ip netns exec execs it: the child is cucmsim itself).</summary>
    public static CucmSimProcess StartIn(string netns, params string[] args) => StartWith(new Dictionary<string, string>(), netns, args);

    /// <summary>Starts cucmsim as another user (by uid, through setpriv) when <paramref name="uid"/> is given.</summary>
    public static CucmSimProcess StartAs(int? uid, params string[] args)
    {
        var psi = new ProcessStartInfo(uid is null ? "dotnet" : "setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (uid is { } id)
        {
            foreach (var a in new[] { $"--reuid={id}", $"--regid={id}", "--clear-groups", "--inh-caps=-all", "dotnet" })
            {
                psi.ArgumentList.Add(a);
            }

            psi.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
            psi.Environment["HOME"] = Path.GetTempPath();
        }

        psi.ArgumentList.Add(DllPath);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return new CucmSimProcess(Process.Start(psi)!);
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _ready.TrySetException(new InvalidOperationException($"cucmsim ended before it was ready:\n{Output}"));
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            foreach (var (pattern, seen) in _watches)
            {
                if (pattern.Match(line) is { Success: true } match)
                {
                    seen.TrySetResult(match);
                }
            }
        }

        if (line.StartsWith("ready:", StringComparison.Ordinal))
        {
            var match = ControlPattern().Match(line);
            if (match.Success)
            {
                Control = IPEndPoint.Parse(match.Groups[1].Value);
            }

            _ready.TrySetResult(line);
        }
    }

    /// <summary>The readiness line.</summary>
    public Task<string> ReadyAsync() => _ready.Task.DefaultTimeout();

    public Task<int> ExitAsync() => _process.WaitForExitAsync().DefaultTimeout().ContinueWith(_ => _process.ExitCode, TaskScheduler.Default);

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
        }
    }

    public const int SigKill = 9;
    public const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(@"control http://(\S+?);")]
    private static partial Regex ControlPattern();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

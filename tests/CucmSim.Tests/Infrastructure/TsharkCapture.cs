using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace CucmSim.Tests.Infrastructure;

/// <summary>
/// A tshark capture on loopback, started before an exchange and stopped with SIGINT (so the file is complete).
/// tshark also prints each packet once it is in the file, which lets a test wait until the capture caught up.
/// Loopback carries every parallel test's traffic: the filter must select this test's ports.
/// </summary>
public sealed class TsharkCapture : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private (Func<string, bool> Match, int Count, TaskCompletionSource Done)? _wait;

    private TsharkCapture(Process process) => _process = process;

    /// <summary>What tshark said on standard error (for assertion messages).</summary>
    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static async Task<TsharkCapture> StartAsync(string filter, string file, int bufferMegabytes = 2)
    {
        var psi = new ProcessStartInfo(ExternalTool.Require("tshark")) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-i", "lo", "-B", bufferMegabytes.ToString(CultureInfo.InvariantCulture), "-f", filter, "-w", file, "-P", "-l", "-a", "duration:120" })
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi)!;
        var capture = new TsharkCapture(process);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                ready.TrySetResult();
                return;
            }

            lock (capture._stderr)
            {
                capture._stderr.AppendLine(e.Data);
            }

            if (e.Data.Contains("Capture started", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.OutputDataReceived += (_, e) => capture.OnLine(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await ready.Task.DefaultTimeout(TimeSpan.FromSeconds(30), "tshark to start capturing");
        if (process.HasExited)
        {
            throw new InvalidOperationException($"tshark ended before capturing: {capture.Stderr}");
        }

        return capture;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
            Check();
        }
    }

    private void Check()
    {
        if (_wait is { } w && _lines.Count(w.Match) >= w.Count)
        {
            w.Done.TrySetResult();
        }
    }

    /// <summary>Waits until tshark printed <paramref name="count"/> packet lines matching.</summary>
    public Task WaitForLinesAsync(Func<string, bool> match, int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lines)
        {
            _wait = (match, count, done);
            Check();
        }

        return done.Task.DefaultTimeout(TimeSpan.FromSeconds(30), "the last packets in the capture");
    }

    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        // SIGINT lets tshark flush the file; Process.Kill would send SIGKILL.
        await ExternalTool.RunAsync("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}

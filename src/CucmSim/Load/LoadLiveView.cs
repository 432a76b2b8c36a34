using System.Globalization;
using CucmSim.Cli;
using Spectre.Console;

namespace CucmSim.Load;

/// <summary>
/// The live view of a run: on a terminal a Spectre.Console table redrawn in place (phase, rates, registered phones,
/// concurrent calls, setup percentiles of the run so far, failures by reason); otherwise a plain line every five intervals.
/// </summary>
internal sealed class LoadLiveView : IDisposable
{
    private readonly Func<LoadSnapshot?> _snapshot;
    private readonly TextWriter _output;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _task;

    /// <param name="snapshot">the state to show: the engine's, or on shard 0 of a sharded run every shard's merged</param>
    public LoadLiveView(Func<LoadSnapshot?> snapshot, TextWriter output, bool terminal)
    {
        _snapshot = snapshot;
        _output = output;
        _task = terminal ? Task.Run(LiveAsync) : Task.Run(PlainAsync);
    }

    private async Task LiveAsync()
    {
        var console = Tables.ConsoleOn(_output, terminal: true, 0);
        try
        {
            await console.Live(Render(null)).AutoClear(false).StartAsync(async context =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    context.UpdateTarget(Render(_snapshot()));
                    context.Refresh();
                    try
                    {
                        await Task.Delay(500, _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        context.UpdateTarget(Render(_snapshot()));
                    }
                }
            }).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Another live display holds the console: the summary at the end still says everything.
        }
    }

    private async Task PlainAsync()
    {
        LoadInterval? last = null;
        var count = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(250, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (_snapshot() is { Last: { } interval } s && !ReferenceEquals(interval, last))
            {
                last = interval;
                if (++count % 5 == 0)
                {
                    _output.WriteLine(Line(s));
                }
            }
        }
    }

    /// <summary>One line of the plain view.</summary>
    public static string Line(LoadSnapshot s) => string.Create(CultureInfo.InvariantCulture,
        $"load {s.Elapsed.TotalSeconds,6:0}s {s.Phase,-11} registered {s.Registered} ({s.RegistrationsPerSecond:0.#}/s)  calls {s.Total.CallsAttempted} ({s.CallAttemptsPerSecond:0.#}/s) up {s.ConcurrentCalls}  setup p50 {Ms(s.SetupP50Ms)} p95 {Ms(s.SetupP95Ms)} p99 {Ms(s.SetupP99Ms)}  failed {s.Total.CallsFailed + s.Total.RegistrationsFailed}");

    private static string Ms(double? ms) => ms is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) + "ms" : "-";

    private static Table Render(LoadSnapshot? s)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("").AddColumn("");
        table.Title = new TableTitle("cucmsim load");
        if (s is null)
        {
            table.AddRow("phase", "starting");
            return table;
        }

        string I(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        string R(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        table.AddRow("phase", Markup.Escape($"{s.Phase}  {s.Elapsed.TotalSeconds:0}s of {s.Planned.TotalSeconds:0}s"));
        table.AddRow("registered", Markup.Escape($"{I(s.Registered)}  ({R(s.RegistrationsPerSecond)}/s; {I(s.Total.RegistrationsFailed)} failed)"));
        table.AddRow("calls", Markup.Escape($"{I(s.Total.CallsAttempted)} attempted ({R(s.CallAttemptsPerSecond)}/s), {I(s.Total.CallsEstablished)} set up, {I(s.Total.CallsFailed)} failed"));
        table.AddRow("concurrent", Markup.Escape($"{I(s.ConcurrentCalls)}  (max {I(s.MaxConcurrentCalls)})"));
        table.AddRow("setup", Markup.Escape($"p50 {Ms(s.SetupP50Ms)}  p95 {Ms(s.SetupP95Ms)}  p99 {Ms(s.SetupP99Ms)}"));
        if (s.Last is { } last)
        {
            table.AddRow("media", Markup.Escape($"RTP {I(last.Counters.RtpSent)} sent, {I(last.Counters.RtpReceived)} received in the last interval; {I(s.Total.MediaLegsLost)} legs lost"));
        }

        var failures = s.Failures.Count == 0 ? "none" : string.Join("  ", s.Failures.OrderByDescending(f => f.Value).Take(6).Select(f => $"{f.Key} {I(f.Value)}"));
        table.AddRow("failures", failures == "none" ? "[green]none[/]" : "[red]" + Markup.Escape(failures) + "[/]");
        return table;
    }

    public void Stop()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
            _task.Wait(TimeSpan.FromSeconds(2));
        }
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }
}

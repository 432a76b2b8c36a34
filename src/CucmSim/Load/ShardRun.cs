using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using CucmSim.Cli;

namespace CucmSim.Load;

/// <summary>
/// One process's run of a (possibly sharded) load: it takes its part (<see cref="ShardSession"/>), starts at the
/// common start, pushes its snapshots to shard 0 or shows the merged live view there, and ends with its report, or on
/// shard 0 with the merged report. SIGINT and SIGTERM stop the phones early: they drain, and the report says so.
/// </summary>
internal static class ShardRun
{
    /// <summary>The exit code when the shards did not come together: one missing, refused, or shard 0 not reached.</summary>
    public const int ExitShards = 4;

    public static async Task<int> RunAsync(LoadRequest request, ShardSettings settings, TextWriter output, TextWriter error, Action<IPEndPoint>? listening, CancellationToken cancellationToken)
    {
        void Log(string line)
        {
            lock (error)
            {
                error.WriteLine(line);
            }
        }

        ShardSession session;
        try
        {
            session = await ShardSession.OpenAsync(settings, request.Plan, Log, listening, cancellationToken).ConfigureAwait(false);
        }
        catch (ShardException e)
        {
            Log("cucmsim load: " + e.Message);
            return ExitShards;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log("cucmsim load: stopped before the start");
            return ExitShards;
        }

        await using (session.ConfigureAwait(false))
        {
            if (session.StartAt is { } at && DateTimeOffset.UtcNow - at > TimeSpan.FromSeconds(1))
            {
                Log(string.Create(CultureInfo.InvariantCulture, $"cucmsim load: the start was {(DateTimeOffset.UtcNow - at).TotalSeconds:0.#} s ago: starting now, behind the schedule of the other shards"));
            }

            using var engine = new LoadEngine(request.Plan, session.Shard, request.Targets, request.Options with { StartAt = session.StartAt });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.Aborted);
            engine.IntervalCompleted += interval =>
            {
                if (engine.Snapshot is { } s)
                {
                    session.Push(interval, s.Total, s.Failures);
                }
            };
            var merged = new LiveMerge(session);
            var terminal = !request.Quiet && Tables.IsTerminal(output);
            LoadReport own;
            using (var view = request.Quiet ? null : new LoadLiveView(() => merged.Of(engine.Snapshot), output, terminal))
            {
                own = await engine.RunAsync(stop.Token).ConfigureAwait(false);
                view?.Stop();
            }

            if (session.AbortReason is { } reason)
            {
                Log($"cucmsim load: shard {session.Shard}: {reason}; the phones stopped early");
            }
            else if (cancellationToken.IsCancellationRequested && session.Settings.Coordinates)
            {
                await session.AbortAsync("shard 0 was stopped").ConfigureAwait(false);
            }

            // The others' reports are waited for even after a stop: they drain and report within their timeout.
            var (report, missing) = await session.FinishAsync(own, CancellationToken.None).ConfigureAwait(false);
            if (missing is not null)
            {
                Log("cucmsim load: " + missing);
            }

            var code = LoadCommand.ExitCode(report, request.MaxFailureRatio);
            if (missing is not null && session.Settings.Coordinates && code == LoadCommand.ExitOk)
            {
                code = LoadCommand.ExitFailures;
            }

            // Written after a stop too: the report of what was done is the point of stopping gently.
            return await LoadCommand.ReportAsync(report, request, code, output, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>A token that SIGINT and SIGTERM cancel (instead of ending the process): the run drains and reports.</summary>
    public sealed class Signals : IDisposable
    {
        private readonly CancellationTokenSource _stop;
        private readonly PosixSignalRegistration _interrupt;
        private readonly PosixSignalRegistration _terminate;
        private long _first;

        public Signals(CancellationToken outer)
        {
            _stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
            _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        }

        public CancellationToken Token => _stop.Token;

        public void Dispose()
        {
            _interrupt.Dispose();
            _terminate.Dispose();
            _stop.Dispose();
        }

        private void Stop(PosixSignalContext context)
        {
            // The first signal drains; a second one ends the process at once, unless it comes within a second of the
            // first: Ctrl-C reaches --local-shards' children from the terminal and from the parent (SIGTERM) together.
            var now = Environment.TickCount64;
            if (Interlocked.CompareExchange(ref _first, now, 0) == 0 || now - Interlocked.Read(ref _first) < 1000)
            {
                context.Cancel = true;
                _stop.Cancel();
            }
        }
    }

    /// <summary>Shard 0's live view: its own snapshot with the other shards' latest added.</summary>
    private sealed class LiveMerge(ShardSession session)
    {
        private long _max;

        public LoadSnapshot? Of(LoadSnapshot? own)
        {
            var others = session.Others();
            if (own is null || others.Count == 0)
            {
                return own;
            }

            var total = new LoadCounters();
            total.Add(own.Total);
            var failures = new SortedDictionary<string, long>(own.Failures.ToDictionary(), StringComparer.Ordinal);
            long registered = own.Registered, concurrent = own.ConcurrentCalls;
            double registrations = own.RegistrationsPerSecond, attempts = own.CallAttemptsPerSecond;
            var setup = own.Last?.Setup is { } mine ? LoadHistograms.Decode(mine) : null;
            foreach (var (_, m) in others)
            {
                total.Add(m.Totals!);
                foreach (var (key, value) in m.Failures ?? [])
                {
                    failures[key] = failures.GetValueOrDefault(key) + value;
                }

                if (m.Interval is { } i)
                {
                    var seconds = Math.Max(0.001, i.LengthMs / 1000.0);
                    registered += i.Registered;
                    concurrent += i.ConcurrentCalls;
                    registrations += i.Counters.RegistrationsSucceeded / seconds;
                    attempts += i.Counters.CallsAttempted / seconds;
                    if (i.Setup is not null)
                    {
                        var h = LoadHistograms.Decode(i.Setup);
                        if (setup is null)
                        {
                            setup = h;
                        }
                        else
                        {
                            setup.Add(h);
                        }
                    }
                }
            }

            _max = Math.Max(_max, concurrent);
            double? P(double p) => setup is null || setup.TotalCount == 0 ? null : setup.GetValueAtPercentile(p) / 1000.0;
            return own with
            {
                Phase = string.Create(CultureInfo.InvariantCulture, $"{own.Phase}, {others.Count + 1} of {session.Shard.Count} shards"),
                Total = total,
                Registered = registered,
                ConcurrentCalls = concurrent,
                MaxConcurrentCalls = Math.Max(_max, own.MaxConcurrentCalls),
                RegistrationsPerSecond = registrations,
                CallAttemptsPerSecond = attempts,
                SetupP50Ms = P(50),
                SetupP95Ms = P(95),
                SetupP99Ms = P(99),
                Failures = failures,
            };
        }
    }
}

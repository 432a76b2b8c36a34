using System.Diagnostics;
using CucmSim.Catalog;

namespace CucmSim.Probe;

/// <summary>
/// Runs a plan: every port of every flow at the same time, at most <c>concurrency</c> at once, so a path that drops
/// everything costs one timeout per attempt, not one per flow. Reports each flow when its last port is done.
/// </summary>
public static class ProbeRunner
{
    public static async Task<List<FlowResult>> RunAsync(ProbePlan plan, ProbeContext context, int concurrency, Action<FlowResult>? done, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(Math.Max(1, concurrency));
        var results = plan.Flows.Select(NewResult).ToList();
        var flows = plan.Flows.Select(async (planned, index) =>
        {
            var result = results[index];
            if (planned.SkipReason is not null)
            {
                result.Reason = planned.SkipReason;
                result.Verdict = Verdict.Skipped;
                done?.Invoke(result);
                return;
            }

            result.StartMs = clock.Elapsed.TotalMilliseconds;
            IEnumerable<Task<List<LegResult>>> work = planned.IsRtp
                ? [Gated(gate, () => Exchanges.RtpAsync(context, planned.Targets, cancellationToken), cancellationToken)]
                : planned.Targets.Select(t => Gated(gate, () => Exchanges.RunTargetAsync(context, planned.Flow, t, cancellationToken), cancellationToken));
            var legs = (await Task.WhenAll(work).ConfigureAwait(false)).SelectMany(l => l).ToList();

            // Waits that only keep a socket silent (--idle) run outside the limit: every flow's wait at once.
            var later = await Task.WhenAll(legs.Select(l => l.Later).OfType<Task<LegResult>>()).ConfigureAwait(false);
            lock (result)
            {
                result.Legs.AddRange(legs);
                result.Legs.AddRange(later);
            }

            result.ElapsedMs = clock.Elapsed.TotalMilliseconds - result.StartMs;
            Judge.Flow(result, ServerView.None);
            done?.Invoke(result);
        });
        await Task.WhenAll(flows).ConfigureAwait(false);
        return results;
    }

    private static async Task<T> Gated<T>(SemaphoreSlim gate, Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    public static FlowResult NewResult(PlannedFlow planned)
    {
        var f = planned.Flow;
        return new FlowResult
        {
            Id = f.Id,
            Table = f.Table,
            Row = f.Row,
            From = f.From,
            To = f.To,
            Protocol = f.Protocol,
            Transport = f.Transport.ToString().ToLowerInvariant(),
            Ports = f.Ports.Text,
            Purpose = f.Purpose,
        };
    }
}

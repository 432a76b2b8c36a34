using System.Net.Sockets;
using CucmSim.Protocols.Echo;

namespace CucmSim.Serve;

/// <summary>
/// The delayed second answers that UDP echo probes ask for (<c>CUCMSIM-PROBE &lt;nonce&gt; idle=&lt;S&gt;</c>): one
/// one-shot timer per callback, so no socket thread waits. Bounded: at most <see cref="EchoProbe.MaxIdleSeconds"/>,
/// one callback per request, and no more than the limit pending at once (past it the echo is answered without one).
/// Each callback sent (or failed) is a ledger record of kind <c>echo-idle</c> that carries the probe's nonce.
/// </summary>
public sealed class EchoCallbacks(Ledger ledger, TimeProvider time, int capacity) : IDisposable
{
    private readonly HashSet<ITimer> _pending = [];
    private readonly Lock _lock = new();
    private bool _disposed;
    private long _scheduled;
    private long _sent;
    private long _refused;
    private long _failed;

    public long Scheduled => Interlocked.Read(ref _scheduled);

    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Requests answered without a callback: past the longest idle, or too many pending.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Callbacks whose send failed (socket closed, ICMP error pending, buffer full).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Schedules <paramref name="send"/> (which returns the bytes sent) after <paramref name="seconds"/>, and records
    /// it as <paramref name="record"/> then. False, and nothing scheduled, when the request is refused.
    /// </summary>
    public bool TrySchedule(int seconds, LedgerRecord record, Func<int> send)
    {
        if (seconds is < 1 or > EchoProbe.MaxIdleSeconds)
        {
            Interlocked.Increment(ref _refused);
            return false;
        }

        lock (_lock)
        {
            if (_disposed || _pending.Count >= capacity)
            {
                Interlocked.Increment(ref _refused);
                return false;
            }

            // Created stopped, then started: the timer is in the set before it can fire.
            ITimer? timer = null;
            timer = time.CreateTimer(_ => Fire(timer!, seconds, record, send), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _pending.Add(timer);
            timer.Change(TimeSpan.FromSeconds(seconds), Timeout.InfiniteTimeSpan);
        }

        Interlocked.Increment(ref _scheduled);
        return true;
    }

    private void Fire(ITimer timer, int seconds, LedgerRecord record, Func<int> send)
    {
        lock (_lock)
        {
            if (!_pending.Remove(timer))
            {
                return;
            }
        }

        timer.Dispose();
        try
        {
            var bytes = send();
            Interlocked.Increment(ref _sent);
            ledger.Append(record with { Kind = "echo-idle", Verdict = "callback", BytesOut = bytes, DurationMs = seconds * 1000L });
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _failed);
            ledger.Append(record with { Kind = "echo-idle", Verdict = "callback-failed", Error = ex.Message, DurationMs = seconds * 1000L });
        }
    }

    /// <summary>Cancels every pending callback (the server stops: its sockets are about to close).</summary>
    public void Dispose()
    {
        List<ITimer> timers;
        lock (_lock)
        {
            _disposed = true;
            timers = [.. _pending];
            _pending.Clear();
        }

        foreach (var timer in timers)
        {
            timer.Dispose();
        }
    }
}

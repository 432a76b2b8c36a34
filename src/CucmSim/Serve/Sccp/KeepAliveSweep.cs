namespace CucmSim.Serve.Sccp;

/// <summary>
/// The keepalive deadlines of every SCCP session of one listener, enforced by one periodic timer instead of
/// a timer and a cancellation source per connection: memory per registered phone counts (18,000 phones on
/// one instance). Sessions are kept in an intrusive list (no allocation per session); the timer exists only
/// while there are sessions. A session whose last keepalive (or registration, or connection) is older than
/// the deadline is expired: its pending read returns cancelled and the session closes itself. The deadline
/// is enforced to within one period (a second at most, a quarter of the deadline when that is shorter).
/// </summary>
internal sealed class KeepAliveSweep
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _deadline;
    private readonly TimeSpan _period;
    private readonly CancellationToken _stopping;
    private SccpSession? _head;
    private int _count;
    private ITimer? _timer;

    public KeepAliveSweep(TimeProvider time, TimeSpan deadline, CancellationToken stopping)
    {
        _time = time;
        _deadline = deadline;
        _period = TimeSpan.FromTicks(Math.Clamp(deadline.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        _stopping = stopping;
        stopping.UnsafeRegister(static s => ((KeepAliveSweep)s!).StopAll(), this);
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Add(SccpSession session)
    {
        lock (_lock)
        {
            session.SweepNext = _head;
            session.SweepPrevious = null;
            if (_head is not null)
            {
                _head.SweepPrevious = session;
            }

            _head = session;
            _count++;
            _timer ??= _time.CreateTimer(static s => ((KeepAliveSweep)s!).Sweep(), this, _period, _period);
        }

        if (_stopping.IsCancellationRequested)
        {
            session.Stop();
        }
    }

    public void Remove(SccpSession session)
    {
        ITimer? idle = null;
        lock (_lock)
        {
            if (session.SweepPrevious is { } previous)
            {
                previous.SweepNext = session.SweepNext;
            }
            else if (ReferenceEquals(_head, session))
            {
                _head = session.SweepNext;
            }
            else
            {
                return; // not in the list
            }

            if (session.SweepNext is { } next)
            {
                next.SweepPrevious = session.SweepPrevious;
            }

            session.SweepNext = session.SweepPrevious = null;
            if (--_count == 0)
            {
                idle = _timer;
                _timer = null;
            }
        }

        idle?.Dispose();
    }

    /// <summary>Expires every session past its deadline (outside the lock: expiring cancels a read).</summary>
    private void Sweep()
    {
        List<SccpSession>? expired = null;
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            for (var s = _head; s is not null; s = s.SweepNext)
            {
                if (_time.GetElapsedTime(s.LastKeepAlive, now) >= _deadline)
                {
                    (expired ??= []).Add(s);
                }
            }
        }

        if (expired is not null)
        {
            foreach (var s in expired)
            {
                s.Expire();
            }
        }
    }

    private void StopAll()
    {
        List<SccpSession> all = [];
        lock (_lock)
        {
            for (var s = _head; s is not null; s = s.SweepNext)
            {
                all.Add(s);
            }
        }

        foreach (var s in all)
        {
            s.Stop();
        }
    }
}

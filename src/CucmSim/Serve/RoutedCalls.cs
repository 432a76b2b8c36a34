namespace CucmSim.Serve;

/// <summary>Calls the server routed from one registered phone to another (SIP and SCCP), read by the metrics.</summary>
public sealed class RoutedCalls
{
    public RouteCounters Sip { get; } = new();

    public RouteCounters Sccp { get; } = new();
}

/// <summary>
/// The routed calls of one protocol: attempts = answered + failed + the calls still ringing; active = answered
/// calls not yet ended.
/// </summary>
public sealed class RouteCounters
{
    private long _attempts;
    private long _answered;
    private long _failed;
    private long _active;

    public long Attempts => Interlocked.Read(ref _attempts);
    public long Answered => Interlocked.Read(ref _answered);
    public long Failed => Interlocked.Read(ref _failed);
    public long Active => Interlocked.Read(ref _active);

    internal void Attempt() => Interlocked.Increment(ref _attempts);

    internal void Answer()
    {
        Interlocked.Increment(ref _answered);
        Interlocked.Increment(ref _active);
    }

    /// <summary>A call ends: an answered one leaves the active ones, any other counts as failed.</summary>
    internal void End(bool answered)
    {
        if (answered)
        {
            Interlocked.Decrement(ref _active);
        }
        else
        {
            Interlocked.Increment(ref _failed);
        }
    }
}

using System.Globalization;
using System.Net;
using CucmSim.Clients.Load;
using CucmSim.Clients.Sccp;
using CucmSim.Clients.Sip;
using HdrHistogram;

namespace CucmSim.Load;

/// <summary>Where the phones send their signalling: the target's ports for each protocol (from the profile).</summary>
public sealed record LoadTargets(IPEndPoint? Sccp, IPEndPoint? SipUdp, IPEndPoint? SipTcp, IPEndPoint? SipTls);

/// <summary>How a run behaves beyond its plan.</summary>
public sealed record LoadRunOptions
{
    /// <summary>How long a transaction may take: registration, call setup, release.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>SIP re-REGISTER interval (Expires is twice it); SCCP keepalive interval. Null: 60 s for SIP, RegisterAck's for SCCP.</summary>
    public TimeSpan? Refresh { get; init; }

    /// <summary>The SIP domain; null uses the target's address.</summary>
    public string? Domain { get; init; }

    /// <summary>The digest password of the SIP phones (never in the plan, its hash or the report); null answers no challenge.</summary>
    public string? SipPassword { get; init; }

    /// <summary>The absolute start (shards started together); null starts now.</summary>
    public DateTimeOffset? StartAt { get; init; }

    /// <summary>The length of an interval of the timeline.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The calls of the schedule are placed this much later than its offsets: the last registrations get time to
    /// complete (a TLS handshake, a slow target) before the first calls need them. Every shard must use the same.
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a media leg keeps receiving after it stops sending.</summary>
    public TimeSpan MediaDrain { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The phones' media ports (the profile's RTP range toward phones); null: ephemeral ports.</summary>
    public (int First, int Last)? MediaPorts { get; init; }

    /// <summary>Media threads the legs are spread over; 0: one per core (at most <see cref="LoadMedia.MaxDefaultLanes"/>).</summary>
    public int MediaThreads { get; init; }
}

/// <summary>The live state of a run, published once an interval (read from any thread).</summary>
public sealed record LoadSnapshot(
    string Phase,
    TimeSpan Elapsed,
    TimeSpan Planned,
    LoadCounters Total,
    long Registered,
    long ConcurrentCalls,
    long MaxConcurrentCalls,
    double RegistrationsPerSecond,
    double CallAttemptsPerSecond,
    double? SetupP50Ms,
    double? SetupP95Ms,
    double? SetupP99Ms,
    IReadOnlyDictionary<string, long> Failures,
    LoadInterval? Last);

/// <summary>
/// Runs a load plan (or one shard of it): the phones of the shard register at the register rate and keep their
/// registrations (SCCP keepalives, SIP re-REGISTER) for the whole run, and place their calls of the one seeded schedule,
/// ramps included. One loop thread drives every phone's signalling and the schedule; another sends and receives all
/// media. The run is bounded: it ends at the schedule's end plus one timeout, whatever the target does.
/// <para>
/// Shards: every shard runs the same plan with its <see cref="ShardSpec"/> and the same <see cref="LoadRunOptions.StartAt"/>;
/// <see cref="IntervalCompleted"/> gives each interval for a merged live view, and the <see cref="LoadReport"/> of
/// each shard merges with <see cref="LoadReport.Merge"/>.
/// </para>
/// </summary>
public sealed class LoadEngine : ILoadObserver, IDisposable
{
    private readonly LoadPlan _plan;
    private readonly ShardSpec _shard;
    private readonly LoadTargets _targets;
    private readonly LoadRunOptions _options;
    private readonly LoadSchedule _schedule;
    private readonly LoadLoop _loop;
    private readonly LoadMedia? _media;
    private readonly LoadPhoneContext _context;
    private readonly ILoadPhone?[] _phones;
    private readonly bool[] _pending;
    private readonly int _first;
    private readonly LoadCounters _total = new();
    private LoadCounters _interval = new();
    private readonly SortedDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> _lostLegs = new(StringComparer.Ordinal);
    private readonly LongHistogram _register = LoadHistograms.Create();
    private readonly LongHistogram _setup = LoadHistograms.Create();
    private readonly LongHistogram _jitter = LoadHistograms.Create();
    private readonly LongHistogram _loss = LoadHistograms.Create();
    private readonly LongHistogram _mos = LoadHistograms.Create();
    private readonly LongHistogram _roundTrip = LoadHistograms.Create();
    private LongHistogram _intervalSetup = LoadHistograms.Create();
    private readonly List<LoadInterval> _timeline = [];
    private readonly TaskCompletionSource<LoadReport> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _startTicks;
    private DateTimeOffset _started;
    private long _registered;
    private long _concurrent;
    private long _maxConcurrent;
    private long _inProgress;
    private int _pendingCount;
    private int _peakPending;
    private Pump<RegisterEvent>? _registrations;
    private long _lastRtpSent;
    private long _lastRtpReceived;
    private long _lastRtcpSent;
    private long _lastRtcpReceived;
    private int _intervalIndex;
    private string _phase = "starting";
    private bool _stopping;
    private LoadSnapshot? _snapshot;

    public LoadEngine(LoadPlan plan, ShardSpec shard, LoadTargets targets, LoadRunOptions? options = null)
    {
        var problems = plan.Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(plan));
        }

        _plan = plan;
        _shard = shard;
        _targets = targets;
        _options = options ?? new LoadRunOptions();
        _schedule = new LoadSchedule(plan);
        var (start, end) = shard.Phones(plan);
        _first = start;
        _phones = new ILoadPhone?[end - start];
        _pending = new bool[end - start];
        _loop = new LoadLoop("load-signalling");
        // A leg's result waits for the loop's next wake-up (an answer, a timer, at most its 100 ms idle wait) rather
        // than waking it: hundreds a second at a high call rate, and only counters to add.
        _media = plan.Media ? new LoadMedia(result => _loop.PostQuiet(() => LegEnded(result)), _options.MediaDrain, _options.MediaThreads, _options.MediaPorts) : null;
        _context = new LoadPhoneContext
        {
            Loop = _loop,
            Media = _media,
            Observer = this,
            Mode = plan.Mode == CallMode.PhoneToPhone ? LoadCallMode.PhoneToPhone : LoadCallMode.PhoneToServer,
            Timeout = _options.Timeout,
            Refresh = _options.Refresh,
            Domain = _options.Domain,
            SipPassword = _options.SipPassword,
            SccpServer = targets.Sccp,
            SipUdpServer = targets.SipUdp,
            SipTcpServer = targets.SipTcp,
            SipTlsServer = targets.SipTls,
        };
    }

    public LoadPlan Plan => _plan;

    public LoadTargets Targets => _targets;

    public ShardSpec Shard => _shard;

    public LoadSchedule Schedule => _schedule;

    /// <summary>Every interval of the timeline as it closes, on the engine's thread: keep the handler short.</summary>
    public event Action<LoadInterval>? IntervalCompleted;

    /// <summary>The state at the end of the last interval; null before the first.</summary>
    public LoadSnapshot? Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>The most registrations that were in flight at once (sent, not yet answered); at most the plan's cap.</summary>
    public int PeakPendingRegistrations => Volatile.Read(ref _peakPending);

    /// <summary>Work the loops could not do (a bug in a phone): counted, never the end of the run.</summary>
    public long Faults => _loop.Faults + (_media?.Faults ?? 0);

    /// <summary>Runs the plan to its end (or until <paramref name="cancellationToken"/>: the phones stop early) and gives the report.</summary>
    public async Task<LoadReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var startAt = _options.StartAt ?? DateTimeOffset.UtcNow.AddMilliseconds(100);
        _started = startAt;
        var delay = startAt - DateTimeOffset.UtcNow;
        _startTicks = LoadLoop.Now + (delay > TimeSpan.Zero ? LoadLoop.Ticks(delay) : 0);
        await _loop.InvokeAsync(() =>
        {
            // Registrations wait while the plan's cap of them is in flight: past what the path carries, the rate
            // follows the answers (closed loop) rather than overflowing the target's accept queue.
            var registrations = new Pump<RegisterEvent>(this, _schedule.Registrations(_shard).GetEnumerator(), r => r.At, r => Phone(r.Phone).Register(),
                () => _plan.MaxPending == 0 || _pendingCount < _plan.MaxPending);
            _registrations = registrations;
            var calls = new Pump<CallEvent>(this, _schedule.Calls(_shard).GetEnumerator(), c => c.At + _options.Settle, PlaceCall);
            _loop.At(_startTicks, () =>
            {
                _phase = "registering";
                registrations.Start();
                calls.Start();
            });
            _loop.At(_startTicks + LoadLoop.Ticks(_options.Interval), CloseInterval);
            _loop.At(_startTicks + LoadLoop.Ticks(_schedule.End + _options.Settle), Finish);
        }).ConfigureAwait(false);
        using var registration = cancellationToken.Register(() => _loop.Post(Finish));
        return await _done.Task.ConfigureAwait(false);
    }

    private TimeSpan Elapsed => TimeSpan.FromSeconds((double)(LoadLoop.Now - _startTicks) / System.Diagnostics.Stopwatch.Frequency);

    /// <summary>
    /// Runs the events of a schedule at their times: every event due now at once, then one timer for the next. While
    /// <paramref name="open"/> says no, the pump waits (<see cref="Paused"/>) and <see cref="Resume"/> goes on.
    /// </summary>
    private sealed class Pump<T>(LoadEngine engine, IEnumerator<T> events, Func<T, TimeSpan> at, Action<T> run, Func<bool>? open = null)
    {
        public bool Paused { get; private set; }

        public void Start()
        {
            if (events.MoveNext())
            {
                FromCurrent();
            }
        }

        public void Resume()
        {
            if (Paused)
            {
                Paused = false;
                FromCurrent();
            }
        }

        private void Due()
        {
            if (!engine._stopping)
            {
                FromCurrent();
            }
        }

        private void FromCurrent()
        {
            var now = LoadLoop.Now;
            while (!engine._stopping)
            {
                var due = engine._startTicks + LoadLoop.Ticks(at(events.Current));
                if (due > now)
                {
                    engine._loop.At(due, Due);
                    return;
                }

                if (open is not null && !open())
                {
                    Paused = true;
                    return;
                }

                run(events.Current);
                if (!events.MoveNext())
                {
                    return;
                }
            }
        }
    }

    private void PlaceCall(CallEvent call)
    {
        _phase = "calling";
        Phone(call.Caller).Call(call.Number, call.Hold);
    }

    private ILoadPhone Phone(int index)
    {
        var slot = index - _first;
        if (_phones[slot] is { } phone)
        {
            return phone;
        }

        var identity = _plan.Phone(index);
        phone = identity.Protocol switch
        {
            LoadProtocol.Sccp => new LoadSccpPhone(_context, index, identity.DeviceName, identity.Source),
            LoadProtocol.SipTcp => new LoadSipPhone(_context, index, identity.DirectoryNumber, identity.Source, LoadSipTransport.Tcp),
            LoadProtocol.SipTls => new LoadSipPhone(_context, index, identity.DirectoryNumber, identity.Source, LoadSipTransport.Tls),
            _ => new LoadSipPhone(_context, index, identity.DirectoryNumber, identity.Source, LoadSipTransport.Udp),
        };
        _phones[slot] = phone;
        return phone;
    }

    private void Finish()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _phase = "ending";

        // The calls still up, and the registrations still in flight, get one timeout to end by themselves (each is
        // then counted as it ended), then every phone stops.
        var deadline = LoadLoop.Now + LoadLoop.Ticks(_options.Timeout);
        WaitForCalls(deadline);
    }

    private void WaitForCalls(long deadline)
    {
        if ((Volatile.Read(ref _inProgress) > 0 || _pendingCount > 0) && LoadLoop.Now < deadline)
        {
            _loop.After(TimeSpan.FromMilliseconds(50), () => WaitForCalls(deadline));
            return;
        }

        foreach (var phone in _phones)
        {
            phone?.Stop();
        }

        // The unregistrations leave, the last media legs drain and report, then the run closes.
        _loop.After(_options.MediaDrain + TimeSpan.FromMilliseconds(500), Complete);
    }

    private void Complete()
    {
        CloseInterval(final: true);
        var report = BuildReport();
        _phase = "done";
        _done.TrySetResult(report);
    }

    private void CloseInterval() => CloseInterval(final: false);

    private void CloseInterval(bool final)
    {
        if (_done.Task.IsCompleted)
        {
            return;
        }

        var intervalMs = (int)_options.Interval.TotalMilliseconds;
        var interval = new LoadInterval
        {
            StartMs = _started.ToUnixTimeMilliseconds() + ((long)_intervalIndex * intervalMs),
            LengthMs = intervalMs,
            Counters = _interval,
            ConcurrentCalls = _concurrent,
            Registered = _registered,
            Setup = _intervalSetup.TotalCount == 0 ? null : LoadHistograms.Encode(_intervalSetup),
        };
        if (_media is not null)
        {
            var sent = _media.RtpSent;
            var received = _media.RtpReceived;
            var rtcpSent = _media.RtcpSent;
            var rtcpReceived = _media.RtcpReceived;
            interval.Counters.RtpSent = sent - _lastRtpSent;
            interval.Counters.RtpReceived = received - _lastRtpReceived;
            interval.Counters.RtcpSent = rtcpSent - _lastRtcpSent;
            interval.Counters.RtcpReceived = rtcpReceived - _lastRtcpReceived;
            (_lastRtpSent, _lastRtpReceived, _lastRtcpSent, _lastRtcpReceived) = (sent, received, rtcpSent, rtcpReceived);
        }

        _timeline.Add(interval);
        _intervalIndex++;
        var snapshotSetup = _setup.TotalCount == 0 ? null : _setup;
        var seconds = _options.Interval.TotalSeconds;
        Volatile.Write(ref _snapshot, new LoadSnapshot(
            _phase,
            Elapsed,
            _schedule.End + _options.Settle,
            Copy(_total),
            _registered,
            _concurrent,
            _maxConcurrent,
            interval.Counters.RegistrationsSucceeded / seconds,
            interval.Counters.CallsAttempted / seconds,
            Ms(snapshotSetup, 50),
            Ms(snapshotSetup, 95),
            Ms(snapshotSetup, 99),
            new SortedDictionary<string, long>(_failures, StringComparer.Ordinal),
            interval));
        _interval = new LoadCounters();
        _intervalSetup = LoadHistograms.Create();
        IntervalCompleted?.Invoke(interval);
        if (!final)
        {
            _loop.At(_startTicks + LoadLoop.Ticks(_options.Interval * (_intervalIndex + 1)), CloseInterval);
        }
    }

    private static double? Ms(HistogramBase? h, double percentile) => h is null ? null : h.GetValueAtPercentile(percentile) / 1000.0;

    private static LoadCounters Copy(LoadCounters c)
    {
        var copy = new LoadCounters();
        copy.Add(c);
        return copy;
    }

    private LoadReport BuildReport()
    {
        var total = Copy(_total);
        if (_media is not null)
        {
            total.RtpSent = _media.RtpSent;
            total.RtpReceived = _media.RtpReceived;
            total.RtcpSent = _media.RtcpSent;
            total.RtcpReceived = _media.RtcpReceived;
        }

        var report = new LoadReport
        {
            Shard = _shard.ToString(),
            Started = _started,
            Ended = DateTimeOffset.UtcNow,
            Plan = PlanWords(_plan),
            Counters = total,
            MaxConcurrentCalls = _maxConcurrent,
            Failures = new SortedDictionary<string, long>(_failures, StringComparer.Ordinal),
            LostLegs = new SortedDictionary<string, long>(_lostLegs, StringComparer.Ordinal),
            Timeline = [.. _timeline],
        };
        void Put(string name, HistogramBase h)
        {
            if (h.TotalCount > 0)
            {
                report.Histograms[name] = LoadHistograms.Encode(h);
            }
        }

        Put("register-us", _register);
        Put("setup-us", _setup);
        Put("jitter-us", _jitter);
        Put("loss-ppm", _loss);
        Put("mos-x100", _mos);
        Put("rtt-us", _roundTrip);
        if (Faults > 0)
        {
            report.Plan["faults"] = Faults.ToString(CultureInfo.InvariantCulture);
        }

        return report;
    }

    /// <summary>The plan in words, for the report's reader.</summary>
    public static Dictionary<string, string> PlanWords(LoadPlan plan)
    {
        string S(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        var words = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["target"] = plan.Target.ToString(),
            ["phones"] = plan.Phones.ToString(CultureInfo.InvariantCulture),
            ["protocol"] = LoadPlan.Name(plan.Protocol),
            ["mode"] = plan.Mode == CallMode.PhoneToPhone ? "phone" : "server",
            ["registerRate"] = S(plan.RegisterRate),
            ["cps"] = S(plan.CallsPerSecond),
            ["holdSeconds"] = S(plan.Hold.TotalSeconds),
            ["rampUpSeconds"] = S(plan.RampUp.TotalSeconds),
            ["rampDownSeconds"] = S(plan.RampDown.TotalSeconds),
            ["media"] = plan.Media ? "g711-20ms" : "none",
            ["seed"] = plan.Seed.ToString(CultureInfo.InvariantCulture),
            ["sources"] = plan.Sources.Count.ToString(CultureInfo.InvariantCulture),
            ["maxPending"] = plan.MaxPending.ToString(CultureInfo.InvariantCulture),
        };
        if (plan.Duration is { } d)
        {
            words["durationSeconds"] = S(d.TotalSeconds);
        }

        if (plan.Callers is { } callers)
        {
            words["callers"] = callers.ToString(CultureInfo.InvariantCulture);
        }

        if (plan.Calls is { } k)
        {
            words["calls"] = k.ToString(CultureInfo.InvariantCulture);
        }

        return words;
    }

    private void Fail(string reason)
    {
        _failures[reason] = _failures.GetValueOrDefault(reason) + 1;
    }

    private static long Micro(long ticks) => (long)(ticks * 1_000_000.0 / System.Diagnostics.Stopwatch.Frequency);

    // ------------------------------------------------------------------ ILoadObserver (the signalling loop's thread)

    void ILoadObserver.RegisterAttempted(int phone)
    {
        _total.RegistrationsAttempted++;
        _interval.RegistrationsAttempted++;
        if (!_pending[phone - _first])
        {
            _pending[phone - _first] = true;
            _pendingCount++;
            Volatile.Write(ref _peakPending, Math.Max(_peakPending, _pendingCount));
        }
    }

    /// <summary>A registration is answered (or failed): its place in flight frees, and a waiting pump goes on.</summary>
    private void Answered(int phone)
    {
        if (!_pending[phone - _first])
        {
            return;
        }

        _pending[phone - _first] = false;
        _pendingCount--;
        if (_registrations is { Paused: true } pump)
        {
            // Not from inside the phone's own handler: the pump starts other phones' registrations.
            _loop.Post(pump.Resume);
        }
    }

    void ILoadObserver.Registered(int phone, long delayTicks)
    {
        Answered(phone);
        _total.RegistrationsSucceeded++;
        _interval.RegistrationsSucceeded++;
        _registered++;
        _register.RecordValue(Math.Clamp(Micro(delayTicks), 0, LoadHistograms.Highest));
    }

    void ILoadObserver.RegisterFailed(int phone, string reason)
    {
        Answered(phone);
        _total.RegistrationsFailed++;
        _interval.RegistrationsFailed++;
        Fail(reason);
    }

    void ILoadObserver.Unregistered(int phone, string reason)
    {
        _registered--;
        Fail("lost-" + reason);
    }

    void ILoadObserver.Refreshed(int phone, bool ok, string? reason)
    {
        if (ok)
        {
            _total.Refreshes++;
            _interval.Refreshes++;
        }
        else
        {
            _total.RefreshesFailed++;
            _interval.RefreshesFailed++;
            Fail(reason ?? "refresh");
        }
    }

    void ILoadObserver.CallAttempted(int phone)
    {
        _total.CallsAttempted++;
        _interval.CallsAttempted++;
        Interlocked.Increment(ref _inProgress);
    }

    void ILoadObserver.CallEstablished(int phone, long setupTicks)
    {
        _total.CallsEstablished++;
        _interval.CallsEstablished++;
        var us = Math.Clamp(Micro(setupTicks), 0, LoadHistograms.Highest);
        _setup.RecordValue(us);
        _intervalSetup.RecordValue(us);
        _concurrent++;
        _maxConcurrent = Math.Max(_maxConcurrent, _concurrent);
    }

    void ILoadObserver.CallFailed(int phone, string reason)
    {
        _total.CallsFailed++;
        _interval.CallsFailed++;
        Interlocked.Decrement(ref _inProgress);
        Fail(reason);
    }

    void ILoadObserver.CallCompleted(int phone)
    {
        _total.CallsCompleted++;
        _interval.CallsCompleted++;
        _concurrent--;
        Interlocked.Decrement(ref _inProgress);
    }

    void ILoadObserver.CallDropped(int phone, string reason)
    {
        _total.CallsDropped++;
        _interval.CallsDropped++;
        _concurrent--;
        Interlocked.Decrement(ref _inProgress);
        Fail("dropped-" + reason);
    }

    void ILoadObserver.CallAnswered(int phone)
    {
        _total.CallsAnswered++;
        _interval.CallsAnswered++;
    }

    private void LegEnded(MediaLegResult leg)
    {
        _total.MediaLegs++;
        _interval.MediaLegs++;
        _total.RtpLost += leg.Lost;
        _interval.RtpLost += leg.Lost;
        if (leg.Silent)
        {
            _total.MediaLegsLost++;
            _interval.MediaLegsLost++;
            _lostLegs[leg.Name] = _lostLegs.GetValueOrDefault(leg.Name) + 1;
            Fail("media-lost");
        }
        else
        {
            _jitter.RecordValue(Math.Clamp((long)(leg.JitterMs * 1000), 0, LoadHistograms.Highest));
        }

        _loss.RecordValue(Math.Clamp((long)(leg.LossPercent * 10_000), 0, 1_000_000));
        _mos.RecordValue(Math.Clamp((long)Math.Round(leg.Mos * 100), 100, 450));
        if (leg.RoundTripMs is { } rtt)
        {
            _roundTrip.RecordValue(Math.Clamp((long)(rtt * 1000), 0, LoadHistograms.Highest));
        }
    }

    public void Dispose()
    {
        _media?.Dispose();
        _loop.Dispose();
    }
}

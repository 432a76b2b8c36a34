using System.Text.Json;
using System.Text.Json.Serialization;
using HdrHistogram;
using HdrHistogram.Utilities;

namespace CucmSim.Load;

/// <summary>The counters of a load run (RFC 6076 terms where it has them). Every field adds up across shards.</summary>
public sealed class LoadCounters
{
    public long RegistrationsAttempted { get; set; }

    public long RegistrationsSucceeded { get; set; }

    public long RegistrationsFailed { get; set; }

    /// <summary>SIP re-registrations and SCCP keepalives answered during the run.</summary>
    public long Refreshes { get; set; }

    public long RefreshesFailed { get; set; }

    public long CallsAttempted { get; set; }

    /// <summary>Calls that reached the answer (SIP 200 to INVITE; SCCP connected with media channels opened).</summary>
    public long CallsEstablished { get; set; }

    public long CallsFailed { get; set; }

    /// <summary>Established calls that were held and released cleanly.</summary>
    public long CallsCompleted { get; set; }

    /// <summary>Established calls that ended otherwise (no answer to the BYE or the OnHook, the connection lost).</summary>
    public long CallsDropped { get; set; }

    /// <summary>Calls a load phone was offered by the server and answered (phone to phone: the callee's side).</summary>
    public long CallsAnswered { get; set; }

    public long MediaLegs { get; set; }

    /// <summary>Media legs on which nothing arrived.</summary>
    public long MediaLegsLost { get; set; }

    public long RtpSent { get; set; }

    public long RtpReceived { get; set; }

    public long RtpLost { get; set; }

    public long RtcpSent { get; set; }

    public long RtcpReceived { get; set; }

    public void Add(LoadCounters other)
    {
        RegistrationsAttempted += other.RegistrationsAttempted;
        RegistrationsSucceeded += other.RegistrationsSucceeded;
        RegistrationsFailed += other.RegistrationsFailed;
        Refreshes += other.Refreshes;
        RefreshesFailed += other.RefreshesFailed;
        CallsAttempted += other.CallsAttempted;
        CallsEstablished += other.CallsEstablished;
        CallsFailed += other.CallsFailed;
        CallsCompleted += other.CallsCompleted;
        CallsDropped += other.CallsDropped;
        CallsAnswered += other.CallsAnswered;
        MediaLegs += other.MediaLegs;
        MediaLegsLost += other.MediaLegsLost;
        RtpSent += other.RtpSent;
        RtpReceived += other.RtpReceived;
        RtpLost += other.RtpLost;
        RtcpSent += other.RtcpSent;
        RtcpReceived += other.RtcpReceived;
    }
}

/// <summary>One interval of the run's timeline (one second by default), at an absolute time so shards line up.</summary>
public sealed class LoadInterval
{
    /// <summary>The interval's start, Unix milliseconds.</summary>
    public long StartMs { get; set; }

    public int LengthMs { get; set; }

    public LoadCounters Counters { get; set; } = new();

    /// <summary>Calls in progress at the end of the interval.</summary>
    public long ConcurrentCalls { get; set; }

    /// <summary>Phones registered at the end of the interval.</summary>
    public long Registered { get; set; }

    /// <summary>The setup times of calls answered in the interval, µs, as <see cref="LoadHistograms.Encode"/> writes it.</summary>
    public string? Setup { get; set; }
}

/// <summary>The report of one load run, or of shards merged (<see cref="Merge"/>). Written by <c>--json</c>.</summary>
public sealed class LoadReport
{
    public int Format { get; set; } = 1;

    /// <summary>"0/1" for a whole run, "2/4" for a shard, "4 shards" once merged.</summary>
    public string Shard { get; set; } = "0/1";

    public DateTimeOffset Started { get; set; }

    public DateTimeOffset Ended { get; set; }

    /// <summary>The command line's plan, as words (protocol, phones, rates), for the reader.</summary>
    public Dictionary<string, string> Plan { get; set; } = [];

    public LoadCounters Counters { get; set; } = new();

    /// <summary>Highest number of calls in progress at once.</summary>
    public long MaxConcurrentCalls { get; set; }

    /// <summary>Failures by reason: "sip-486", "sccp-register-reject", "timeout-setup", "media-lost", ...</summary>
    public SortedDictionary<string, long> Failures { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Media legs on which nothing arrived, by leg: "caller-to-callee", "callee-to-caller", "phone-to-server", "server-to-phone".</summary>
    public SortedDictionary<string, long> LostLegs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whole-run histograms by name, encoded by <see cref="LoadHistograms.Encode"/>: "register-us" (registration delay),
    /// "setup-us" (INVITE to 200, or off-hook to connected), "jitter-us" (RFC 3550, per leg at its end), "loss-ppm" and
    /// "mos-x100" (E-model estimate per leg).
    /// </summary>
    public SortedDictionary<string, string> Histograms { get; set; } = new(StringComparer.Ordinal);

    public List<LoadInterval> Timeline { get; set; } = [];

    [JsonIgnore]
    public double SessionEstablishmentRatio => Counters.CallsAttempted == 0 ? 0 : (double)Counters.CallsEstablished / Counters.CallsAttempted;

    [JsonIgnore]
    public double FailureRatio => Counters.CallsAttempted + Counters.RegistrationsAttempted == 0
        ? 0
        : (double)(Counters.CallsFailed + Counters.RegistrationsFailed) / (Counters.CallsAttempted + Counters.RegistrationsAttempted);

    /// <summary>
    /// Merges shard reports: counters, failures and lost legs summed, histograms added, timelines summed interval by
    /// interval (by absolute start). Concurrency is the sum per interval, so the merged maximum is that of the sums.
    /// </summary>
    public static LoadReport Merge(IReadOnlyList<LoadReport> shards)
    {
        ArgumentOutOfRangeException.ThrowIfZero(shards.Count);
        var merged = new LoadReport
        {
            Shard = shards.Count == 1 ? shards[0].Shard : shards.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) + " shards",
            Started = shards.Min(s => s.Started),
            Ended = shards.Max(s => s.Ended),
            Plan = new Dictionary<string, string>(shards[0].Plan),
        };
        var histograms = new SortedDictionary<string, HistogramBase>(StringComparer.Ordinal);
        var timeline = new SortedDictionary<long, (LoadInterval Interval, HistogramBase? Setup)>();
        foreach (var shard in shards)
        {
            merged.Counters.Add(shard.Counters);
            Sum(merged.Failures, shard.Failures);
            Sum(merged.LostLegs, shard.LostLegs);
            foreach (var (name, encoded) in shard.Histograms)
            {
                var h = LoadHistograms.Decode(encoded);
                if (histograms.TryGetValue(name, out var into))
                {
                    into.Add(h);
                }
                else
                {
                    histograms[name] = h;
                }
            }

            foreach (var interval in shard.Timeline)
            {
                if (!timeline.TryGetValue(interval.StartMs, out var slot))
                {
                    slot = (new LoadInterval { StartMs = interval.StartMs, LengthMs = interval.LengthMs }, null);
                }

                slot.Interval.Counters.Add(interval.Counters);
                slot.Interval.ConcurrentCalls += interval.ConcurrentCalls;
                slot.Interval.Registered += interval.Registered;
                if (interval.Setup is not null)
                {
                    var h = LoadHistograms.Decode(interval.Setup);
                    if (slot.Setup is null)
                    {
                        slot.Setup = h;
                    }
                    else
                    {
                        slot.Setup.Add(h);
                    }
                }

                timeline[interval.StartMs] = slot;
            }
        }

        foreach (var (name, h) in histograms)
        {
            merged.Histograms[name] = LoadHistograms.Encode(h);
        }

        foreach (var (_, slot) in timeline)
        {
            slot.Interval.Setup = slot.Setup is null ? null : LoadHistograms.Encode(slot.Setup);
            merged.Timeline.Add(slot.Interval);
        }

        merged.MaxConcurrentCalls = merged.Timeline.Count == 0 ? shards.Sum(s => s.MaxConcurrentCalls) : merged.Timeline.Max(i => i.ConcurrentCalls);
        return merged;
    }

    public string ToJson() => JsonSerializer.Serialize(this, LoadJsonContext.Default.LoadReport);

    public static LoadReport FromJson(string json) =>
        JsonSerializer.Deserialize(json, LoadJsonContext.Default.LoadReport) ?? throw new JsonException("the report is empty");

    private static void Sum(SortedDictionary<string, long> into, SortedDictionary<string, long> from)
    {
        foreach (var (key, value) in from)
        {
            into[key] = into.GetValueOrDefault(key) + value;
        }
    }
}

/// <summary>The histograms of a load run: HdrHistogram, 3 significant digits, in the compressed V2 encoding as base64.</summary>
public static class LoadHistograms
{
    /// <summary>The highest value a histogram holds: an hour in µs (and far above any ppm or MOS×100).</summary>
    public const long Highest = 3_600_000_000;

    public static LongHistogram Create() => new(Highest, 3);

    public static string Encode(HistogramBase histogram)
    {
        var buffer = ByteBuffer.Allocate(histogram.GetNeededByteBufferCapacity());
        var length = histogram.EncodeIntoCompressedByteBuffer(buffer);
        var bytes = new byte[length];
        buffer.Position = 0;
        for (var i = 0; i < length; i++)
        {
            bytes[i] = buffer.Get();
        }

        return Convert.ToBase64String(bytes);
    }

    public static HistogramBase Decode(string base64)
    {
        return HistogramEncoding.DecodeFromCompressedByteBuffer(ByteBuffer.Allocate(Convert.FromBase64String(base64)), 0);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LoadReport))]
internal sealed partial class LoadJsonContext : JsonSerializerContext;

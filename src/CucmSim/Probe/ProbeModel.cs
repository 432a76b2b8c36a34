using System.Text.Json;
using System.Text.Json.Serialization;

namespace CucmSim.Probe;

/// <summary>What a flow's exchanges showed about the path, one per flow.</summary>
public enum Verdict
{
    Allowed,
    Rewritten,
    SecondaryBlocked,
    MtuDrop,
    Expired,
    OneWay,
    BlockedSilent,
    BlockedReset,
    BlockedIcmp,
    Inconclusive,
    Error,
    Skipped,
}

public static class Verdicts
{
    private static readonly Verdict[] All = Enum.GetValues<Verdict>();

    /// <summary>The verdict as reports and expectation files write it: "blocked-silent".</summary>
    public static string Name(this Verdict verdict) => verdict switch
    {
        Verdict.Allowed => "allowed",
        Verdict.Rewritten => "rewritten",
        Verdict.SecondaryBlocked => "secondary-blocked",
        Verdict.MtuDrop => "mtu-drop",
        Verdict.Expired => "expired",
        Verdict.OneWay => "one-way",
        Verdict.BlockedSilent => "blocked-silent",
        Verdict.BlockedReset => "blocked-reset",
        Verdict.BlockedIcmp => "blocked-icmp",
        Verdict.Inconclusive => "inconclusive",
        Verdict.Error => "error",
        _ => "skipped",
    };

    public static bool TryParse(string text, out Verdict verdict)
    {
        foreach (var v in All)
        {
            if (v.Name() == text)
            {
                verdict = v;
                return true;
            }
        }

        verdict = default;
        return false;
    }

    /// <summary>The traffic did not get through (what "denied" in an expectation file means).</summary>
    public static bool IsBlocked(this Verdict verdict) => verdict is Verdict.BlockedSilent or Verdict.BlockedReset or Verdict.BlockedIcmp;

    /// <summary>How bad a verdict is, for the worst of several legs: higher is worse.</summary>
    public static int Severity(this Verdict verdict) => verdict switch
    {
        Verdict.Skipped => 0,
        Verdict.Allowed => 1,
        Verdict.Rewritten => 2,
        Verdict.Inconclusive => 3,
        Verdict.SecondaryBlocked => 4,
        Verdict.MtuDrop => 5,
        Verdict.Expired => 6,
        Verdict.OneWay => 7,
        Verdict.BlockedSilent => 8,
        Verdict.BlockedReset => 9,
        Verdict.BlockedIcmp => 10,
        _ => 11,
    };
}

/// <summary>Writes verdicts as reports name them ("blocked-silent") and reads them back.</summary>
public sealed class VerdictJsonConverter : JsonConverter<Verdict>
{
    public override Verdict Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Verdicts.TryParse(reader.GetString() ?? string.Empty, out var verdict) ? verdict : throw new JsonException($"'{reader.GetString()}' is not a verdict");

    public override void Write(Utf8JsonWriter writer, Verdict value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}

/// <summary>What one exchange saw, before the server's record is joined.</summary>
public enum Outcome
{
    /// <summary>The exchange completed.</summary>
    Answered,

    /// <summary>Nothing came back.</summary>
    NoAnswer,

    /// <summary>TCP: a RST answered the SYN.</summary>
    Reset,

    /// <summary>An ICMP error came back.</summary>
    Icmp,

    /// <summary>Something came back, but the exchange did not complete.</summary>
    Incomplete,

    /// <summary>The probe itself failed.</summary>
    ProbeError,

    /// <summary>Not run (an earlier leg decided, or it does not apply).</summary>
    NotRun,
}

/// <summary>A field that a middlebox changed on the way: what was sent, what arrived.</summary>
public sealed record FieldDiff(string Leg, string Field, string Sent, string Got);

/// <summary>The ICMP error a leg received.</summary>
public sealed record IcmpEvidence(int Type, int Code, string Name, string? From);

/// <summary>The certificate a TLS listener presented.</summary>
public sealed record CertificateEvidence(string Subject, string Issuer, IReadOnlyList<string> Sans, DateTimeOffset NotAfter, string Thumbprint, string? Protocol);

/// <summary>What the server recorded for an attempt (a ledger record that carries the attempt's nonce).</summary>
public sealed record ServerSeen(long Seq, string Kind, string? Listener, string? Local, string? Peer, string? Nonce, DateTimeOffset Time);

/// <summary>One exchange of a flow: the echo on a port, a TLS handshake, a native request, a secondary channel.</summary>
public sealed class LegResult
{
    /// <summary>"echo", "tls", "sip-options", "tftp-rrq", "tftp-data", "http-get", "snmp-get", "sccp-register", "rtp-echo".</summary>
    public required string Name { get; init; }

    /// <summary>"tcp/2000", "udp/69" (profile ports, before the offset).</summary>
    public required string Listener { get; init; }

    /// <summary>
    /// "reachability" (the echo), "primary" (the native exchange), "secondary" (a channel the exchange opens),
    /// "evidence", "mtu" (--mtu's large message), "idle" (--idle's delayed answer).
    /// </summary>
    public required string Role { get; init; }

    /// <summary>Where it went: address and port as dialled.</summary>
    public string? Target { get; set; }

    public Outcome Outcome { get; set; }

    public string? Detail { get; set; }

    /// <summary>The verdict of this leg alone, once judged.</summary>
    [JsonConverter(typeof(VerdictJsonConverter))]
    public Verdict Verdict { get; set; }

    [JsonIgnore]
    public string VerdictName => Verdict.Name();

    public List<string> Nonces { get; init; } = [];

    /// <summary>The probe's own address and port for the exchange.</summary>
    public string? Local { get; set; }

    /// <summary>The peer as the server saw it (echo answer, SIP mirror, SCCP mirror).</summary>
    public string? PeerSeen { get; set; }

    public IcmpEvidence? Icmp { get; set; }

    public CertificateEvidence? Certificate { get; set; }

    public List<FieldDiff> Diffs { get; init; } = [];

    public List<string> Evidence { get; init; } = [];

    public ServerSeen? ServerSeen { get; set; }

    public double ElapsedMs { get; set; }

    /// <summary>A leg that finishes later, out of the run's concurrency limit (--idle's wait for the delayed answer).</summary>
    [JsonIgnore]
    public Task<LegResult>? Later { get; set; }
}

/// <summary>A flow of the profile and everything the probe found about it.</summary>
public sealed class FlowResult
{
    public required string Id { get; init; }
    public int Table { get; init; }
    public int Row { get; init; }
    public required string From { get; init; }
    public required string To { get; init; }
    public required string Protocol { get; init; }
    public required string Transport { get; init; }
    public required string Ports { get; init; }
    public string Purpose { get; init; } = string.Empty;

    /// <summary>"allowed", "denied" or a verdict name.</summary>
    public string Expected { get; set; } = "allowed";

    [JsonConverter(typeof(VerdictJsonConverter))]
    public Verdict Verdict { get; set; }

    [JsonIgnore]
    public string VerdictName => Verdict.Name();

    /// <summary>"pass", "fail" or "skip".</summary>
    public string Result { get; set; } = "fail";

    public string Reason { get; set; } = string.Empty;

    public List<string> Evidence { get; init; } = [];

    public List<LegResult> Legs { get; init; } = [];

    public List<FieldDiff> Diffs { get; init; } = [];

    public double StartMs { get; set; }

    public double ElapsedMs { get; set; }

    /// <summary>What the server recorded for this flow's reachability attempt, when its record was read.</summary>
    public ServerSeen? ServerSeen { get; set; }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace CucmSim.Probe;

/// <summary>A whole run: what was asked, against what, and every flow's result. The --json file is this.</summary>
public sealed class ProbeReport
{
    public string Tool { get; init; } = "cucmsim probe";
    public string Version { get; init; } = string.Empty;
    public DateTimeOffset Started { get; init; }
    public DateTimeOffset Finished { get; set; }
    public double ElapsedMs { get; set; }
    public required string Target { get; init; }
    public required string Profile { get; init; }
    public required string Role { get; init; }
    public required string TargetRole { get; init; }
    public int PortOffset { get; init; }
    public string? Source { get; init; }
    public double TimeoutMs { get; init; }
    public int Retries { get; init; }
    public int Concurrency { get; init; }
    public string RtpSample { get; init; } = string.Empty;

    /// <summary>--idle: the silence before the delayed answers, seconds; null when not asked.</summary>
    public int? IdleSeconds { get; init; }
    public string DeviceName { get; init; } = string.Empty;

    /// <summary>Where the server's record came from: "control http://…", "ledger FILE" or "none".</summary>
    public string ServerView { get; set; } = "none";

    public int ExitCode { get; set; }

    public Dictionary<string, int> Summary { get; set; } = [];

    public List<FlowResult> Flows { get; init; } = [];

    /// <summary>What changed since the --baseline run, when one was given.</summary>
    public List<BaselineChange>? Changes { get; set; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public void Summarise()
    {
        Summary = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            ["flows"] = Flows.Count,
            ["pass"] = Flows.Count(f => f.Result == "pass"),
            ["fail"] = Flows.Count(f => f.Result == "fail"),
            ["skip"] = Flows.Count(f => f.Result == "skip"),
        };
        foreach (var group in Flows.GroupBy(f => f.VerdictName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Summary[group.Key] = group.Count();
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static ProbeReport FromJson(string json) =>
        JsonSerializer.Deserialize<ProbeReport>(json, JsonOptions) ?? throw new JsonException("the file holds no probe report");
}

/// <summary>A flow whose verdict or result differs from the baseline run's (or that one of the runs lacks).</summary>
public sealed record BaselineChange(string Id, string? Before, string? After, string? ResultBefore, string? ResultAfter)
{
    public static List<BaselineChange> Compare(ProbeReport before, ProbeReport after)
    {
        var old = before.Flows.ToDictionary(f => f.Id, StringComparer.Ordinal);
        var now = after.Flows.ToDictionary(f => f.Id, StringComparer.Ordinal);
        var changes = new List<BaselineChange>();
        foreach (var f in after.Flows)
        {
            if (!old.TryGetValue(f.Id, out var o))
            {
                changes.Add(new BaselineChange(f.Id, null, f.VerdictName, null, f.Result));
            }
            else if (o.VerdictName != f.VerdictName || o.Result != f.Result)
            {
                changes.Add(new BaselineChange(f.Id, o.VerdictName, f.VerdictName, o.Result, f.Result));
            }
        }

        changes.AddRange(before.Flows.Where(f => !now.ContainsKey(f.Id)).Select(f => new BaselineChange(f.Id, f.VerdictName, null, f.Result, null)));
        return changes;
    }

    public override string ToString() => (Before, After) switch
    {
        (null, _) => $"{Id}: new, {After} ({ResultAfter})",
        (_, null) => $"{Id}: gone (was {Before}, {ResultBefore})",
        _ => $"{Id}: {Before} ({ResultBefore}) -> {After} ({ResultAfter})",
    };
}

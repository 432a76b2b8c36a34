using System.Globalization;
using System.Text.Json;

namespace CucmSim.Serve;

/// <summary>A probe run as the dashboard lists it: when it came, from where, and the report as sent.</summary>
public sealed record ProbeRunEntry(int Id, DateTimeOffset Received, string From, string Target, int Flows, int Fail, string ReportJson);

/// <summary>
/// Probe reports sent to the control API (probe --report-to), newest last. Bounded: at most
/// <see cref="MaxRuns"/> runs, each at most <see cref="MaxBytes"/> of JSON; the oldest run goes first.
/// </summary>
public sealed class ProbeRuns
{
    public const int MaxRuns = 20;
    public const int MaxBytes = 4 * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly LinkedList<ProbeRunEntry> _runs = new();
    private int _next;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _runs.Count;
            }
        }
    }

    /// <summary>Checks the JSON is a probe report (an object with a "flows" array) and keeps it; null and a reason otherwise.</summary>
    public ProbeRunEntry? Add(string json, string from, DateTimeOffset now, out string? problem)
    {
        problem = null;
        string target;
        int flows;
        int fail = 0;
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("flows", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                problem = "not a probe report: an object with a \"flows\" array";
                return null;
            }

            target = root.TryGetProperty("target", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() ?? "?" : "?";
            flows = list.GetArrayLength();
            foreach (var flow in list.EnumerateArray())
            {
                if (flow.ValueKind == JsonValueKind.Object && flow.TryGetProperty("result", out var r) && r.ValueKind == JsonValueKind.String && r.ValueEquals("fail"))
                {
                    fail++;
                }
            }
        }
        catch (JsonException ex)
        {
            problem = "not JSON: " + ex.Message;
            return null;
        }

        lock (_gate)
        {
            var entry = new ProbeRunEntry(++_next, now, from, target, flows, fail, json);
            _runs.AddLast(entry);
            while (_runs.Count > MaxRuns)
            {
                _runs.RemoveFirst();
            }

            return entry;
        }
    }

    public IReadOnlyList<ProbeRunEntry> Snapshot()
    {
        lock (_gate)
        {
            return [.. _runs];
        }
    }

    /// <summary>The runs as one JSON array, each report embedded as sent.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var run in Snapshot())
            {
                w.WriteStartObject();
                w.WriteNumber("id", run.Id);
                w.WriteString("received", run.Received.ToString("O", CultureInfo.InvariantCulture));
                w.WriteString("from", run.From);
                w.WriteString("target", run.Target);
                w.WriteNumber("flows", run.Flows);
                w.WriteNumber("fail", run.Fail);
                w.WritePropertyName("report");
                w.WriteRawValue(run.ReportJson, skipInputValidation: true);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}

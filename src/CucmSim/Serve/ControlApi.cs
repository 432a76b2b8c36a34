using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using CucmSim.Serve.Dashboard;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Serve;

public sealed record ListenerView(
    string Id, string Role, int Port, int? BoundPort, string Transport, string Protocol, string State,
    string? Error, string? Fix, long Hits, string? LastPeer, DateTimeOffset? LastHit,
    long Connections, long ActiveConnections, long Datagrams, long BytesIn, long BytesOut, long Echoes, long Malformed,
    string[] Flows, int[] Tables);

public sealed record RtpView(RtpPoolStats? Stats, string? Error, IReadOnlyList<string> Failures, IReadOnlyList<RtpStreamView> Streams);

public sealed record HealthView(string Status, string Profile, string Role, int Listeners, int Bound, int Failed, int RtpRequested, int RtpBound, long LedgerSeq, double UptimeSeconds, string[] Degraded);

public sealed record TableView(int Table, string Title);

public sealed record LedgerPage(long LastSeq, long Dropped, IReadOnlyList<LedgerRecord> Records);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ListenerView[]))]
[JsonSerializable(typeof(RtpView))]
[JsonSerializable(typeof(HealthView))]
[JsonSerializable(typeof(LedgerPage))]
[JsonSerializable(typeof(LedgerRecord))]
[JsonSerializable(typeof(DeviceRecord[]))]
[JsonSerializable(typeof(TableView[]))]
internal sealed partial class ControlJsonContext : JsonSerializerContext;

/// <summary>
/// The control plane (127.0.0.1:9900 by default): listeners, the ledger (paged and streamed as server-sent
/// events), RTP pool state, health and Prometheus metrics.
/// </summary>
internal static class ControlApi
{
    public static void Map(WebApplication app, SimServer server)
    {
        app.MapGet("/healthz", () => Results.Json(Health(server), ControlJsonContext.Default.HealthView));
        app.MapGet("/api/listeners", () => Results.Json(Listeners(server), ControlJsonContext.Default.ListenerViewArray));
        app.MapGet("/api/rtp", () => Results.Json(new RtpView(server.Rtp?.Stats(), server.RtpError, server.Rtp?.Failures ?? [], server.Rtp?.Streams() ?? []), ControlJsonContext.Default.RtpView));
        app.MapGet("/api/ledger", (HttpContext http) => LedgerAsync(http, server));
        app.MapGet("/api/ledger/stream", (HttpContext http) => StreamAsync(http, server));
        app.MapGet("/api/devices", () => Results.Json(server.Context.Devices.Snapshot().ToArray(), ControlJsonContext.Default.DeviceRecordArray));
        app.MapGet("/api/tables", () => Results.Json(Tables(server), ControlJsonContext.Default.TableViewArray));
        app.MapGet("/api/probe-runs", () => Results.Text(server.ProbeRuns.ToJson(), "application/json; charset=utf-8"));
        app.MapPost("/api/probe-runs", (HttpContext http) => ProbeRunAsync(http, server));
        app.MapGet("/", () => DashboardAssets.Serve("index.html", "text/html; charset=utf-8"));
        app.MapGet("/dashboard.css", () => DashboardAssets.Serve("dashboard.css", "text/css; charset=utf-8"));
        app.MapGet("/dashboard.js", () => DashboardAssets.Serve("dashboard.js", "text/javascript; charset=utf-8"));
        app.MapGet("/metrics", () => Results.Text(Metrics.Render(server), "text/plain; version=0.0.4; charset=utf-8"));
    }

    internal static HealthView Health(SimServer server) => new(
        server.Complete ? "ok" : "degraded",
        server.Profile.Name,
        server.Plan.Role,
        server.Listeners.Count,
        server.BoundCount,
        server.FailedCount,
        server.Rtp?.Requested ?? server.Plan.Rtp?.Count ?? 0,
        server.Rtp?.Bound ?? 0,
        server.Ledger.LastSeq,
        Math.Round((server.Context.Time.GetUtcNow() - server.StartedAt).TotalSeconds, 3),
        server.Degraded);

    internal static ListenerView[] Listeners(SimServer server)
    {
        var views = server.Listeners.Select(l => new ListenerView(
            l.Id, l.Spec.Role, l.Spec.Port, l.BoundEndPoint?.Port, l.Transport, l.Spec.Protocol,
            l.Status == ListenerStatus.Bound ? "bound" : "failed", l.Error, l.Fix, l.Hits, l.LastPeer, l.LastHit,
            l.Connections, l.ActiveConnections, l.Datagrams, l.BytesIn, l.BytesOut, l.Echoes, l.Malformed,
            l.Spec.Flows.Select(f => f.Id).ToArray(), TablesOf(l.Spec.Flows))).ToList();
        if (server.Plan.Rtp is { } spec)
        {
            var stats = server.Rtp?.Stats();
            views.Add(new ListenerView(
                spec.Id, spec.Role, spec.Ranges[0].Low, stats is null ? null : server.Rtp!.ActualPort(spec.Ranges[0].Low), "udp", "rtp",
                stats is not null && stats.Failed == 0 ? "bound" : "failed",
                server.RtpError ?? (stats is { Failed: > 0 } ? $"{stats.Failed} of {stats.Requested} ports failed, e.g. {server.Rtp!.Failures[0]}" : null),
                null, (stats?.Probes ?? 0) + (stats?.Packets ?? 0), null, null, 0, 0, stats?.Packets ?? 0, stats?.Bytes ?? 0, stats?.Bytes ?? 0,
                stats?.Probes ?? 0, stats?.OtherPackets ?? 0, spec.Flows.Select(f => f.Id).ToArray(), TablesOf(spec.Flows)));
        }

        return [.. views];
    }

    private static int[] TablesOf(IEnumerable<Catalog.Flow> flows) => [.. flows.Select(f => f.Table).Distinct().Order()];

    /// <summary>The guide's tables this role's listeners serve, with their titles (the Cisco guide's for the cucm profile).</summary>
    internal static TableView[] Tables(SimServer server)
    {
        var cucm = server.Profile.Name == "cucm" || server.Profile.Extends == "cucm";
        var flows = server.Listeners.SelectMany(l => l.Spec.Flows).Concat(server.Plan.Rtp?.Flows ?? []);
        return [.. flows.Select(f => f.Table).Distinct().Order().Select(t => new TableView(t,
            cucm ? Probe.ProbePlan.TableTitle(t) : string.Create(CultureInfo.InvariantCulture, $"Table {t}")))];
    }

    /// <summary>POST /api/probe-runs: a probe's JSON report (probe --report-to), kept in memory and announced in the ledger.</summary>
    private static async Task ProbeRunAsync(HttpContext http, SimServer server)
    {
        if (http.Request.ContentLength is > ProbeRuns.MaxBytes)
        {
            http.Response.StatusCode = 413;
            await http.Response.WriteAsync($"a probe report is at most {ProbeRuns.MaxBytes} bytes\n").ConfigureAwait(false);
            return;
        }

        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var buffer = new char[16 * 1024];
        var text = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer, http.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (text.Length + read > ProbeRuns.MaxBytes)
            {
                http.Response.StatusCode = 413;
                await http.Response.WriteAsync($"a probe report is at most {ProbeRuns.MaxBytes} bytes\n").ConfigureAwait(false);
                return;
            }

            text.Append(buffer, 0, read);
        }

        var peer = http.Connection.RemoteIpAddress is { } ip ? Text.EndPoint(new System.Net.IPEndPoint(ip, http.Connection.RemotePort)) : "?";
        var run = server.ProbeRuns.Add(text.ToString(), peer, server.Context.Time.GetUtcNow(), out var problem);
        if (run is null)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync(problem + "\n").ConfigureAwait(false);
            return;
        }

        server.Ledger.Append(new LedgerRecord
        {
            Kind = "event",
            Verdict = "probe-run",
            Peer = peer,
            Detail = new()
            {
                ["id"] = run.Id.ToString(CultureInfo.InvariantCulture),
                ["target"] = run.Target,
                ["flows"] = run.Flows.ToString(CultureInfo.InvariantCulture),
                ["fail"] = run.Fail.ToString(CultureInfo.InvariantCulture),
            },
        });
        http.Response.StatusCode = 201;
        await http.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{run.Id}}}\n")).ConfigureAwait(false);
    }

    private static bool TryParseSince(HttpContext http, out long seq, out DateTimeOffset? after)
    {
        seq = 0;
        after = null;
        var text = http.Request.Query["since"].ToString();
        if (text.Length == 0)
        {
            return true;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out seq))
        {
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            after = time;
            return true;
        }

        return false;
    }

    private static async Task LedgerAsync(HttpContext http, SimServer server)
    {
        if (http.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.Ordinal))
        {
            await StreamAsync(http, server).ConfigureAwait(false);
            return;
        }

        if (!TryParseSince(http, out var since, out var after))
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync("since: a sequence number or an ISO 8601 time\n").ConfigureAwait(false);
            return;
        }

        var limit = int.TryParse(http.Request.Query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 10_000) : 1000;
        var page = new LedgerPage(server.Ledger.LastSeq, server.Ledger.Dropped, server.Ledger.Since(since, limit, after));
        await Results.Json(page, ControlJsonContext.Default.LedgerPage).ExecuteAsync(http).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext http, SimServer server)
    {
        if (!TryParseSince(http, out var since, out var after))
        {
            http.Response.StatusCode = 400;
            return;
        }

        if (http.Request.Headers.TryGetValue("Last-Event-ID", out var lastId) && long.TryParse(lastId, NumberStyles.None, CultureInfo.InvariantCulture, out var resumed))
        {
            since = resumed;
        }

        // named=0: no "event:" line, so a browser's EventSource.onmessage sees every kind (the kind is in the data).
        var named = http.Request.Query["named"] != "0";
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var ct = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, server.Context.Stopping).Token;
        await http.Response.WriteAsync(": cucmsim ledger\n\n", ct).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
        var sb = new StringBuilder();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var record in server.Ledger.Since(since, 500, after))
                {
                    sb.Clear();
                    sb.Append("id: ").Append(record.Seq);
                    if (named)
                    {
                        sb.Append("\nevent: ").Append(record.Kind);
                    }

                    sb.Append("\ndata: ")
                      .Append(JsonSerializer.Serialize(record, ControlJsonContext.Default.LedgerRecord)).Append("\n\n");
                    await http.Response.WriteAsync(sb.ToString(), ct).ConfigureAwait(false);
                    since = record.Seq;
                }

                await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
                using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(ct);
                heartbeat.CancelAfter(TimeSpan.FromSeconds(15));
                try
                {
                    await server.Ledger.WaitForNewerAsync(Math.Max(since, server.Ledger.LastSeq > since ? since : server.Ledger.LastSeq), heartbeat.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    await http.Response.WriteAsync(": keepalive\n\n", ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Serve;

public sealed record ListenerView(
    string Id, string Role, int Port, int? BoundPort, string Transport, string Protocol, string State,
    string? Error, string? Fix, long Hits, string? LastPeer, DateTimeOffset? LastHit,
    long Connections, long ActiveConnections, long Datagrams, long BytesIn, long BytesOut, long Echoes, long Malformed,
    string[] Flows);

public sealed record RtpView(RtpPoolStats? Stats, string? Error, IReadOnlyList<string> Failures, IReadOnlyList<RtpStreamView> Streams);

public sealed record HealthView(string Status, string Profile, string Role, int Listeners, int Bound, int Failed, int RtpRequested, int RtpBound, long LedgerSeq, double UptimeSeconds);

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
        Math.Round((server.Context.Time.GetUtcNow() - server.StartedAt).TotalSeconds, 3));

    internal static ListenerView[] Listeners(SimServer server)
    {
        var views = server.Listeners.Select(l => new ListenerView(
            l.Id, l.Spec.Role, l.Spec.Port, l.BoundEndPoint?.Port, l.Transport, l.Spec.Protocol,
            l.Status == ListenerStatus.Bound ? "bound" : "failed", l.Error, l.Fix, l.Hits, l.LastPeer, l.LastHit,
            l.Connections, l.ActiveConnections, l.Datagrams, l.BytesIn, l.BytesOut, l.Echoes, l.Malformed,
            l.Spec.Flows.Select(f => f.Id).ToArray())).ToList();
        if (server.Plan.Rtp is { } spec)
        {
            var stats = server.Rtp?.Stats();
            views.Add(new ListenerView(
                spec.Id, spec.Role, spec.Ranges[0].Low, stats is null ? null : server.Rtp!.ActualPort(spec.Ranges[0].Low), "udp", "rtp",
                stats is not null && stats.Failed == 0 ? "bound" : "failed",
                server.RtpError ?? (stats is { Failed: > 0 } ? $"{stats.Failed} of {stats.Requested} ports failed, e.g. {server.Rtp!.Failures[0]}" : null),
                null, (stats?.Probes ?? 0) + (stats?.Packets ?? 0), null, null, 0, 0, stats?.Packets ?? 0, stats?.Bytes ?? 0, stats?.Bytes ?? 0,
                stats?.Probes ?? 0, stats?.OtherPackets ?? 0, spec.Flows.Select(f => f.Id).ToArray()));
        }

        return [.. views];
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
                    sb.Append("id: ").Append(record.Seq).Append("\nevent: ").Append(record.Kind).Append("\ndata: ")
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

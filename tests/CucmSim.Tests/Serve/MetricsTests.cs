using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Tests.Serve;

/// <summary>The "CucmSim" meter, the Prometheus page that shares its definitions, OTLP export and the Grafana dashboard.</summary>
public sealed partial class MetricsTests
{
    private static string SccpAndSmallPool() => SimHost.WriteProfile("""
        { "name": "metrics", "extends": "cucm", "select": { "protocols": ["rtp", "sccp", "tftp"] }, "rtp": { "cucm": "23240-23243" } }
        """);

    [Fact]
    public async Task A_meter_listener_sees_every_instrument_with_the_values_of_the_prometheus_page()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = SccpAndSmallPool(), EphemeralPorts = true });
        var echo = await EchoClient.TcpAsync(server.EndPoint("tcp/2000")).DefaultTimeout();
        Assert.True(echo.Ok, echo.Error);
        await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == echo.Nonce);

        var seen = new Dictionary<string, List<(long Value, Dictionary<string, string> Tags)>>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, server.Meter!.Source))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var t in tags)
            {
                map[t.Key] = t.Value?.ToString() ?? string.Empty;
            }

            (seen.TryGetValue(instrument.Name, out var list) ? list : seen[instrument.Name] = []).Add((value, map));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal("CucmSim", server.Meter!.Source.Name);
        var names = Metrics.PerListener.Concat(Metrics.PerProtocol).Select(m => m.Instrument).Concat(Metrics.PerServer.Select(m => m.Instrument));
        Assert.All(names, n => Assert.True(seen.ContainsKey(n), $"{n} was not measured"));
        Assert.Contains(seen["cucmsim.echoes"], m => m.Value == 1 && m.Tags["listener"] == "tcp/2000" && m.Tags["protocol"] == "sccp" && m.Tags["transport"] == "tcp");
        Assert.Contains(seen["cucmsim.protocol.hits"], m => m.Value == 1 && m.Tags["protocol"] == "sccp");
        Assert.Equal(4, seen["cucmsim.rtp.ports.bound"].Single().Value);
        Assert.Equal(server.Ledger.LastSeq, seen["cucmsim.ledger.records"].Single().Value, 5.0);

        // The Prometheus page reads the same definitions: the same value under the name it has always had.
        using var http = server.Control();
        var page = await http.GetStringAsync("/metrics").DefaultTimeout();
        Assert.Contains("cucmsim_echoes_total{listener=\"tcp/2000\",protocol=\"sccp\",transport=\"tcp\"} 1\n", page);
        Assert.Contains("cucmsim_rtp_ports_bound 4\n", page);
        Assert.Contains("# TYPE cucmsim_connections_total counter\n", page);
        Assert.Contains("# TYPE cucmsim_devices_registered gauge\n", page);
    }

    [Fact]
    public async Task Otlp_export_sends_the_meter_to_a_collector()
    {
        // A collector of our own: OTLP over HTTP/protobuf is a POST to /v1/metrics.
        var bodies = new System.Collections.Concurrent.ConcurrentQueue<(string ContentType, byte[] Body)>();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var collector = builder.Build();
        collector.MapPost("/v1/metrics", async (HttpContext http) =>
        {
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy);
            bodies.Enqueue((http.Request.ContentType ?? string.Empty, copy.ToArray()));

            // An export can hold nothing of the meter yet (the reader's first collection); wait for one that does.
            if (System.Text.Encoding.UTF8.GetString(copy.ToArray()).Contains("cucmsim.listener.up", StringComparison.Ordinal))
            {
                received.TrySetResult();
            }

            return Results.Ok();
        });
        await collector.StartAsync().DefaultTimeout();
        var url = new Uri(collector.Urls.Single() + "/v1/metrics");

        await using (var server = await SimHost.StartAsync(new ServeOptions { Only = ["t6.sccp"], EphemeralPorts = true, Otlp = url, OtlpInterval = TimeSpan.FromMilliseconds(200) }))
        {
            await received.Task.DefaultTimeout();
        }

        var (contentType, body) = bodies.First(b => System.Text.Encoding.UTF8.GetString(b.Body).Contains("cucmsim.listener.up", StringComparison.Ordinal));
        Assert.Equal("application/x-protobuf", contentType);
        var text = System.Text.Encoding.UTF8.GetString(body);
        Assert.Contains("CucmSim", text);
        Assert.Contains("cucmsim.listener.up", text);
        Assert.Contains("tcp/2000", text);
    }

    [Fact]
    public async Task Every_metric_the_grafana_dashboard_queries_is_on_the_metrics_page()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Profile = SccpAndSmallPool(), EphemeralPorts = true });
        using var http = server.Control();
        var page = await http.GetStringAsync("/metrics").DefaultTimeout();
        var served = PageNames().Matches(page).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

        var path = Path.Combine(Infrastructure.Repository.Root(), "deploy", "grafana", "cucmsim-dashboard.json");
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        var queried = new HashSet<string>(StringComparer.Ordinal);
        foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                foreach (Match m in QueriedNames().Matches(target.GetProperty("expr").GetString()!))
                {
                    queried.Add(m.Value);
                }
            }
        }

        foreach (var variable in dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("query", out var q) && q.ValueKind == JsonValueKind.String)
            {
                foreach (Match m in QueriedNames().Matches(q.GetString()!))
                {
                    queried.Add(m.Value);
                }
            }
        }

        Assert.True(queried.Count >= 15, string.Join(", ", queried));
        Assert.All(queried, name => Assert.True(served.Contains(name), $"the dashboard queries {name}, which /metrics does not serve"));
    }

    [GeneratedRegex(@"^([a-z_]+)(?:\{| )", RegexOptions.Multiline)]
    private static partial Regex PageNames();

    [GeneratedRegex(@"\bcucmsim_[a-z0-9_]+")]
    private static partial Regex QueriedNames();
}

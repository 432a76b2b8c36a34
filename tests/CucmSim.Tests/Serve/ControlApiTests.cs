using System.Net.Http.Json;
using CucmSim.Clients.Echo;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class ControlApiTests
{
    [Fact]
    public async Task Health_listeners_ledger_and_metrics()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t6.sccp", "t2.tftp"], EphemeralPorts = true });
        using var http = server.Control();

        var health = await http.GetFromJsonAsync<HealthView>("/healthz").DefaultTimeout();
        Assert.Equal("ok", health!.Status);
        Assert.Equal(3, health.Bound);

        var probe = await EchoClient.TcpAsync(server.EndPoint("tcp/2000")).DefaultTimeout();
        Assert.True(probe.Ok, probe.Error);
        var record = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Nonce == probe.Nonce);

        var page = await http.GetFromJsonAsync<LedgerPage>($"/api/ledger?since={record.Seq - 1}").DefaultTimeout();
        Assert.Equal(record.Seq, page!.Records[0].Seq);
        Assert.Equal(probe.Nonce, page.Records[0].Nonce);
        Assert.Empty((await http.GetFromJsonAsync<LedgerPage>($"/api/ledger?since={page.LastSeq}").DefaultTimeout())!.Records);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await http.GetAsync("/api/ledger?since=yesterday-ish").DefaultTimeout()).StatusCode);

        var listeners = await http.GetFromJsonAsync<ListenerView[]>("/api/listeners").DefaultTimeout();
        var sccp = listeners!.Single(l => l.Id == "tcp/2000");
        Assert.Equal(1, sccp.Echoes);
        Assert.Equal(["t6.sccp"], sccp.Flows);

        var metrics = await http.GetStringAsync("/metrics").DefaultTimeout();
        Assert.Contains("cucmsim_echoes_total{listener=\"tcp/2000\",protocol=\"sccp\",transport=\"tcp\"} 1", metrics);
        Assert.Contains("cucmsim_listener_up{listener=\"udp/69\",protocol=\"tftp\",transport=\"udp\"} 1", metrics);
        Assert.Contains("cucmsim_protocol_hits_total{protocol=\"sccp\"} 1", metrics);
    }

    [Fact]
    public async Task The_ledger_streams_as_server_sent_events()
    {
        await using var server = await SimHost.StartAsync(new ServeOptions { Only = ["t2.snmp"], EphemeralPorts = true });
        using var http = server.Control();
        using var response = await http.GetAsync($"/api/ledger/stream?since={server.Ledger.LastSeq}", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync().DefaultTimeout());

        var probe = await EchoClient.UdpAsync(server.EndPoint("udp/161")).DefaultTimeout();
        Assert.True(probe.Ok, probe.Error);
        string? line;
        string? eventName = null;
        while ((line = await reader.ReadLineAsync().DefaultTimeout()) is not null)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventName = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains(probe.Nonce, StringComparison.Ordinal))
            {
                break;
            }
        }

        Assert.Equal("udp-flow", eventName);
    }
}

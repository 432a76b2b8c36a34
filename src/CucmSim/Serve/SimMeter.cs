using System.Diagnostics.Metrics;
using System.Reflection;
using OpenTelemetry.Metrics;

namespace CucmSim.Serve;

/// <summary>
/// The server's counters and gauges as the "CucmSim" <see cref="Meter"/>: observable instruments over the
/// counters the listeners, the RTP pool, the devices and the ledger keep anyway, so nothing is measured twice and
/// nothing runs unless a listener (dotnet-counters, OpenTelemetry, a MeterListener) collects.
/// </summary>
public sealed class SimMeter : IDisposable
{
    public const string Name = "CucmSim";

    private readonly Meter _meter;

    /// <summary>The meter itself (to tell this server's instruments from another's in the same process).</summary>
    public Meter Source => _meter;

    internal SimMeter(SimServer server)
    {
        _meter = new Meter(Name, typeof(SimMeter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
        foreach (var m in Metrics.PerListener)
        {
            IEnumerable<Measurement<long>> Observe() => server.Listeners.Where(m.Applies).Select(l =>
                new Measurement<long>(m.Value(l), new("listener", l.Id), new("protocol", l.Spec.Protocol), new("transport", l.Transport)));
            Create(m.Instrument, m.Kind, m.Unit, m.Help, Observe);
        }

        foreach (var m in Metrics.PerProtocol)
        {
            IEnumerable<Measurement<long>> Observe() => Metrics.SumByProtocol(server.Listeners, m).Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("protocol", p.Protocol)));
            Create(m.Instrument, m.Kind, m.Unit, m.Help, Observe);
        }

        foreach (var m in Metrics.PerServer)
        {
            IEnumerable<Measurement<long>> Observe() => m.Value(server) is { } value ? [new Measurement<long>(value)] : [];
            Create(m.Instrument, m.Kind, m.Unit, m.Help, Observe);
        }
    }

    private void Create(string name, MetricKind kind, string unit, string help, Func<IEnumerable<Measurement<long>>> observe)
    {
        if (kind == MetricKind.Counter)
        {
            _meter.CreateObservableCounter(name, observe, unit, help);
        }
        else
        {
            _meter.CreateObservableGauge(name, observe, unit, help);
        }
    }

    /// <summary>
    /// Exports the CucmSim meter to an OpenTelemetry collector: OTLP over HTTP/protobuf when the URL's path ends in
    /// /v1/metrics, over gRPC otherwise. Dispose to flush and stop.
    /// </summary>
    public static IDisposable ExportOtlp(Uri endpoint, TimeSpan interval) =>
        OpenTelemetry.Sdk.CreateMeterProviderBuilder()
            .AddMeter(Name)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = endpoint.AbsolutePath.EndsWith("/v1/metrics", StringComparison.Ordinal)
                    ? OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf
                    : OpenTelemetry.Exporter.OtlpExportProtocol.Grpc;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)interval.TotalMilliseconds;
            })
            .Build();

    public void Dispose() => _meter.Dispose();
}

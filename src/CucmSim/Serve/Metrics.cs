using System.Globalization;
using System.Text;

namespace CucmSim.Serve;

/// <summary>What an instrument is: a counter only grows, a gauge is a value now.</summary>
internal enum MetricKind
{
    Counter,
    Gauge,
}

/// <summary>One value per listener (labels listener, protocol, transport) for the listeners it applies to.</summary>
internal sealed record ListenerMetric(string Name, string Instrument, MetricKind Kind, string Unit, string Help, Func<ListenerRuntime, bool> Applies, Func<ListenerRuntime, long> Value);

/// <summary>One value for the whole server, or none when the server has no such part (no RTP pool).</summary>
internal sealed record ServerMetric(string Name, string Instrument, MetricKind Kind, string Unit, string Help, Func<SimServer, long?> Value);

/// <summary>
/// The server's counters and gauges, defined once: the Prometheus page (/metrics, with the names it has always
/// had) and the "CucmSim" <see cref="System.Diagnostics.Metrics.Meter"/> (dotnet-counters, OpenTelemetry) both
/// read these definitions, so the two cannot disagree.
/// </summary>
internal static class Metrics
{
    private static bool Tcp(ListenerRuntime l) => l.Transport == "tcp";

    private static bool Udp(ListenerRuntime l) => l.Transport == "udp";

    private static bool Any(ListenerRuntime l) => true;

    public static readonly ListenerMetric[] PerListener =
    [
        new("cucmsim_listener_up", "cucmsim.listener.up", MetricKind.Gauge, "1", "1 when the listener is bound", Any, l => l.Status == ListenerStatus.Bound ? 1 : 0),
        new("cucmsim_connections_total", "cucmsim.connections", MetricKind.Counter, "{connection}", "TCP connections accepted", Tcp, l => l.Connections),
        new("cucmsim_connections_active", "cucmsim.connections.active", MetricKind.Gauge, "{connection}", "TCP connections open now", Tcp, l => l.ActiveConnections),
        new("cucmsim_connections_refused_total", "cucmsim.connections.refused", MetricKind.Counter, "{connection}", "TCP connections reset on accept because descriptors ran short (--fd-headroom)", Tcp, l => l.Refused),
        new("cucmsim_datagrams_total", "cucmsim.datagrams", MetricKind.Counter, "{datagram}", "UDP datagrams received", Udp, l => l.Datagrams),
        new("cucmsim_received_bytes_total", "cucmsim.received", MetricKind.Counter, "By", "Bytes received", Any, l => l.BytesIn),
        new("cucmsim_sent_bytes_total", "cucmsim.sent", MetricKind.Counter, "By", "Bytes sent", Any, l => l.BytesOut),
        new("cucmsim_echoes_total", "cucmsim.echoes", MetricKind.Counter, "{probe}", "Probes answered with the universal echo", Any, l => l.Echoes),
        new("cucmsim_malformed_total", "cucmsim.malformed", MetricKind.Counter, "{message}", "Malformed input seen", Any, l => l.Malformed),
        new("cucmsim_hits_total", "cucmsim.hits", MetricKind.Counter, "{hit}", "Hits (connections and new UDP flows)", Any, l => l.Hits),
    ];

    /// <summary>Sums per protocol (label protocol).</summary>
    public static readonly ListenerMetric[] PerProtocol =
    [
        new("cucmsim_protocol_hits_total", "cucmsim.protocol.hits", MetricKind.Counter, "{hit}", "Hits (connections and new UDP flows) per protocol", Any, l => l.Hits),
        new("cucmsim_protocol_malformed_total", "cucmsim.protocol.malformed", MetricKind.Counter, "{message}", "Malformed input per protocol", Any, l => l.Malformed),
    ];

    public static readonly ServerMetric[] PerServer =
    [
        new("cucmsim_rtp_ports_bound", "cucmsim.rtp.ports.bound", MetricKind.Gauge, "{port}", "RTP pool ports bound", s => s.Rtp?.Stats().Bound),
        new("cucmsim_rtp_ports_failed", "cucmsim.rtp.ports.failed", MetricKind.Gauge, "{port}", "RTP pool ports that failed to bind", s => s.Rtp?.Stats().Failed),
        new("cucmsim_rtp_ports_allocated", "cucmsim.rtp.ports.allocated", MetricKind.Gauge, "{port}", "RTP ports allocated to calls", s => s.Rtp?.Stats().Allocated),
        new("cucmsim_rtp_packets_total", "cucmsim.rtp.packets", MetricKind.Counter, "{packet}", "Datagrams received and echoed by the RTP pool", s => s.Rtp?.Stats().Packets),
        new("cucmsim_rtp_bytes_total", "cucmsim.rtp.received", MetricKind.Counter, "By", "Bytes received by the RTP pool", s => s.Rtp?.Stats().Bytes),
        new("cucmsim_rtp_rtcp_packets_total", "cucmsim.rtp.rtcp_packets", MetricKind.Counter, "{packet}", "RTCP packets received", s => s.Rtp?.Stats().RtcpPackets),
        new("cucmsim_rtp_other_packets_total", "cucmsim.rtp.other_packets", MetricKind.Counter, "{packet}", "Datagrams on RTP ports that were neither RTP, RTCP nor probes", s => s.Rtp?.Stats().OtherPackets),
        new("cucmsim_rtp_streams_active", "cucmsim.rtp.streams.active", MetricKind.Gauge, "{stream}", "RTP streams being measured", s => s.Rtp?.Stats().ActiveStreams),
        new("cucmsim_rtp_streams_lost_packets", "cucmsim.rtp.streams.lost", MetricKind.Gauge, "{packet}", "Packets lost so far by the streams being measured (RFC 3550 A.3)", s => s.Rtp?.Streams().Sum(r => r.Lost)),
        new("cucmsim_rtp_streams_jitter_max_microseconds", "cucmsim.rtp.streams.jitter.max", MetricKind.Gauge, "us", "Largest interarrival jitter of the streams being measured (RFC 3550 A.8)", s => s.Rtp?.Streams() is { Count: > 0 } r ? (long)(r.Max(x => x.JitterMs) * 1000) : s.Rtp is null ? null : 0),
        new("cucmsim_devices_registered", "cucmsim.devices.registered", MetricKind.Gauge, "{device}", "SCCP and SIP devices registered now", s => s.Context.Devices.Count),
        new("cucmsim_device_registrations_total", "cucmsim.devices.registrations", MetricKind.Counter, "{registration}", "Registrations accepted", s => s.Context.Devices.Registrations),
        new("cucmsim_device_rejections_total", "cucmsim.devices.rejections", MetricKind.Counter, "{registration}", "Registrations refused", s => s.Context.Devices.Rejections),
        new("cucmsim_sip_routed_calls_total", "cucmsim.sip.routed.calls", MetricKind.Counter, "{call}", "SIP calls routed to a registered phone", s => s.Context.Routed.Sip.Attempts),
        new("cucmsim_sip_routed_answered_total", "cucmsim.sip.routed.answered", MetricKind.Counter, "{call}", "Routed SIP calls the callee answered", s => s.Context.Routed.Sip.Answered),
        new("cucmsim_sip_routed_failed_total", "cucmsim.sip.routed.failed", MetricKind.Counter, "{call}", "Routed SIP calls that ended without an answer (busy, no answer, unreachable, cancelled)", s => s.Context.Routed.Sip.Failed),
        new("cucmsim_sip_routed_active", "cucmsim.sip.routed.active", MetricKind.Gauge, "{call}", "Routed SIP calls answered and not yet ended", s => s.Context.Routed.Sip.Active),
        new("cucmsim_sccp_routed_calls_total", "cucmsim.sccp.routed.calls", MetricKind.Counter, "{call}", "SCCP calls routed to another registered phone", s => s.Context.Routed.Sccp.Attempts),
        new("cucmsim_sccp_routed_answered_total", "cucmsim.sccp.routed.answered", MetricKind.Counter, "{call}", "Routed SCCP calls the callee answered", s => s.Context.Routed.Sccp.Answered),
        new("cucmsim_sccp_routed_failed_total", "cucmsim.sccp.routed.failed", MetricKind.Counter, "{call}", "Routed SCCP calls that ended without an answer (busy, no answer, caller hung up)", s => s.Context.Routed.Sccp.Failed),
        new("cucmsim_sccp_routed_active", "cucmsim.sccp.routed.active", MetricKind.Gauge, "{call}", "Routed SCCP calls answered and not yet ended", s => s.Context.Routed.Sccp.Active),
        new("cucmsim_probe_runs", "cucmsim.probe_runs", MetricKind.Gauge, "{run}", "Probe reports kept for the dashboard", s => s.ProbeRuns.Count),
        new("cucmsim_echo_idle_scheduled_total", "cucmsim.echo.idle.scheduled", MetricKind.Counter, "{answer}", "Delayed echo answers (idle=S) scheduled", s => s.Context.EchoCallbacks.Scheduled),
        new("cucmsim_echo_idle_sent_total", "cucmsim.echo.idle.sent", MetricKind.Counter, "{answer}", "Delayed echo answers sent", s => s.Context.EchoCallbacks.Sent),
        new("cucmsim_echo_idle_failed_total", "cucmsim.echo.idle.failed", MetricKind.Counter, "{answer}", "Delayed echo answers whose send failed", s => s.Context.EchoCallbacks.Failed),
        new("cucmsim_echo_idle_refused_total", "cucmsim.echo.idle.refused", MetricKind.Counter, "{request}", "Idle requests answered without a callback (too long, or too many pending)", s => s.Context.EchoCallbacks.Refused),
        new("cucmsim_echo_idle_pending", "cucmsim.echo.idle.pending", MetricKind.Gauge, "{answer}", "Delayed echo answers waiting", s => s.Context.EchoCallbacks.Pending),
        new("cucmsim_sip_answers_trimmed_total", "cucmsim.sip.answers.trimmed", MetricKind.Counter, "{response}", "SIP answers sent without the mirror to stay within an unknown UDP peer's amplification budget", s => Sip.SipService.Running(s.Context)?.Trimmed ?? 0),
        new("cucmsim_sip_answers_withheld_total", "cucmsim.sip.answers.withheld", MetricKind.Counter, "{response}", "SIP provisional responses and retransmissions not sent: past an unknown UDP peer's amplification budget", s => Sip.SipService.Running(s.Context)?.Withheld ?? 0),
        new("cucmsim_ledger_records_total", "cucmsim.ledger.records", MetricKind.Counter, "{record}", "Ledger records appended", s => s.Ledger.LastSeq),
        new("cucmsim_ledger_written_total", "cucmsim.ledger.written", MetricKind.Counter, "{record}", "Ledger records written to the file", s => s.Ledger.Written),
        new("cucmsim_ledger_write_failures_total", "cucmsim.ledger.write_failures", MetricKind.Counter, "{record}", "Ledger records the file could not take (a full disk, an I/O error); included in dropped", s => s.Ledger.WriteFailures),
        new("cucmsim_ledger_dropped_total", "cucmsim.ledger.dropped", MetricKind.Counter, "{record}", "Ledger records dropped (queue full or write error)", s => s.Ledger.Dropped),
    ];

    public static string Render(SimServer server)
    {
        var sb = new StringBuilder(64 * 1024);
        var listeners = server.Listeners;
        foreach (var m in PerListener)
        {
            Header(sb, m.Name, m.Kind, m.Help);
            foreach (var l in listeners.Where(m.Applies))
            {
                sb.Append(m.Name).Append("{listener=\"").Append(l.Id).Append("\",protocol=\"").Append(l.Spec.Protocol)
                  .Append("\",transport=\"").Append(l.Transport).Append("\"} ").Append(m.Value(l).ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        foreach (var m in PerProtocol)
        {
            Header(sb, m.Name, m.Kind, m.Help);
            foreach (var (protocol, value) in SumByProtocol(listeners, m))
            {
                sb.Append(m.Name).Append("{protocol=\"").Append(protocol).Append("\"} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        foreach (var m in PerServer)
        {
            if (m.Value(server) is { } value)
            {
                Single(sb, m.Name, m.Kind == MetricKind.Counter ? "counter" : "gauge", m.Help, value);
            }
        }

        Process(sb);
        return sb.ToString();
    }

    public static IEnumerable<(string Protocol, long Value)> SumByProtocol(IEnumerable<ListenerRuntime> listeners, ListenerMetric metric) =>
        listeners.Where(metric.Applies).GroupBy(l => l.Spec.Protocol).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, g.Sum(metric.Value)));

    private static void Header(StringBuilder sb, string name, MetricKind kind, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(kind == MetricKind.Counter ? "counter" : "gauge").Append('\n');

    /// <summary>
    /// Process memory split into managed and the rest: resident set, the GC heap as of the last collection
    /// (live objects plus fragmentation), what the GC has committed, and the largest gen0 budget, so a cost per
    /// connection can be told apart into objects, GC headroom and native memory.
    /// </summary>
    private static void Process(StringBuilder sb)
    {
        var gc = GC.GetGCMemoryInfo();
        Single(sb, "cucmsim_process_resident_bytes", "gauge", "Resident set size of the process", Environment.WorkingSet);
        Single(sb, "cucmsim_gc_heap_bytes", "gauge", "Managed heap size at the end of the last collection (live objects and fragmentation)", gc.HeapSizeBytes);
        Single(sb, "cucmsim_gc_fragmented_bytes", "gauge", "Free space inside the managed heap at the end of the last collection", gc.FragmentedBytes);
        Single(sb, "cucmsim_gc_committed_bytes", "gauge", "Memory the GC has committed", gc.TotalCommittedBytes);
        Single(sb, "cucmsim_gc_promoted_bytes", "gauge", "Bytes that survived the last collection", gc.PromotedBytes);
        Single(sb, "cucmsim_gc_pinned_objects", "gauge", "Pinned objects seen by the last collection", gc.PinnedObjectsCount);
        Single(sb, "cucmsim_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap", GC.GetTotalAllocatedBytes());
        sb.Append("# HELP cucmsim_gc_collections_total Garbage collections per generation\n# TYPE cucmsim_gc_collections_total counter\n");
        for (var g = 0; g <= GC.MaxGeneration; g++)
        {
            sb.Append("cucmsim_gc_collections_total{generation=\"").Append(g).Append("\"} ").Append(GC.CollectionCount(g)).Append('\n');
        }

        sb.Append("# HELP cucmsim_gc_generation_bytes Size of each generation at the end of the last collection\n# TYPE cucmsim_gc_generation_bytes gauge\n");
        var generations = gc.GenerationInfo;
        string[] names = ["0", "1", "2", "loh", "poh"];
        for (var g = 0; g < generations.Length && g < names.Length; g++)
        {
            sb.Append("cucmsim_gc_generation_bytes{generation=\"").Append(names[g]).Append("\"} ").Append(generations[g].SizeAfterBytes).Append('\n');
        }

        if (GC.GetConfigurationVariables().TryGetValue("GCGen0MaxBudget", out var gen0) && gen0 is IConvertible c)
        {
            Single(sb, "cucmsim_gc_gen0_max_budget_bytes", "gauge", "Largest gen0 allocation budget (System.GC.Gen0MaxBudget)", c.ToInt64(CultureInfo.InvariantCulture));
        }
    }

    private static void Single(StringBuilder sb, string name, string type, string help, long value) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
          .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}

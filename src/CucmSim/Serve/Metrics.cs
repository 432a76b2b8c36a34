using System.Globalization;
using System.Text;

namespace CucmSim.Serve;

/// <summary>Prometheus text exposition of the listeners, the RTP pool and the ledger.</summary>
internal static class Metrics
{
    public static string Render(SimServer server)
    {
        var sb = new StringBuilder(64 * 1024);
        var listeners = server.Listeners;

        Counter(sb, "cucmsim_listener_up", "gauge", "1 when the listener is bound", listeners, l => l.Status == ListenerStatus.Bound ? 1 : 0);
        Counter(sb, "cucmsim_connections_total", "counter", "TCP connections accepted", listeners.Where(l => l.Transport == "tcp"), l => l.Connections);
        Counter(sb, "cucmsim_connections_active", "gauge", "TCP connections open now", listeners.Where(l => l.Transport == "tcp"), l => l.ActiveConnections);
        Counter(sb, "cucmsim_datagrams_total", "counter", "UDP datagrams received", listeners.Where(l => l.Transport == "udp"), l => l.Datagrams);
        Counter(sb, "cucmsim_received_bytes_total", "counter", "Bytes received", listeners, l => l.BytesIn);
        Counter(sb, "cucmsim_sent_bytes_total", "counter", "Bytes sent", listeners, l => l.BytesOut);
        Counter(sb, "cucmsim_echoes_total", "counter", "Probes answered with the universal echo", listeners, l => l.Echoes);
        Counter(sb, "cucmsim_malformed_total", "counter", "Malformed input seen", listeners, l => l.Malformed);

        sb.Append("# HELP cucmsim_protocol_hits_total Hits (connections and new UDP flows) per protocol\n# TYPE cucmsim_protocol_hits_total counter\n");
        foreach (var group in listeners.GroupBy(l => l.Spec.Protocol).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append("cucmsim_protocol_hits_total{protocol=\"").Append(group.Key).Append("\"} ").Append(group.Sum(l => l.Hits)).Append('\n');
        }

        sb.Append("# HELP cucmsim_protocol_malformed_total Malformed input per protocol\n# TYPE cucmsim_protocol_malformed_total counter\n");
        foreach (var group in listeners.GroupBy(l => l.Spec.Protocol).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append("cucmsim_protocol_malformed_total{protocol=\"").Append(group.Key).Append("\"} ").Append(group.Sum(l => l.Malformed)).Append('\n');
        }

        if (server.Rtp?.Stats() is { } rtp)
        {
            Single(sb, "cucmsim_rtp_ports_bound", "gauge", "RTP pool ports bound", rtp.Bound);
            Single(sb, "cucmsim_rtp_ports_failed", "gauge", "RTP pool ports that failed to bind", rtp.Failed);
            Single(sb, "cucmsim_rtp_ports_allocated", "gauge", "RTP ports allocated to calls", rtp.Allocated);
            Single(sb, "cucmsim_rtp_packets_total", "counter", "Datagrams received and echoed by the RTP pool", rtp.Packets);
            Single(sb, "cucmsim_rtp_bytes_total", "counter", "Bytes received by the RTP pool", rtp.Bytes);
            Single(sb, "cucmsim_rtp_rtcp_packets_total", "counter", "RTCP packets received", rtp.RtcpPackets);
            Single(sb, "cucmsim_rtp_other_packets_total", "counter", "Datagrams on RTP ports that were neither RTP, RTCP nor probes", rtp.OtherPackets);
            Single(sb, "cucmsim_rtp_streams_active", "gauge", "RTP streams being measured", rtp.ActiveStreams);
        }

        var callbacks = server.Context.EchoCallbacks;
        Single(sb, "cucmsim_echo_idle_scheduled_total", "counter", "Delayed echo answers (idle=S) scheduled", callbacks.Scheduled);
        Single(sb, "cucmsim_echo_idle_sent_total", "counter", "Delayed echo answers sent", callbacks.Sent);
        Single(sb, "cucmsim_echo_idle_failed_total", "counter", "Delayed echo answers whose send failed", callbacks.Failed);
        Single(sb, "cucmsim_echo_idle_refused_total", "counter", "Idle requests answered without a callback (too long, or too many pending)", callbacks.Refused);
        Single(sb, "cucmsim_echo_idle_pending", "gauge", "Delayed echo answers waiting", callbacks.Pending);
        Single(sb, "cucmsim_ledger_records_total", "counter", "Ledger records appended", server.Ledger.LastSeq);
        Single(sb, "cucmsim_ledger_written_total", "counter", "Ledger records written to the file", server.Ledger.Written);
        Single(sb, "cucmsim_ledger_dropped_total", "counter", "Ledger records dropped (queue full or write error)", server.Ledger.Dropped);
        Process(sb);
        return sb.ToString();
    }

    private static void Counter(StringBuilder sb, string name, string type, string help, IEnumerable<ListenerRuntime> listeners, Func<ListenerRuntime, long> value)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (var l in listeners)
        {
            sb.Append(name).Append("{listener=\"").Append(l.Id).Append("\",protocol=\"").Append(l.Spec.Protocol)
              .Append("\",transport=\"").Append(l.Transport).Append("\"} ").Append(value(l).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

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

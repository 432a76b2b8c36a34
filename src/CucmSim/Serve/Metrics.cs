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

        Single(sb, "cucmsim_ledger_records_total", "counter", "Ledger records appended", server.Ledger.LastSeq);
        Single(sb, "cucmsim_ledger_written_total", "counter", "Ledger records written to the file", server.Ledger.Written);
        Single(sb, "cucmsim_ledger_dropped_total", "counter", "Ledger records dropped (queue full or write error)", server.Ledger.Dropped);
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

    private static void Single(StringBuilder sb, string name, string type, string help, long value) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
          .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}

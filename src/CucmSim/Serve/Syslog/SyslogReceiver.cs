using System.Buffers;
using System.Globalization;
using System.Text;
using CucmSim.Protocols.Syslog;

namespace CucmSim.Serve.Syslog;

/// <summary>
/// The syslog collector on 514/udp (RFC 5426): every datagram becomes one "syslog" ledger record with its
/// facility, severity, host, app and text; one that does not parse is recorded as raw text. Syslog has no
/// answer, so none is sent. A flood is recorded up to <see cref="MaxRecordsPerSecond"/> per listener and counted beyond.
/// </summary>
internal sealed class SyslogReceiver(ListenerRuntime listener, ServeContext context) : IUdpProtocol
{
    public const int MaxRecordsPerSecond = 200;

    /// <summary>Text kept in a record (messages are parsed up to <see cref="SyslogCodec.MaxMessageSize"/>).</summary>
    public const int MaxRecordedText = 2048;

    private long _window;
    private int _recorded;
    private long _suppressed;

    /// <summary>Messages not recorded because of the rate cap.</summary>
    public long Suppressed => Interlocked.Read(ref _suppressed);

    public void OnDatagram(ref UdpRequest request)
    {
        Dictionary<string, string> detail;
        if (SyslogCodec.TryParse(request.Data, out var message, out var error) == OperationStatus.Done)
        {
            request.Verdict = "syslog";
            detail = new()
            {
                ["format"] = message!.Format == SyslogFormat.Rfc5424 ? "rfc5424" : "rfc3164",
                ["facility"] = message.FacilityName,
                ["severity"] = message.SeverityName,
                ["message"] = Cap(message.Message),
            };
            Add(detail, "timestamp", message.Timestamp);
            Add(detail, "host", message.Host);
            Add(detail, "app", message.App);
            Add(detail, "procId", message.ProcId);
            Add(detail, "msgId", message.MsgId);
            Add(detail, "structuredData", message.StructuredData is { } sd ? Cap(sd) : null);
        }
        else
        {
            listener.MalformedInput();
            request.Verdict = "syslog-malformed";
            detail = new() { ["error"] = error!, ["raw"] = Raw(request.Data) };
        }

        request.Detail = detail;
        if (Admit())
        {
            context.Ledger.Append(listener.Record("syslog", Text.EndPoint(request.Peer)) with
            {
                Verdict = request.Verdict,
                BytesIn = request.Data.Length,
                Detail = detail,
            });
        }
    }

    private bool Admit()
    {
        var second = context.Time.GetTimestamp() / context.Time.TimestampFrequency;
        if (Interlocked.Exchange(ref _window, second) != second)
        {
            Interlocked.Exchange(ref _recorded, 0);
        }

        if (Interlocked.Increment(ref _recorded) <= MaxRecordsPerSecond)
        {
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        return false;
    }

    private static void Add(Dictionary<string, string> detail, string key, string? value)
    {
        if (value is not null)
        {
            detail[key] = value;
        }
    }

    private static string Cap(string text) => text.Length <= MaxRecordedText ? text : text[..MaxRecordedText] + "…";

    /// <summary>The datagram as text: printable ASCII kept, everything else as \xNN, capped.</summary>
    private static string Raw(ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder(Math.Min(data.Length, MaxRecordedText));
        foreach (var b in data)
        {
            if (sb.Length >= MaxRecordedText)
            {
                sb.Append('…');
                break;
            }

            if (b is >= 0x20 and < 0x7F && b != (byte)'\\')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
            }
        }

        return sb.ToString();
    }
}

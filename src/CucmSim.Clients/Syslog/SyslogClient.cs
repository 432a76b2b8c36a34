using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Syslog;

namespace CucmSim.Clients.Syslog;

/// <summary>
/// Sends syslog messages over UDP (RFC 5426), as a phone, gateway or CUCM node does. Syslog has no answer:
/// the path is proven by what the collector recorded.
/// </summary>
public static class SyslogClient
{
    /// <summary>Sends one RFC 5424 (default) or RFC 3164 message and returns what was sent.</summary>
    public static async Task<string> SendAsync(IPEndPoint target, string text, SyslogFormat format = SyslogFormat.Rfc5424, int facility = 16, int severity = 6,
        string host = "cucmsim-probe", string app = "cucmsim", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var now = TimeProvider.System.GetUtcNow();
        var message = format == SyslogFormat.Rfc5424
            ? SyslogCodec.Format5424(facility, severity, now, host, app, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), null, text)
            : SyslogCodec.Format3164(facility, severity, now, host, app, text);
        var bytes = Encoding.UTF8.GetBytes(message);
        if (bytes.Length > SyslogCodec.MaxMessageSize)
        {
            throw new ArgumentException($"message longer than {SyslogCodec.MaxMessageSize} octets", nameof(text));
        }

        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.SendToAsync(bytes, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
        return message;
    }
}

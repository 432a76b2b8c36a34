using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Serve;
using CucmSim.Serve.Sip;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sip;

/// <summary>Servers, scenarios and raw sockets shared by the SIP tests.</summary>
internal static class SipTestSupport
{
    private static int _rtpBlock;

    /// <summary>A server with SIP on udp/tcp 5060 and tls 5061 (ephemeral ports) and a small media pool of its own.</summary>
    public static Task<SimServer> StartAsync(SipOptions? sip = null, TimeProvider? time = null)
    {
        // Media pools of concurrent test servers must not overlap; below the ephemeral port range.
        var low = 12000 + (Interlocked.Increment(ref _rtpBlock) % 100 * 20);
        var range = $"{low}-{low + 19}";
        var profile = SimHost.WriteProfile("{\"name\":\"sip-test\",\"extends\":\"cucm\",\"rtp\":{\"cucm\":\"" + range + "\"}}");
        return SimHost.StartAsync(new ServeOptions
        {
            Profile = profile,
            Only = ["t6.sip", "t6.sips", "t6.rtp-to-cucm"],
            EphemeralPorts = true,
            Sip = sip ?? new SipOptions(),
            Time = time,
            Identity = new ServerIdentity { HostName = "cucm-test", ExternalAddress = IPAddress.Loopback },
        });
    }

    public static string Scenario(string xml)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cucmsim-sipp-{Guid.NewGuid():N}.xml");
        File.WriteAllText(path, xml);
        return path;
    }

    public const string OptionsScenario = """
        <?xml version="1.0" encoding="ISO-8859-1" ?>
        <scenario name="options">
          <send retrans="500"><![CDATA[

              OPTIONS sip:ping@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              To: <sip:ping@[remote_ip]:[remote_port]>
              Call-ID: [call_id]
              CSeq: 1 OPTIONS
              Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
              Accept: application/sdp
              Content-Length: 0

            ]]></send>
          <recv response="200" timeout="5000" ontimeout="fail"/>
          <label id="fail"/>
        </scenario>
        """;

    public const string RegisterScenario = """
        <?xml version="1.0" encoding="ISO-8859-1" ?>
        <scenario name="register">
          <send retrans="500"><![CDATA[

              REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[remote_ip]>;tag=[pid]SIPpTag[call_number]
              To: <sip:2001@[remote_ip]>
              Call-ID: [call_id]
              CSeq: 1 REGISTER
              Contact: <sip:2001@[local_ip]:[local_port];transport=[transport]>
              Expires: 300
              Content-Length: 0

            ]]></send>
          <recv response="401" auth="true" timeout="5000" ontimeout="fail"/>
          <send retrans="500"><![CDATA[

              REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[remote_ip]>;tag=[pid]SIPpTag[call_number]
              To: <sip:2001@[remote_ip]>
              Call-ID: [call_id]
              CSeq: 2 REGISTER
              Contact: <sip:2001@[local_ip]:[local_port];transport=[transport]>
              [authentication username=2001 password=secret]
              Expires: 300
              Content-Length: 0

            ]]></send>
          <recv response="200" timeout="5000" ontimeout="fail"/>
          <label id="fail"/>
        </scenario>
        """;

    /// <summary>
    /// A call as a digest phone makes it to CUCM: the INVITE is challenged (a 401 is required: any other answer fails
    /// the call), the 401 ACKed on the INVITE's branch, the INVITE sent again with SIPp's own digest credentials for
    /// user 2001 and password "secret", then 200, ACK, and a BYE that is challenged too and sent again with credentials
    /// and the next CSeq. The number dialled is SIPp's -s.
    /// </summary>
    public const string InviteAuthScenario = """
        <?xml version="1.0" encoding="ISO-8859-1" ?>
        <scenario name="uac with digest">
          <send retrans="500"><![CDATA[

              INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              To: <sip:[service]@[remote_ip]:[remote_port]>
              Call-ID: [call_id]
              CSeq: 1 INVITE
              Contact: <sip:2001@[local_ip]:[local_port];transport=[transport]>
              Content-Type: application/sdp
              Content-Length: [len]

              v=0
              o=2001 1 1 IN IP[local_ip_type] [local_ip]
              s=-
              c=IN IP[media_ip_type] [media_ip]
              t=0 0
              m=audio [media_port] RTP/AVP 0
              a=rtpmap:0 PCMU/8000

            ]]></send>
          <recv response="100" optional="true"/>
          <recv response="401" auth="true"/>
          <send><![CDATA[

              ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              [last_Via:]
              Max-Forwards: 70
              [last_From:]
              [last_To:]
              Call-ID: [call_id]
              CSeq: 1 ACK
              Content-Length: 0

            ]]></send>
          <send retrans="500"><![CDATA[

              INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              To: <sip:[service]@[remote_ip]:[remote_port]>
              Call-ID: [call_id]
              CSeq: 2 INVITE
              Contact: <sip:2001@[local_ip]:[local_port];transport=[transport]>
              [authentication username=2001 password=secret]
              Content-Type: application/sdp
              Content-Length: [len]

              v=0
              o=2001 1 2 IN IP[local_ip_type] [local_ip]
              s=-
              c=IN IP[media_ip_type] [media_ip]
              t=0 0
              m=audio [media_port] RTP/AVP 0
              a=rtpmap:0 PCMU/8000

            ]]></send>
          <recv response="100" optional="true"/>
          <recv response="180" optional="true"/>
          <recv response="200"/>
          <send><![CDATA[

              ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              [last_To:]
              Call-ID: [call_id]
              CSeq: 2 ACK
              Content-Length: 0

            ]]></send>
          <pause milliseconds="100"/>
          <send retrans="500"><![CDATA[

              BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
              Call-ID: [call_id]
              CSeq: 3 BYE
              Content-Length: 0

            ]]></send>
          <recv response="401" auth="true"/>
          <send retrans="500"><![CDATA[

              BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
              Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
              Max-Forwards: 70
              From: <sip:2001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
              To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
              Call-ID: [call_id]
              CSeq: 4 BYE
              [authentication username=2001 password=secret]
              Content-Length: 0

            ]]></send>
          <recv response="200"/>
        </scenario>
        """;

    /// <summary>Runs SIPp as UAC; returns its output (fails the test on a non-zero exit).</summary>
    public static async Task<ToolResult> SippAsync(IPEndPoint target, string transport, IEnumerable<string> scenario, int calls, IEnumerable<string>? extra = null)
    {
        var args = new List<string> { $"{target.Address}:{target.Port}", "-i", "127.0.0.1", "-t", transport, "-m", calls.ToString(System.Globalization.CultureInfo.InvariantCulture), "-r", "50", "-nostdin", "-timeout", "20s", "-timeout_error", "-max_socket", "100" };
        args.AddRange(scenario);
        args.AddRange(extra ?? []);
        var dir = Directory.CreateTempSubdirectory("cucmsim-sipp").FullName;
        var result = await ExternalTool.RunAsync("sh", ["-c", "cd \"$0\" && exec sipp \"$@\"", dir, .. args], TimeSpan.FromSeconds(60)).DefaultTimeout(TimeSpan.FromSeconds(70));
        Assert.True(result.ExitCode == 0, $"sipp {string.Join(' ', args)} exited {result.ExitCode}:\n{result.All[^Math.Min(3000, result.All.Length)..]}");
        return result;
    }

    public static string Request(string method, IPEndPoint target, IPEndPoint local, string branch, string callId, int cseq, string? toTag = null, string? body = null, string? extra = null, string cseqMethod = "")
    {
        var sb = new StringBuilder();
        sb.Append(method).Append(" sip:1001@").Append(target).Append(" SIP/2.0\r\n");
        sb.Append("Via: SIP/2.0/UDP ").Append(local).Append(";branch=").Append(branch).Append(";rport\r\n");
        sb.Append("Max-Forwards: 70\r\n");
        sb.Append("From: <sip:test@").Append(local.Address).Append(">;tag=fromtag1\r\n");
        sb.Append("To: <sip:1001@").Append(target.Address).Append('>').Append(toTag is null ? string.Empty : ";tag=" + toTag).Append("\r\n");
        sb.Append("Call-ID: ").Append(callId).Append("\r\n");
        sb.Append("CSeq: ").Append(cseq).Append(' ').Append(cseqMethod.Length > 0 ? cseqMethod : method).Append("\r\n");
        sb.Append("Contact: <sip:test@").Append(local).Append(">\r\n");
        sb.Append(extra);
        if (body is not null)
        {
            sb.Append("Content-Type: application/sdp\r\n");
        }

        sb.Append("Content-Length: ").Append(body is null ? 0 : Encoding.UTF8.GetByteCount(body)).Append("\r\n\r\n").Append(body);
        return sb.ToString();
    }

    public const string Offer = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// <summary>A UDP socket for raw exchanges.</summary>
    public sealed class RawUdp : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly IPEndPoint _target;

        public RawUdp(IPEndPoint target)
        {
            _target = target;
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        public IPEndPoint Local => (IPEndPoint)_socket.LocalEndPoint!;

        public void Send(string text) => _socket.SendTo(Encoding.UTF8.GetBytes(text), _target);

        public void Send(byte[] data) => _socket.SendTo(data, _target);

        public async Task<string> ReceiveAsync()
        {
            var buffer = new byte[65536];
            var n = await _socket.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout(TimeSpan.FromSeconds(10));
            return Encoding.UTF8.GetString(buffer, 0, n);
        }

        public void Dispose() => _socket.Dispose();
    }

    public static string StatusLine(string response) => response[..response.IndexOf("\r\n", StringComparison.Ordinal)];

    public static string? Header(string response, string name) =>
        response.Split("\r\n").FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)) is { } line ? line[(name.Length + 1)..].Trim() : null;

    public static Process StartProcess(string name, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(ExternalTool.Require(name)) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi)!;
    }
}

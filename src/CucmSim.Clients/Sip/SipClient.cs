using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Rtp;
using CucmSim.Protocols.Sip;

namespace CucmSim.Clients.Sip;

/// <summary>A difference between what the client sent and what the server says it received: a middlebox rewrote it.</summary>
public sealed record SipRewrite(string Field, string Sent, string Received);

/// <summary>The text of the server's base64 headers (X-CucmSim-Mirror, X-CucmSim-Sent); null when absent or not base64.</summary>
internal static class MirrorText
{
    public static string? Decode(string? base64)
    {
        if (string.IsNullOrEmpty(base64))
        {
            return null;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>What the server reported receiving (the X-CucmSim-Mirror header, decoded).</summary>
public sealed record SipMirror(string Source, string Transport, string RequestLine, string Via, string Contact, int ContentLength, string Sdp)
{
    public static SipMirror? Parse(string? base64)
    {
        if (MirrorText.Decode(base64) is not { } text)
        {
            return null;
        }

        var sdpAt = text.IndexOf("\nsdp=", StringComparison.Ordinal);
        var head = sdpAt < 0 ? text : text[..sdpAt];
        var fields = head.Split('\n').Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        return new SipMirror(
            fields.GetValueOrDefault("src", string.Empty),
            fields.GetValueOrDefault("transport", string.Empty),
            fields.GetValueOrDefault("rl", string.Empty),
            fields.GetValueOrDefault("via", string.Empty),
            fields.GetValueOrDefault("contact", string.Empty),
            int.TryParse(fields.GetValueOrDefault("cl"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var cl) ? cl : -1,
            sdpAt < 0 ? string.Empty : text[(sdpAt + 5)..]);
    }
}

/// <summary>
/// What the server says its response embeds (the X-CucmSim-Sent header, decoded): the Contact and the body as they
/// left it, untouched by an ALG that rewrites the real ones on the way back.
/// </summary>
public sealed record SipSent(string Contact, string Sdp)
{
    public static SipSent? Parse(string? base64)
    {
        if (MirrorText.Decode(base64) is not { } text)
        {
            return null;
        }

        var sdpAt = text.IndexOf("\nsdp=", StringComparison.Ordinal);
        var head = sdpAt < 0 ? text : text[..sdpAt];
        return new SipSent(head.StartsWith("contact=", StringComparison.Ordinal) ? head[8..] : string.Empty, sdpAt < 0 ? string.Empty : text[(sdpAt + 5)..]);
    }
}

/// <summary>One transaction's outcome: the final response, what the server saw, and what differs from what was sent.</summary>
public sealed record SipExchange(
    int Status,
    string Reason,
    string? Response,
    SipMirror? Mirror,
    IReadOnlyList<SipRewrite> Rewrites,
    IReadOnlyList<int> Provisional,
    string? Error,
    TimeSpan Elapsed)
{
    public bool Ok => Error is null && Status is >= 200 and < 300;

    /// <summary>What the server says the final response carried when it left (null from a server that does not say).</summary>
    public SipSent? Sent { get; init; }

    /// <summary>Differences between what the server sent in the final response and what arrived here: a middlebox on the way back rewrote it.</summary>
    public IReadOnlyList<SipRewrite> ResponseRewrites { get; init; } = [];

    /// <summary>A header of the final response (first one, any case, long form only).</summary>
    public string? Header(string name)
    {
        if (Response is null)
        {
            return null;
        }

        foreach (var line in Response.Split("\r\n"))
        {
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }

    public string Body => Response is null ? string.Empty : Response[(Response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
}

/// <summary>
/// A call <see cref="SipClient.PlaceAsync"/> set up and not yet ended: the INVITE exchange, the media socket (open
/// until disposed: more can go through the call's pinholes, e.g. after a silence) and what its first packets did.
/// </summary>
public sealed class SipOpenCall : IDisposable
{
    internal SipOpenCall(Socket media, string uri, string to, SipExchange invite, IPEndPoint? mediaTarget, int sent, int received)
    {
        Media = media;
        Uri = uri;
        To = to;
        Invite = invite;
        MediaTarget = mediaTarget;
        PacketsSent = sent;
        PacketsReceived = received;
    }

    /// <summary>The call's RTP socket, bound to the port the offer gave.</summary>
    public Socket Media { get; }

    public SipExchange Invite { get; }

    /// <summary>Where the answer said to send the media; null without an answer or one that names no address.</summary>
    public IPEndPoint? MediaTarget { get; }

    public int PacketsSent { get; }

    public int PacketsReceived { get; }

    internal string Uri { get; }

    /// <summary>The To header with the answer's tag, for the requests inside the dialog.</summary>
    internal string To { get; }

    public void Dispose() => Media.Dispose();
}

/// <summary>A call: the INVITE exchange, the media that flowed through the answered port, and the BYE.</summary>
public sealed record SipCallResult(SipExchange Invite, string? MediaTarget, int PacketsSent, int PacketsReceived, SipExchange? Bye)
{
    public bool Ok => Invite.Ok && (Bye?.Ok ?? false) && PacketsReceived > 0;

    /// <summary>The status (401 or 407) of the challenge the BYE met and answered with credentials; null when it met none.</summary>
    public int? ByeChallenge { get; init; }
}

public sealed record SipClientOptions
{
    public required IPEndPoint Target { get; init; }

    /// <summary>udp, tcp or tls.</summary>
    public string Transport { get; init; } = "udp";
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);
    public IPEndPoint? Source { get; init; }

    /// <summary>Host put in Via, Contact, SDP o= and c= (default: the local address); a test sets another to play an ALG.</summary>
    public string? AdvertisedHost { get; init; }
    public string Domain { get; init; } = "cucmsim";
}

/// <summary>
/// A SIP user agent client for probes, load and tests: OPTIONS, REGISTER (with digest), INVITE with SDP and RTP
/// both ways, BYE. Every result carries the rewrite diff from the server's mirror. One request at a time.
/// </summary>
public sealed class SipClient : IAsyncDisposable
{
    private readonly SipClientOptions _options;
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[SipMessage.DefaultMaxSize];
    private Stream? _stream;
    private int _buffered;
    private int _cseq;
    private (string User, string Password)? _credentials;

    /// <summary>The user of the last REGISTER: the line that then calls (From and Contact of INVITE, ACK and BYE, as
    /// a phone's; CUCM matches a digest user's requests by it).</summary>
    private string? _line;
    private readonly string _callId = Guid.NewGuid().ToString("N");
    private readonly string _fromTag = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    private SipClient(SipClientOptions options, Socket socket)
    {
        _options = options;
        _socket = socket;
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    private string Host => _options.AdvertisedHost ?? LocalEndPoint.Address.ToString();
    private string ViaTransport => _options.Transport.ToUpperInvariant();
    private string Target => $"{(_options.Target.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{_options.Target.Address}]" : _options.Target.Address.ToString())}:{_options.Target.Port}";

    public static async Task<SipClient> ConnectAsync(SipClientOptions options, CancellationToken cancellationToken = default)
    {
        var udp = options.Transport == "udp";
        var socket = udp
            ? new Socket(options.Target.AddressFamily, SocketType.Dgram, ProtocolType.Udp)
            : new Socket(options.Target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var client = new SipClient(options, socket);
        try
        {
            socket.Bind(options.Source ?? new IPEndPoint(options.Target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0));
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(options.Timeout);
            await socket.ConnectAsync(options.Target, cts.Token).ConfigureAwait(false);
            if (!udp)
            {
                Stream stream = new NetworkStream(socket, ownsSocket: false);
                if (options.Transport == "tls")
                {
                    var ssl = new SslStream(stream, false, (_, _, _, _) => true);
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "cucmsim" }, cts.Token).ConfigureAwait(false);
                    stream = ssl;
                }

                client._stream = stream;
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _socket.Dispose();
    }

    public Task<SipExchange> OptionsAsync(string user = "ping", CancellationToken cancellationToken = default) =>
        TransactionAsync("OPTIONS", $"sip:{user}@{Target}", $"<sip:{user}@{Target}>", null, null, null, cancellationToken);

    /// <summary>REGISTER; answers a 401 challenge with digest credentials (RFC 3261 §22.2, RFC 2617 qop=auth).</summary>
    public async Task<SipExchange> RegisterAsync(string user, string? password, int expires = 3600, CancellationToken cancellationToken = default)
    {
        var uri = $"sip:{Target}";
        var to = $"<sip:{user}@{Target}>";
        var extra = $"Expires: {expires}\r\n";
        _line = user;
        if (password is not null)
        {
            _credentials = (user, password);
        }

        var first = await TransactionAsync("REGISTER", uri, to, extra, null, null, cancellationToken, contactUser: user, fromUser: user).ConfigureAwait(false);
        if (first.Status != 401 || password is null || Credentials(first, "REGISTER", uri) is not { } auth)
        {
            return first;
        }

        return await TransactionAsync("REGISTER", uri, to, extra + auth, null, null, cancellationToken, contactUser: user, fromUser: user).ConfigureAwait(false);
    }

    /// <summary>
    /// Credentials for a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) to <paramref name="method"/>, from the
    /// user and password of the last REGISTER given one; null when there are none or the challenge is unreadable.
    /// </summary>
    private string? Credentials(SipExchange challenged, string method, string uri) =>
        _credentials is { } credentials && SipDigest.ChallengeHeader(challenged.Status) is { } name && challenged.Header(name) is { } header
            ? SipDigest.AnswerLine(challenged.Status, Encoding.UTF8.GetBytes(header), credentials.User, credentials.Password, method, uri, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)))
            : null;

    /// <summary>
    /// INVITE with an SDP offer for a local RTP socket, ACK, then <paramref name="packets"/> RTP packets to the
    /// answered address and port (the server's pool echoes them back), then BYE.
    /// </summary>
    public async Task<SipCallResult> CallAsync(string number, int packets = 10, TimeSpan? hold = null, string? sdpAddress = null, CancellationToken cancellationToken = default)
    {
        using var call = await PlaceAsync(number, packets, sdpAddress, cancellationToken).ConfigureAwait(false);
        if (hold is { } h && call.Invite.Ok)
        {
            await Task.Delay(h, cancellationToken).ConfigureAwait(false);
        }

        return await HangUpAsync(call, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// INVITE with an SDP offer for a local RTP socket, ACK, then <paramref name="packets"/> RTP packets to the
    /// answered address and port: a call that stays up, its media socket open, until <see cref="HangUpAsync"/>.
    /// </summary>
    public async Task<SipOpenCall> PlaceAsync(string number, int packets = 10, string? sdpAddress = null, CancellationToken cancellationToken = default)
    {
        var local = LocalEndPoint.Address;
        var rtp = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            rtp.Bind(new IPEndPoint(local, 0));
            var rtpPort = ((IPEndPoint)rtp.LocalEndPoint!).Port;
            var mediaHost = sdpAddress ?? _options.AdvertisedHost ?? local.ToString();
            var offer = new SdpSession
            {
                OriginUser = "cucmsim-probe",
                SessionId = "1",
                SessionVersion = "1",
                OriginAddressType = SdpSession.AddressType(mediaHost),
                OriginAddress = mediaHost,
                ConnectionAddressType = SdpSession.AddressType(mediaHost),
                ConnectionAddress = mediaHost,
            };
            var media = new SdpMedia { Port = rtpPort, Ptime = 20 };
            media.Formats.AddRange([0, 101]);
            media.RtpMaps[0] = "PCMU/8000";
            media.RtpMaps[101] = "telephone-event/8000";
            media.Fmtp[101] = "0-15";
            offer.Media.Add(media);
            var uri = $"sip:{number}@{Target}";
            var to = $"<sip:{number}@{Target}>";
            var invite = await TransactionAsync("INVITE", uri, to, null, "application/sdp", offer.ToString(), cancellationToken).ConfigureAwait(false);
            if (Credentials(invite, "INVITE", uri) is { } authorization)
            {
                // CUCM challenges a digest phone's INVITE as its REGISTER (RFC 3261 §22.2): once more with credentials.
                invite = await TransactionAsync("INVITE", uri, to, authorization, "application/sdp", offer.ToString(), cancellationToken).ConfigureAwait(false);
            }

            if (!invite.Ok)
            {
                return new SipOpenCall(rtp, uri, to, invite, null, 0, 0);
            }

            var toTagged = invite.Header("To") ?? to;
            await SendAsync(Request("ACK", uri, toTagged, _cseq, NewBranch(), null, null, null, "ACK"), cancellationToken).ConfigureAwait(false);

            var answer = SdpSession.Parse(Encoding.UTF8.GetBytes(invite.Body), out _);
            IPEndPoint? target = null;
            int sent = 0, received = 0;
            if (answer is { Media.Count: > 0 } && answer.AddressFor(answer.Media[0]) is { } address && IPAddress.TryParse(address, out var ip))
            {
                target = new IPEndPoint(ip, answer.Media[0].Port);
                (sent, received) = await ExchangeRtpAsync(rtp, target, packets, cancellationToken).ConfigureAwait(false);
            }

            return new SipOpenCall(rtp, uri, toTagged, invite, target, sent, received);
        }
        catch
        {
            rtp.Dispose();
            throw;
        }
    }

    /// <summary>BYE for a call <see cref="PlaceAsync"/> set up (once more with credentials when challenged); nothing to end for an INVITE that failed.</summary>
    public async Task<SipCallResult> HangUpAsync(SipOpenCall call, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (!call.Invite.Ok)
        {
            return new SipCallResult(call.Invite, null, 0, 0, null);
        }

        var bye = await TransactionAsync("BYE", call.Uri, call.To, null, null, null, cancellationToken).ConfigureAwait(false);
        int? byeChallenge = null;
        if (Credentials(bye, "BYE", call.Uri) is { } byeAuthorization)
        {
            byeChallenge = bye.Status;
            bye = await TransactionAsync("BYE", call.Uri, call.To, byeAuthorization, null, null, cancellationToken).ConfigureAwait(false);
        }

        return new SipCallResult(call.Invite, call.MediaTarget?.ToString(), call.PacketsSent, call.PacketsReceived, bye) { ByeChallenge = byeChallenge };
    }

    private async Task<(int Sent, int Received)> ExchangeRtpAsync(Socket rtp, IPEndPoint target, int packets, CancellationToken cancellationToken)
    {
        var packet = new byte[RtpHeader.FixedLength + 160];
        var reply = new byte[2048];
        var ssrc = (uint)Random.Shared.Next();
        var received = 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.Timeout);
        var receiving = Task.Run(async () =>
        {
            try
            {
                while (received < packets)
                {
                    var n = await rtp.ReceiveAsync(reply, SocketFlags.None, cts.Token).ConfigureAwait(false);
                    if (RtpHeader.TryParse(reply.AsSpan(0, n), out var h) && h.Ssrc == ssrc)
                    {
                        received++;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (SocketException)
            {
            }
        }, CancellationToken.None);
        var sent = 0;
        for (var i = 0; i < packets; i++)
        {
            RtpHeader.Write(packet, i == 0, 0, (ushort)i, (uint)(i * 160), ssrc);
            packet.AsSpan(RtpHeader.FixedLength).Fill(0xFF);
            try
            {
                await rtp.SendToAsync(packet, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // No route from here to the address the answer gave (an ALG rewrote it, say): no media, no crash.
                await cts.CancelAsync().ConfigureAwait(false);
                break;
            }

            sent++;
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }

        await receiving.ConfigureAwait(false);
        return (sent, received);
    }

    private static string NewBranch() => "z9hG4bK" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private string Request(string method, string uri, string to, int cseq, string branch, string? extra, string? contentType, string? body, string cseqMethod, string? contactUser = null, string? fromUser = null)
    {
        var host = Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;
        var sb = new StringBuilder(512);
        sb.Append(method).Append(' ').Append(uri).Append(" SIP/2.0\r\n");
        sb.Append("Via: SIP/2.0/").Append(ViaTransport).Append(' ').Append(host).Append(':').Append(LocalEndPoint.Port).Append(";branch=").Append(branch).Append(";rport\r\n");
        sb.Append("Max-Forwards: 70\r\n");
        sb.Append("From: <sip:").Append(fromUser ?? _line ?? "probe").Append('@').Append(_options.Domain).Append(">;tag=").Append(_fromTag).Append("\r\n");
        sb.Append("To: ").Append(to).Append("\r\n");
        sb.Append("Call-ID: ").Append(_callId).Append("\r\n");
        sb.Append("CSeq: ").Append(cseq).Append(' ').Append(cseqMethod).Append("\r\n");
        sb.Append("Contact: <sip:").Append(contactUser ?? _line ?? "probe").Append('@').Append(host).Append(':').Append(LocalEndPoint.Port);
        if (_options.Transport != "udp")
        {
            sb.Append(";transport=").Append(_options.Transport);
        }

        sb.Append(">\r\n");
        sb.Append("User-Agent: cucmsim-client\r\n");
        sb.Append(extra);
        if (contentType is not null)
        {
            sb.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        sb.Append("Content-Length: ").Append(body is null ? 0 : Encoding.UTF8.GetByteCount(body)).Append("\r\n\r\n").Append(body);
        return sb.ToString();
    }

    private async Task<SipExchange> TransactionAsync(string method, string uri, string to, string? extra, string? contentType, string? body,
        CancellationToken cancellationToken, string? contactUser = null, string? fromUser = null)
    {
        var started = Stopwatch.GetTimestamp();
        var cseq = ++_cseq;
        var branch = NewBranch();
        var text = Request(method, uri, to, cseq, branch, extra, contentType, body, method, contactUser, fromUser);
        var provisional = new List<int>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.Timeout);
        try
        {
            await SendAsync(text, cts.Token).ConfigureAwait(false);
            var retransmit = TimeSpan.FromMilliseconds(500);
            while (true)
            {
                string? response;
                if (_stream is null)
                {
                    // RFC 3261 §17.1.1.2 timer A/E: repeat the request on UDP until a response arrives.
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                    wait.CancelAfter(retransmit);
                    try
                    {
                        response = await ReceiveAsync(wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cts.IsCancellationRequested)
                    {
                        if (provisional.Count == 0)
                        {
                            await SendAsync(text, cts.Token).ConfigureAwait(false);
                        }

                        retransmit = TimeSpan.FromMilliseconds(Math.Min(retransmit.TotalMilliseconds * 2, 4000));
                        continue;
                    }
                }
                else
                {
                    response = await ReceiveAsync(cts.Token).ConfigureAwait(false);
                }

                if (response is null)
                {
                    return Failed("connection closed", provisional, started);
                }

                var m = new SipMessage();
                if (m.Parse(Encoding.UTF8.GetBytes(response)) != SipParseError.Ok || m.IsRequest || m.CSeqNumber != cseq
                    || !Encoding.ASCII.GetString(m[m.CSeqMethod]).Equals(method, StringComparison.Ordinal))
                {
                    continue;
                }

                if (m.StatusCode < 200)
                {
                    provisional.Add(m.StatusCode);
                    continue;
                }

                if (method == "INVITE" && m.StatusCode >= 300)
                {
                    // RFC 3261 §17.1.1.3: the ACK of a non-2xx final response ends the INVITE transaction: its branch,
                    // the response's To (with the tag).
                    await SendAsync(Request("ACK", uri, Encoding.UTF8.GetString(m.Get(SipHeaderId.To)), cseq, branch, null, null, null, "ACK", contactUser, fromUser), cts.Token).ConfigureAwait(false);
                }

                var mirror = SipMirror.Parse(Encoding.ASCII.GetString(m.Get("x-cucmsim-mirror"u8)));
                var sent = SipSent.Parse(Encoding.ASCII.GetString(m.Get("x-cucmsim-sent"u8)));
                return new SipExchange(m.StatusCode, Encoding.UTF8.GetString(m[m.Reason]), response, mirror, Diff(text, mirror), provisional, null,
                    Stopwatch.GetElapsedTime(started))
                {
                    Sent = sent,
                    ResponseRewrites = DiffResponse(m, sent),
                };
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed("timeout", provisional, started);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return Failed(ex.Message, provisional, started);
        }
    }

    private static SipExchange Failed(string error, List<int> provisional, long started) =>
        new(0, string.Empty, null, null, [], provisional, error, Stopwatch.GetElapsedTime(started));

    /// <summary>What the server sent in a response (its own account) against what arrived: Contact and SDP lines.</summary>
    public static IReadOnlyList<SipRewrite> DiffResponse(SipMessage response, SipSent? sent)
    {
        if (sent is null)
        {
            return [];
        }

        var result = new List<SipRewrite>();
        var contact = Encoding.UTF8.GetString(response.Get(SipHeaderId.Contact));
        if (!string.Equals(sent.Contact, contact, StringComparison.Ordinal))
        {
            result.Add(new SipRewrite("response contact", sent.Contact, contact));
        }

        CompareLines(result, "response sdp", sent.Sdp, Encoding.UTF8.GetString(response[response.Body]));
        return result;
    }

    /// <summary>Line by line, each difference named by the line's type ("sdp c=").</summary>
    private static void CompareLines(List<SipRewrite> result, string prefix, string sent, string got)
    {
        var a = sent.Split("\r\n");
        var b = got.Split("\r\n");
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var x = i < a.Length ? a[i] : string.Empty;
            var y = i < b.Length ? b[i] : string.Empty;
            if (!string.Equals(x, y, StringComparison.Ordinal))
            {
                result.Add(new SipRewrite(x.Length > 1 ? $"{prefix} {x[..2]}" : y.Length > 1 ? $"{prefix} {y[..2]}" : prefix, x, y));
            }
        }
    }

    /// <summary>What was sent against what the server received: request line, top Via, Contact, Content-Length, SDP lines, source.</summary>
    public IReadOnlyList<SipRewrite> Diff(string sent, SipMirror? mirror)
    {
        if (mirror is null)
        {
            return [];
        }

        var result = new List<SipRewrite>();
        var m = new SipMessage();
        if (m.Parse(Encoding.UTF8.GetBytes(sent)) != SipParseError.Ok)
        {
            return result;
        }

        void Compare(string field, string a, string b)
        {
            if (!string.Equals(a, b, StringComparison.Ordinal))
            {
                result.Add(new SipRewrite(field, a, b));
            }
        }

        Compare("request-line", Encoding.UTF8.GetString(m[m.StartLine]), mirror.RequestLine);
        Compare("via", Encoding.UTF8.GetString(m.Via(0)), mirror.Via);
        Compare("contact", Encoding.UTF8.GetString(m.Get(SipHeaderId.Contact)), mirror.Contact);
        Compare("content-length", m.ContentLength.ToString(CultureInfo.InvariantCulture), mirror.ContentLength.ToString(CultureInfo.InvariantCulture));
        CompareLines(result, "sdp", Encoding.UTF8.GetString(m[m.Body]), mirror.Sdp);

        var local = LocalEndPoint;
        var localText = local.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{local.Address}]:{local.Port}" : $"{local.Address}:{local.Port}";
        Compare("source", localText, mirror.Source);
        return result;
    }

    private async Task SendAsync(string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (_stream is null)
        {
            await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<string?> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_stream is null)
        {
            var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return Encoding.UTF8.GetString(_buffer, 0, n);
        }

        while (true)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, 0, _buffered));
            var status = SipFraming.TryRead(ref reader, _buffer.Length, out var message);
            if (status == OperationStatus.Done)
            {
                var text = SipFraming.IsKeepAlive(message) ? null : Encoding.UTF8.GetString(message);
                var used = (int)reader.Consumed;
                Buffer.BlockCopy(_buffer, used, _buffer, 0, _buffered - used);
                _buffered -= used;
                if (text is null)
                {
                    continue;
                }

                return text;
            }

            if (status == OperationStatus.InvalidData || _buffered == _buffer.Length)
            {
                throw new IOException("unframeable SIP stream from the server");
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_buffered), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            _buffered += read;
        }
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Sip;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.Sip;

/// <summary>
/// The SIP user agent server behind every sip and sip-tls listener of a node (RFC 3261, RFC 3581): one
/// registrar, one set of calls and INVITE transactions shared by UDP, TCP and TLS. Requests are answered on
/// the thread that parsed them; timers (retransmission, answer delay, expiry) run on the context's clock.
/// </summary>
internal sealed partial class SipService : IDisposable
{
    public const string MirrorHeader = "X-CucmSim-Mirror";

    /// <summary>What this response itself embeds (its Contact and SDP), base64 so that an ALG rewriting them leaves it be.</summary>
    public const string SentHeader = "X-CucmSim-Sent";
    private const int MaxMirrorField = 1024;
    private const int MaxMirrorBody = 4096;
    private const int MaxRecentRecords = 50;
    private static readonly ConditionalWeakTable<ServeContext, SipService> Services = [];
    [ThreadStatic]
    private static byte[]? _tagBuffer;

    /// <summary>Exactly the methods <see cref="Handle"/> answers (anything else gets 501 with this list, RFC 3261 §21.5.2).</summary>
    internal static readonly byte[] Allow = "INVITE, OPTIONS, INFO, BYE, CANCEL, ACK, PRACK, UPDATE, NOTIFY, REGISTER"u8.ToArray();

    private readonly ServeContext _context;
    private readonly SipOptions _options;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, InviteTransaction> _invites = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SipCall> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _ended = new(StringComparer.Ordinal);

    /// <summary>Transactions and ended dialogs in the order they finished: the sweep pops only what expired.</summary>
    private readonly Queue<(long At, InviteTransaction? Transaction, string? EndedKey)> _expiry = new();
    private readonly Dictionary<string, Registration> _registrations = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<IPAddress, int> _registeredPeers = [];
    private readonly HashSet<string> _rewritesSeen = new(StringComparer.Ordinal);
    private readonly byte[] _nonceKey = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _serverHeader;
    private EmbeddedHost _lastHost = new(IPAddress.None, []);
    private readonly ITimer _sweeper;
    private long _windowStart;
    private int _windowRecords;
    private long _requests;
    private long _malformed;
    private long _callsStarted;
    private long _trimmed;
    private long _withheld;

    private SipService(ServeContext context)
    {
        _context = context;
        _options = context.Sip;
        _log = context.Loggers.CreateLogger("CucmSim.Sip");
        var version = context.Identity.Version.Split('.');
        var server = _options.ServerHeader ?? $"Cisco-CUCM{string.Join('.', version.Take(2))}";
        _serverHeader = Encoding.ASCII.GetBytes(server);
        _sweeper = context.Time.CreateTimer(_ => Sweep(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        context.Stopping.Register(Dispose);
    }

    public static SipService For(ServeContext context) => Services.GetValue(context, c => new SipService(c));

    /// <summary>The node's SIP service when one runs (metrics), without making one.</summary>
    public static SipService? Running(ServeContext context) => Services.TryGetValue(context, out var service) ? service : null;

    public SipOptions Settings => _options;
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Answers sent without the mirror to stay within an unknown UDP peer's budget.</summary>
    public long Trimmed => Interlocked.Read(ref _trimmed);

    /// <summary>Provisional responses and retransmissions not sent: they would have exceeded an unknown UDP peer's budget.</summary>
    public long Withheld => Interlocked.Read(ref _withheld);

    public int ActiveCalls
    {
        get
        {
            lock (_lock)
            {
                return _calls.Count;
            }
        }
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        List<SipCall> calls;
        lock (_lock)
        {
            calls = [.. _calls.Values];
        }

        foreach (var call in calls)
        {
            EndCall(call, "shutdown");
        }
    }

    /// <summary>
    /// Handles one message (or a parse failure). <paramref name="scratch"/> is the caller's response buffer.
    /// Returns the verdict for the flow's ledger record.
    /// </summary>
    public string Handle(SipMessage m, SipParseError error, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        Interlocked.Increment(ref _requests);
        if (error != SipParseError.Ok)
        {
            return Malformed(m, error, peer, sink, listener, scratch);
        }

        if (!m.IsRequest)
        {
            // Responses to what the server sent as a B2BUA are relayed; any other is absorbed (RFC 3261 §18.1.2 discards it).
            return RouteResponse(m, scratch);
        }

        if (!SipVia.TryParse(m.Via(0), out var topVia))
        {
            return Malformed(m, SipParseError.BadVia, peer, sink, listener, scratch);
        }

        NoteRewrites(m, topVia, peer, sink, listener);
        if (_options.UnknownPeer503 && m.Method is not (SipMethod.Register or SipMethod.Ack) && !IsKnownPeer(peer))
        {
            Send(sink, scratch, CucmUnknownPeer(m, peer, listener, scratch));
            return "sip-503";
        }

        switch (m.Method)
        {
            case SipMethod.Options:
                return Options(m, peer, sink, listener, scratch);
            case SipMethod.Register:
                return Register(m, peer, sink, listener, scratch);
            case SipMethod.Invite:
                return Invite(m, topVia, peer, sink, listener, scratch);
            case SipMethod.Ack:
                Ack(m, topVia, scratch);
                return "sip-ack";
            case SipMethod.Cancel:
                return Cancel(m, topVia, peer, sink, listener, scratch);
            case SipMethod.Bye:
                return Bye(m, peer, sink, listener, scratch);
            case SipMethod.Info or SipMethod.Update or SipMethod.Prack or SipMethod.Notify:
                return InDialog(m, peer, sink, listener, scratch);
            default:
                // RFC 3261 §8.2.1: a method the UAS does not implement gets 501.
                Send(sink, scratch, Simple(m, 501, "Not Implemented"u8, peer, sink, listener, scratch));
                return "sip-501";
        }
    }

    private string Options(SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        // RFC 3261 §11.2: the capabilities of the UAS.
        var w = Begin(scratch, m, 200, "OK"u8, peer, sink, StatelessTag(m));
        w.Header("Allow"u8, Allow);
        w.Header("Accept"u8, "application/sdp"u8);
        w.Header("Supported"u8, "replaces, timer"u8);
        WriteContact(ref w, m, peer, listener, sink);
        Send(sink, scratch, End(ref w, m, peer, sink, default, default));
        return "sip-options";
    }

    private string InDialog(SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        var key = DialogKey(m);
        bool known;
        lock (_lock)
        {
            known = key is not null && (_calls.ContainsKey(key) || _routes.ContainsKey(key));
        }

        if (known)
        {
            Send(sink, scratch, Simple(m, 200, "OK"u8, peer, sink, listener, scratch));
            return "sip-200";
        }

        // These methods are implemented, inside a dialog only: a request that matches none, with a To tag or
        // without one, gets 481 (RFC 3261 §12.2.2; RFC 6086 §4.2.2 for INFO, RFC 3311 §5.2 for UPDATE), never
        // 501, which would contradict the Allow header.
        Send(sink, scratch, Simple(m, 481, "Call/Transaction Does Not Exist"u8, peer, sink, listener, scratch));
        return "sip-481";
    }

    // ---------------------------------------------------------------- responses

    /// <summary>Status line, the Via list (top one with received/rport), From, To (with a tag), Call-ID, CSeq (RFC 3261 §8.2.6.2).</summary>
    private SipWriter Begin(byte[] scratch, SipMessage m, int code, scoped ReadOnlySpan<byte> reason, SipPeer peer, SipSink sink, scoped ReadOnlySpan<byte> toTag, bool skipServer = false)
    {
        var w = new SipWriter(scratch);
        w.Write("SIP/2.0 "u8);
        w.Write(code);
        w.Write((byte)' ');
        w.Write(reason);
        w.Crlf();
        WriteVias(ref w, m, peer);
        w.Header("From"u8, m.Get(SipHeaderId.From));
        w.Write("To: "u8);
        var to = m.Get(SipHeaderId.To);
        w.Write(to);
        if (code != 100 && !toTag.IsEmpty && SipSyntax.Tag(to).IsEmpty)
        {
            w.Write(";tag="u8);
            w.Write(toTag);
        }

        w.Crlf();
        w.Header("Call-ID"u8, m.Get(SipHeaderId.CallId));
        w.Write("CSeq: "u8);
        w.Write(m.CSeqNumber);
        w.Write((byte)' ');
        w.Write(m[m.CSeqMethod]);
        w.Crlf();
        if (!skipServer && _serverHeader.Length > 0)
        {
            w.Header("Server"u8, _serverHeader);
        }

        return w;
    }

    /// <summary>RFC 3261 §18.2.1 and RFC 3581 §4: received= when the sent-by differs from the source (always with rport), rport filled in.</summary>
    private static void WriteVias(ref SipWriter w, SipMessage m, SipPeer peer)
    {
        for (var i = 0; i < m.ViaCount; i++)
        {
            var via = m.Via(i);
            w.Write("Via: "u8);
            if (i > 0 || !SipVia.TryParse(via, out var top))
            {
                w.Write(via);
                w.Crlf();
                continue;
            }

            w.Write(via[..top.SentByEnd]);
            var rport = false;
            var parameters = top.Parameters;
            while (parameters.Length > 0)
            {
                var next = parameters[1..].IndexOf((byte)';');
                var item = next < 0 ? parameters : parameters[..(next + 1)];
                parameters = next < 0 ? default : parameters[(next + 1)..];
                var body = item[1..].Trim(" \t"u8);
                var eq = body.IndexOf((byte)'=');
                var name = eq < 0 ? body : body[..eq].TrimEnd(" \t"u8);
                if (SipNames.Eq(name, "received"u8))
                {
                    continue;
                }

                if (SipNames.Eq(name, "rport"u8))
                {
                    rport = true;
                    w.Write(";rport="u8);
                    w.Write(peer.Port);
                    continue;
                }

                w.Write(item);
            }

            if (rport || !top.Host.SequenceEqual(peer.AddressText))
            {
                w.Write(";received="u8);
                w.Write(peer.AddressText);
            }

            w.Crlf();
        }
    }

    /// <summary>Mirror, Content-Length and body; returns the bytes to send.</summary>
    [SkipLocalsInit]
    private ReadOnlySpan<byte> End(scoped ref SipWriter w, SipMessage m, SipPeer peer, SipSink sink, ReadOnlySpan<byte> contentType, ReadOnlySpan<byte> body)
    {
        if (_options.Mirror)
        {
            Span<byte> mirror = stackalloc byte[(MaxMirrorField * 4) + MaxMirrorBody + 256];
            var n = WriteMirror(mirror, m, peer, sink);

            // The mirror and the sent copy are what an answer to an unknown peer leaves out to stay within its budget.
            var budget = Budget(m, peer, sink);
            var whole = w.Length + MirrorHeader.Length + 4 + Base64Length(n) + SentLength(w.Written, body)
                + (contentType.IsEmpty ? 0 : 16 + contentType.Length) + 30 + body.Length;
            if (whole <= budget)
            {
                w.Write(MirrorHeader);
                w.Write(": "u8);
                w.Base64(mirror[..n]);
                w.Crlf();
                WriteSent(ref w, body);
            }
            else
            {
                Interlocked.Increment(ref _trimmed);
            }
        }

        if (!contentType.IsEmpty)
        {
            w.Header("Content-Type"u8, contentType);
        }

        w.Write("Content-Length: "u8);
        w.Write(body.Length);
        w.Write("\r\n\r\n"u8);
        w.Write(body);
        return w.Overflow ? default : w.Written;
    }

    /// <summary>
    /// The untouched copy of the addresses this response carries: its Contact (already written) and its body. A SIP
    /// ALG on the way back rewrites the Contact header and the SDP's c=/o=/m= lines, never a base64 header, so the
    /// client can tell what the server sent from what reached it. Only on responses that embed something.
    /// </summary>
    [SkipLocalsInit]
    private static void WriteSent(scoped ref SipWriter w, ReadOnlySpan<byte> body)
    {
        var contact = SentContact(w.Written);
        if (contact.IsEmpty && body.IsEmpty)
        {
            return;
        }

        Span<byte> sent = stackalloc byte[MaxMirrorField + MaxMirrorBody + 32];
        var s = new SipWriter(sent);
        s.Write("contact="u8);
        s.Write(Cap(contact, MaxMirrorField));
        s.Write("\nsdp="u8);
        s.Write(Cap(body, MaxMirrorBody));
        w.Write(SentHeader);
        w.Write(": "u8);
        w.Base64(s.Written);
        w.Crlf();
    }

    /// <summary>The Contact this response carries (already written), for the sent copy.</summary>
    private static ReadOnlySpan<byte> SentContact(ReadOnlySpan<byte> written)
    {
        var at = written.IndexOf("\r\nContact: "u8);
        if (at < 0)
        {
            return default;
        }

        var contact = written[(at + 11)..];
        var end = contact.IndexOf("\r\n"u8);
        return end < 0 ? default : contact[..end];
    }

    /// <summary>The bytes <see cref="WriteSent"/> adds.</summary>
    private static int SentLength(ReadOnlySpan<byte> written, ReadOnlySpan<byte> body)
    {
        var contact = SentContact(written);
        return contact.IsEmpty && body.IsEmpty
            ? 0
            : SentHeader.Length + 4 + Base64Length(8 + Math.Min(contact.Length, MaxMirrorField) + 5 + Math.Min(body.Length, MaxMirrorBody));
    }

    private static int Base64Length(int n) => (n + 2) / 3 * 4;

    /// <summary>
    /// The bytes the answers to this request may take (RFC 3261 §26.3.2.4 leaves amplification to the server): no
    /// bound on TCP and TLS (a handshake proves the source) nor for a registered peer or a trunk; over UDP to anyone
    /// else, <see cref="SipOptions.MaxAmplification"/> times the request or <see cref="SipOptions.AmplificationFloor"/>.
    /// </summary>
    private long Budget(SipMessage m, SipPeer peer, SipSink sink) =>
        sink.Reliable || _options.MaxAmplification <= 0 || IsKnownPeer(peer)
            ? long.MaxValue
            : Math.Max((long)_options.MaxAmplification * m.Raw.Length, _options.AmplificationFloor);

    /// <summary>
    /// What arrived, as the server saw it: source address, transport, request line, top Via, Contact,
    /// Content-Length and the body. Base64 in the response so that an ALG finds no address to rewrite.
    /// </summary>
    public static int WriteMirror(Span<byte> buffer, SipMessage m, SipPeer peer, SipSink sink)
    {
        var w = new SipWriter(buffer);
        w.Write("src="u8);
        if (peer.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            w.Write((byte)'[');
            w.Write(peer.AddressText);
            w.Write((byte)']');
        }
        else
        {
            w.Write(peer.AddressText);
        }

        w.Write((byte)':');
        w.Write(peer.Port);
        w.Write("\ntransport="u8);
        w.Write(sink.Transport);
        w.Write("\nrl="u8);
        w.Write(Cap(m[m.StartLine], MaxMirrorField));
        w.Write("\nvia="u8);
        w.Write(Cap(m.Via(0), MaxMirrorField));
        w.Write("\ncontact="u8);
        w.Write(Cap(m.Get(SipHeaderId.Contact), MaxMirrorField));
        w.Write("\ncl="u8);
        w.Write(m.ContentLength);
        w.Write("\nsdp="u8);
        w.Write(Cap(m[m.Body], MaxMirrorBody));
        return w.Length;
    }

    private static ReadOnlySpan<byte> Cap(ReadOnlySpan<byte> value, int max) => value.Length > max ? value[..max] : value;

    private ReadOnlySpan<byte> Simple(SipMessage m, int code, ReadOnlySpan<byte> reason, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch, ReadOnlySpan<byte> toTag = default)
    {
        var w = Begin(scratch, m, code, reason, peer, sink, toTag.IsEmpty ? StatelessTag(m) : toTag);
        if (code == 501)
        {
            w.Header("Allow"u8, Allow);
        }

        return End(ref w, m, peer, sink, default, default);
    }

    private static void Send(SipSink sink, byte[] scratch, ReadOnlySpan<byte> response)
    {
        if (!response.IsEmpty)
        {
            sink.Send(response);
        }
    }

    /// <summary>The address this answer embeds (Contact, SDP): see <see cref="ServeContext.Embedded"/>.</summary>
    private IPAddress Embedded(SipSink sink, SipPeer peer) => _context.Embedded(sink.LocalAddress, peer.Address);

    /// <summary>The embedded address as a Contact host, cached for the address last used (usually the only one).</summary>
    private byte[] EmbeddedHostBytes(SipSink sink, SipPeer peer)
    {
        var address = Embedded(sink, peer);
        var last = _lastHost;
        if (last.Address.Equals(address))
        {
            return last.Bytes;
        }

        var bytes = Encoding.ASCII.GetBytes(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString());
        _lastHost = new EmbeddedHost(address, bytes);
        return bytes;
    }

    private sealed record EmbeddedHost(IPAddress Address, byte[] Bytes);

    private void WriteContact(ref SipWriter w, SipMessage m, SipPeer peer, ListenerRuntime listener, SipSink sink)
    {
        w.Write("Contact: <sip:"u8);
        if (SipSyntax.TryParseUri(m[m.Uri], out var user, out _, out _) && !user.IsEmpty)
        {
            w.Write(user);
            w.Write((byte)'@');
        }

        w.Write(EmbeddedHostBytes(sink, peer));
        w.Write((byte)':');
        w.Write(listener.BoundEndPoint?.Port ?? listener.Port);
        if (sink.Transport != "UDP")
        {
            w.Write(";transport="u8);
            w.Write(sink.Transport == "TLS" ? "tls"u8 : "tcp"u8);
        }

        w.Write(">\r\n"u8);
    }

    /// <summary>
    /// A To tag that is the same for every retransmission of a request without keeping state
    /// (RFC 3261 §8.2.6.2, the way a stateless server does it): a hash of Call-ID, From tag and branch.
    /// </summary>
    private static ReadOnlySpan<byte> StatelessTag(SipMessage m)
    {
        var h = new HashCode();
        h.AddBytes(m.Get(SipHeaderId.CallId));
        h.AddBytes(SipSyntax.Tag(m.Get(SipHeaderId.From)));
        h.AddBytes(m.Via(0));
        var value = (uint)h.ToHashCode();

        // Per thread: the caller copies it into the response at once.
        var tag = _tagBuffer ??= new byte[8];
        for (var i = 7; i >= 0; i--)
        {
            tag[i] = (byte)"0123456789abcdef"[(int)(value & 15)];
            value >>= 4;
        }

        return tag;
    }

    // ---------------------------------------------------------------- CUCM identity

    private bool IsTrunkPeer(SipPeer peer)
    {
        foreach (var trunk in _options.TrunkPeers)
        {
            if (trunk.Equals(peer.Address))
            {
                return true;
            }
        }

        return false;
    }

    private bool IsKnownPeer(SipPeer peer)
    {
        if (IsTrunkPeer(peer))
        {
            return true;
        }

        lock (_lock)
        {
            return _registeredPeers.ContainsKey(peer.Address);
        }
    }

    /// <summary>CUCM's answer to a request from a peer it has no device or trunk for: the exact header layout nmap fingerprints.</summary>
    private ReadOnlySpan<byte> CucmUnknownPeer(SipMessage m, SipPeer peer, ListenerRuntime listener, byte[] scratch)
    {
        var w = new SipWriter(scratch);
        w.Write("SIP/2.0 503 Service Unavailable\r\n"u8);
        WriteVias(ref w, m, peer);
        w.Header("From"u8, m.Get(SipHeaderId.From));
        w.Write("To: "u8);
        w.Write(m.Get(SipHeaderId.To));
        if (SipSyntax.Tag(m.Get(SipHeaderId.To)).IsEmpty)
        {
            w.Write(";tag="u8);
            w.Write(StatelessTag(m));
        }

        w.Crlf();
        w.Write("Date: "u8);
        w.Write(_context.Time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture));
        w.Crlf();
        w.Header("Call-ID"u8, m.Get(SipHeaderId.CallId));
        w.Write("CSeq: "u8);
        w.Write(m.CSeqNumber);
        w.Write((byte)' ');
        w.Write(m[m.CSeqMethod]);
        w.Crlf();
        w.Write("Warning: 399 "u8);
        w.Write(_context.Identity.HostName);
        w.Write(" \"Unable to find a device handler for the request received on port "u8);
        w.Write(listener.BoundEndPoint?.Port ?? listener.Port);
        w.Write(" from "u8);
        w.Write(peer.AddressText);
        w.Write("\"\r\nContent-Length: 0\r\n\r\n"u8);
        return w.Overflow ? default : w.Written;
    }

    // ---------------------------------------------------------------- malformed input

    private string Malformed(SipMessage m, SipParseError error, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        listener.MalformedInput();
        Interlocked.Increment(ref _malformed);
        var answered = "dropped";

        // RFC 3261 §8.2.2.1/§21.4.1: a request we can answer gets 400 (505 for another version); anything else is dropped.
        if (error is not (SipParseError.NotSip or SipParseError.TooLarge) && m.IsRequest && m.ViaCount > 0 && SipVia.TryParse(m.Via(0), out _)
            && m.Has(SipHeaderId.From) && m.Has(SipHeaderId.To) && m.Has(SipHeaderId.CallId) && m.Has(SipHeaderId.CSeq) && !m.CSeqMethod.IsEmpty
            && m.Method != SipMethod.Ack)
        {
            var (code, reason) = error switch
            {
                SipParseError.BadVersion => (505, "Version Not Supported"),
                _ => (400, "Bad Request - " + Describe(error)),
            };
            var w = Begin(scratch, m, code, Encoding.ASCII.GetBytes(reason), peer, sink, StatelessTag(m));
            var response = End(ref w, m, peer, sink, default, default);
            if (!response.IsEmpty)
            {
                sink.Send(response);
                answered = code.ToString(CultureInfo.InvariantCulture);
            }
        }

        if (ShouldRecord())
        {
            var raw = m.Raw;
            LogMalformed(_log, listener.Id, peer.Text, Describe(error), answered);
            _context.Ledger.Append(listener.Record("sip-malformed", peer.Text) with
            {
                Transport = sink.Transport.ToLowerInvariant(),
                Verdict = answered,
                First = Serve.Text.Escape(raw[..Math.Min(raw.Length, 200)]),
                Detail = new() { ["reason"] = Describe(error) },
            });
        }

        return "sip-malformed";
    }

    /// <summary>A stream closed with a message still incomplete after the idle timeout (a slow or stalled client).</summary>
    public void Incomplete(ListenerRuntime listener, SipPeer peer, long bytes, TimeSpan timeout)
    {
        listener.MalformedInput();
        if (ShouldRecord())
        {
            LogIncomplete(_log, listener.Id, peer.Text, bytes, (int)timeout.TotalSeconds);
            _context.Ledger.Append(listener.Record("sip-malformed", peer.Text) with
            {
                Verdict = "closed",
                Detail = new() { ["reason"] = "message incomplete at the idle timeout", ["bytes"] = bytes.ToString(CultureInfo.InvariantCulture) },
            });
        }
    }

    public static string Describe(SipParseError error) => error switch
    {
        SipParseError.NotSip => "not a SIP message",
        SipParseError.TooLarge => "message too large",
        SipParseError.TooManyHeaders => "too many headers",
        SipParseError.BadStartLine => "malformed start line",
        SipParseError.BadVersion => "unsupported SIP version",
        SipParseError.BadHeader => "malformed header",
        SipParseError.MissingHeader => "missing mandatory header",
        SipParseError.BadContentLength => "bad Content-Length",
        SipParseError.TruncatedBody => "body shorter than Content-Length",
        SipParseError.BadCSeq => "bad CSeq",
        SipParseError.BadMaxForwards => "bad Max-Forwards",
        SipParseError.BadVia => "bad Via",
        _ => error.ToString(),
    };

    /// <summary>Bounds ledger and log records of noisy events (malformed input, rewrites) to a few per 10 s.</summary>
    private bool ShouldRecord()
    {
        var now = _context.Time.GetTimestamp();
        lock (_lock)
        {
            if (_context.Time.GetElapsedTime(_windowStart, now) > TimeSpan.FromSeconds(10))
            {
                _windowStart = now;
                _windowRecords = 0;
            }

            return ++_windowRecords <= MaxRecentRecords;
        }
    }

    // ---------------------------------------------------------------- rewrites

    /// <summary>
    /// Addresses inside the message that differ from the transport source: NAT or an ALG in between (or a
    /// client that put another address there). One ledger record per peer address, field and value.
    /// </summary>
    private void NoteRewrites(SipMessage m, SipVia topVia, SipPeer peer, SipSink sink, ListenerRuntime listener)
    {
        if (topVia.Host.SequenceEqual(peer.AddressText) && (m.Method != SipMethod.Invite && m.Method != SipMethod.Register))
        {
            return;
        }

        List<(string Field, string Value)>? differs = null;
        if (!HostMatches(topVia.Host, peer))
        {
            (differs ??= []).Add(("via", Encoding.UTF8.GetString(topVia.Host)));
        }

        if (m.Has(SipHeaderId.Contact) && SipSyntax.TryParseUri(SipSyntax.AddrSpec(m.Get(SipHeaderId.Contact)), out _, out var host, out _) && !HostMatches(host, peer))
        {
            (differs ??= []).Add(("contact", Encoding.UTF8.GetString(host)));
        }

        if (m.Method == SipMethod.Invite && SdpConnection(m[m.Body]) is { IsEmpty: false } c && !HostMatches(c, peer))
        {
            (differs ??= []).Add(("sdp-c", Encoding.UTF8.GetString(c)));
        }

        if (differs is null)
        {
            return;
        }

        var key = peer.Address + "|" + string.Join(",", differs.Select(d => d.Field + "=" + d.Value));
        lock (_lock)
        {
            if (_rewritesSeen.Count >= 10_000 || !_rewritesSeen.Add(key))
            {
                return;
            }
        }

        Span<byte> mirror = stackalloc byte[(MaxMirrorField * 4) + MaxMirrorBody + 256];
        var n = WriteMirror(mirror, m, peer, sink);
        var detail = new Dictionary<string, string>
        {
            ["method"] = Encoding.ASCII.GetString(m[m.MethodRange]),
            ["source"] = peer.Address.ToString(),
            ["mirror"] = Convert.ToBase64String(mirror[..n]),
        };
        foreach (var (field, value) in differs)
        {
            detail[field] = value;
        }

        _context.Ledger.Append(listener.Record("sip-rewrite", peer.Text) with
        {
            Transport = sink.Transport.ToLowerInvariant(),
            Verdict = "address-differs",
            Detail = detail,
        });
    }

    /// <summary>The address of the session-level (or first) c= line of an SDP body, without parsing the rest (RFC 4566 §5.7).</summary>
    private static ReadOnlySpan<byte> SdpConnection(ReadOnlySpan<byte> body)
    {
        while (body.Length > 0)
        {
            var end = body.IndexOf((byte)'\n');
            var line = (end < 0 ? body : body[..end]).TrimEnd("\r"u8);
            body = end < 0 ? default : body[(end + 1)..];
            if (line.StartsWith("c=IN IP"u8) && line.Length > 9)
            {
                var address = line[9..].Trim(" "u8);
                var slash = address.IndexOf((byte)'/');
                return slash < 0 ? address : address[..slash];
            }
        }

        return default;
    }

    /// <summary>Schedules the removal of a finished transaction or ended dialog. Under the lock.</summary>
    private void Expire(InviteTransaction? transaction, string? endedKey) => _expiry.Enqueue((_context.Time.GetTimestamp(), transaction, endedKey));

    /// <summary>Counts registrations per source address (the known peers of the CUCM 503 identity). Under the lock.</summary>
    private void PeerJoined(IPAddress address) => _registeredPeers[address] = _registeredPeers.GetValueOrDefault(address) + 1;

    private void PeerLeft(IPAddress address)
    {
        if (_registeredPeers.TryGetValue(address, out var n))
        {
            if (n <= 1)
            {
                _registeredPeers.Remove(address);
            }
            else
            {
                _registeredPeers[address] = n - 1;
            }
        }
    }

    private static bool HostMatches(ReadOnlySpan<byte> host, SipPeer peer)
    {
        if (host.SequenceEqual(peer.AddressText))
        {
            return true;
        }

        if (host.Length > 2 && host[0] == '[')
        {
            host = host[1..^1];
        }

        Span<char> chars = stackalloc char[64];
        if (host.Length > chars.Length)
        {
            return false;
        }

        var count = Encoding.ASCII.GetChars(host, chars);
        return IPAddress.TryParse(chars[..count], out var ip) && ip.Equals(peer.Address);
    }

    // ---------------------------------------------------------------- housekeeping

    private void Sweep()
    {
        var now = _context.Time.GetTimestamp();
        List<SipCall>? timedOut = null;
        List<Registration>? expired = null;
        lock (_lock)
        {
            // 64·T1 after they finished (timer H/J horizon), in finishing order: no scan of the tables.
            while (_expiry.TryPeek(out var e) && _context.Time.GetElapsedTime(e.At, now) > _options.T1 * 64)
            {
                _expiry.Dequeue();
                if (e.Transaction is { } tx && _invites.TryGetValue(tx.Key, out var current) && ReferenceEquals(current, tx))
                {
                    _invites.Remove(tx.Key);
                }

                if (e.EndedKey is { } key && _ended.TryGetValue(key, out var at) && at <= e.At)
                {
                    _ended.Remove(key);
                }
            }

            foreach (var call in _calls.Values)
            {
                if (_context.Time.GetElapsedTime(call.Started, now) > _options.CallTimeout)
                {
                    (timedOut ??= []).Add(call);
                }
            }

            var utc = _context.Time.GetUtcNow();
            foreach (var r in _registrations.Values)
            {
                if (r.Expires <= utc)
                {
                    (expired ??= []).Add(r);
                }
            }

            foreach (var r in expired ?? [])
            {
                _registrations.Remove(r.Aor);
                PeerLeft(r.Peer.Address);
                Unbind(r);
            }

            SweepRoutes(now);
        }

        foreach (var call in timedOut ?? [])
        {
            EndCall(call, "timeout");
        }

        foreach (var r in expired ?? [])
        {
            Unregistered(r, "expired");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Listener}: malformed SIP from {Peer}: {Reason} ({Answered})")]
    private static partial void LogMalformed(ILogger logger, string listener, string peer, string reason, string answered);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Listener}: closed {Peer}: {Bytes} bytes of a SIP message still incomplete after {Seconds} s")]
    private static partial void LogIncomplete(ILogger logger, string listener, string peer, long bytes, int seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Listener}: {Aor} {Verdict} from {Peer} (contact {Contact}, expires {Expires})")]
    private static partial void LogRegistration(ILogger logger, string listener, string aor, string verdict, string peer, string contact, int expires);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Listener}: call {CallId} from {Peer} ended ({Verdict}) after {DurationMs} ms, media port {Port}, {Packets} RTP packets")]
    private static partial void LogCall(ILogger logger, string listener, string callId, string peer, string verdict, long durationMs, int port, long packets);
}

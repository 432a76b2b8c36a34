using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Sccp;
using CucmSim.Protocols.Sip;

namespace CucmSim.Serve.Sip;

/// <summary>Where a routed call stands, as the callee leg sees it.</summary>
internal enum RouteState
{
    Calling,
    Ringing,
    Answered,
    Confirmed,
    Failed,
}

/// <summary>
/// A call relayed from one registered phone to another by the server acting as a B2BUA: one dialog with the caller
/// (the server is its UAS), one with the callee (the server is its UAC), the SDP passed through unchanged both ways.
/// </summary>
internal sealed class RoutedCall
{
    public required string Id { get; init; }
    public required InviteTransaction Transaction { get; init; }
    public required byte[] CallerInvite { get; init; }
    public required SipPeer CallerPeer { get; init; }
    public required ListenerRuntime CallerListener { get; init; }
    public required string CallerTag { get; init; }
    public required string CallerCallId { get; init; }
    public required string CallerKey { get; init; }
    public required string CallerFrom { get; init; }
    public required string CallerTo { get; init; }
    public required string CallerContact { get; init; }
    public required string Caller { get; init; }
    public required string Callee { get; init; }
    public required SipSink CalleeSink { get; init; }
    public required SipPeer CalleePeer { get; init; }
    public required ListenerRuntime CalleeListener { get; init; }
    public required string CalleeCallId { get; init; }
    public required string CalleeTag { get; init; }
    public required string CalleeKey { get; init; }
    public required string Branch { get; init; }
    public required string CalleeUri { get; init; }
    public required string CalleeFrom { get; init; }
    public required string CalleeTo { get; init; }
    public required byte[] CalleeInvite { get; set; }
    public required long Started { get; init; }
    public string? Offer { get; init; }
    public string? Answer { get; set; }
    public string? CalleeToTag { get; set; }
    public string? CalleeContact { get; set; }
    public byte[]? CalleeAck { get; set; }
    public uint CalleeCSeq { get; set; } = 1;
    public uint CallerCSeq { get; set; }
    public RouteState State { get; set; }
    public bool Heard { get; set; }
    public bool CancelSent { get; set; }
    public int Status { get; set; }
    public long AnsweredAt { get; set; }
    public ITimer? Timer { get; set; }
    public TimeSpan Interval { get; set; }
    public ITimer? Ring { get; set; }
    public bool Ended { get; set; }
}

/// <summary>
/// A BYE or CANCEL the server sends as a UAC in a routed call: repeated on UDP until a final response (RFC 3261
/// §17.1.2.2: timer E from T1, doubling up to T2; timer F gives up after 64·T1), so a datagram lost in a firewall
/// does not leave the other phone's call up.
/// </summary>
internal sealed class RouteRequest
{
    public required string Key { get; init; }
    public required byte[] Bytes { get; init; }
    public required SipSink Sink { get; init; }
    public required long Started { get; init; }
    public TimeSpan Interval { get; set; }
    public ITimer? Timer { get; set; }
}

internal sealed partial class SipService
{
    /// <summary>Marks the branches of requests this server sends, so that one coming back is seen as a loop (RFC 3261 §16.3 item 4).</summary>
    private readonly string _routeCookie = "z9hG4bKcsr" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly Dictionary<string, Registration> _byUser = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RoutedCall> _routes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RoutedCall> _routeBranches = new(StringComparer.Ordinal);
    private readonly Queue<(long At, RoutedCall Call)> _routeExpiry = new();
    private readonly Dictionary<string, RouteRequest> _routeRequests = new(StringComparer.Ordinal);

    /// <summary>BYEs and CANCELs repeated at once at most: beyond it one is sent once, as before (two per routed call are the most a call needs).</summary>
    private const int MaxRouteRequests = 65_536;
    private long _routeSequence;

    /// <summary>Indexes a binding by its user (the number a caller dials). Under the lock.</summary>
    private void Bind(Registration r) => _byUser[r.User] = r;

    private void Unbind(Registration r)
    {
        if (_byUser.TryGetValue(r.User, out var current) && ReferenceEquals(current, r))
        {
            _byUser.Remove(r.User);
        }
    }

    /// <summary>A six-digit number 100000–999999: the phones' directory range, where a number no phone holds is unassigned (404).</summary>
    private static bool IsDirectoryNumber(string user) =>
        user.Length == 6 && user[0] != '0' && user.All(char.IsAsciiDigit) && int.Parse(user, CultureInfo.InvariantCulture) >= SccpDirectory.First;

    private static string? DialledUser(SipMessage m)
    {
        if (SipSyntax.TryParseUri(m[m.Uri], out var user, out _, out _) && !user.IsEmpty)
        {
            return Encoding.UTF8.GetString(user);
        }

        return SipSyntax.TryParseUri(SipSyntax.AddrSpec(m.Get(SipHeaderId.To)), out user, out _, out _) && !user.IsEmpty ? Encoding.UTF8.GetString(user) : null;
    }

    private bool CarriesOurBranch(SipMessage m)
    {
        var cookie = Encoding.ASCII.GetBytes(_routeCookie);
        for (var i = 0; i < m.ViaCount; i++)
        {
            if (SipVia.TryParse(m.Via(i), out var via) && via.Branch.StartsWith(cookie))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Routes a new INVITE to the registered phone it dials. Null when the number is not registered and not in the
    /// directory range: the server answers it itself (the echo pool), as without routing.
    /// </summary>
    private string? RouteInvite(SipMessage m, string key, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        if (DialledUser(m) is not { } user)
        {
            return null;
        }

        Registration? callee;
        lock (_lock)
        {
            _byUser.TryGetValue(user, out callee);
        }

        if (callee is null)
        {
            return IsDirectoryNumber(user) ? Refuse(m, key, peer, sink, listener, scratch, 404, "Not Found"u8, "no phone holds " + user) : null;
        }

        if (CarriesOurBranch(m))
        {
            return Refuse(m, key, peer, sink, listener, scratch, 482, "Loop Detected"u8, "the request came back to this server");
        }

        if (m.MaxForwards == 0)
        {
            return Refuse(m, key, peer, sink, listener, scratch, 483, "Too Many Hops"u8, "Max-Forwards 0");
        }

        if (callee.Sink is not { } calleeSink || callee.Runtime is not { } calleeListener || calleeSink is StreamSink { Closed: true })
        {
            return Refuse(m, key, peer, sink, listener, scratch, 503, "Service Unavailable"u8, "the connection of " + user + " is gone");
        }

        var tx = new InviteTransaction { Key = key, Sink = sink is UdpSink udp ? udp.Detach() : sink };
        var trying = Begin(scratch, m, 100, "Trying"u8, peer, sink, default);
        tx.Sink.Send(End(ref trying, m, peer, sink, default, default));
        tx.LastStatus = 100;

        var n = Interlocked.Increment(ref _routeSequence);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + n.ToString("x", CultureInfo.InvariantCulture);
        var host = Encoding.ASCII.GetString(EmbeddedHostBytes(calleeSink, callee.Peer));
        var port = (calleeListener.BoundEndPoint?.Port ?? calleeListener.Port).ToString(CultureInfo.InvariantCulture);
        var transportParam = calleeSink.Transport == "UDP" ? string.Empty : calleeSink.Transport == "TLS" ? ";transport=tls" : ";transport=tcp";
        var callerUser = SipSyntax.TryParseUri(SipSyntax.AddrSpec(m.Get(SipHeaderId.From)), out var fromUser, out _, out _) && !fromUser.IsEmpty
            ? Encoding.UTF8.GetString(fromUser)
            : "anonymous";
        var callerTag = Encoding.ASCII.GetString(NewTag());
        var callerCallId = Encoding.UTF8.GetString(m.Get(SipHeaderId.CallId));
        var calleeTag = Encoding.ASCII.GetString(NewTag());
        var calleeCallId = id + "@" + host;
        var r = new RoutedCall
        {
            Id = id,
            Transaction = tx,
            CallerInvite = m.Raw.ToArray(),
            CallerPeer = peer,
            CallerListener = listener,
            CallerTag = callerTag,
            CallerCallId = callerCallId,
            CallerKey = callerCallId + "|" + callerTag,
            CallerFrom = Encoding.UTF8.GetString(m.Get(SipHeaderId.From)),
            CallerTo = Encoding.UTF8.GetString(m.Get(SipHeaderId.To)) + ";tag=" + callerTag,
            CallerContact = m.Has(SipHeaderId.Contact) ? Encoding.UTF8.GetString(SipSyntax.AddrSpec(m.Get(SipHeaderId.Contact))) : Encoding.UTF8.GetString(SipSyntax.AddrSpec(m.Get(SipHeaderId.From))),
            Caller = callerUser,
            Callee = user,
            CalleeSink = calleeSink,
            CalleePeer = callee.Peer,
            CalleeListener = calleeListener,
            CalleeCallId = calleeCallId,
            CalleeTag = calleeTag,
            CalleeKey = calleeCallId + "|" + calleeTag,
            Branch = _routeCookie + "." + id,
            CalleeUri = callee.Contact,
            CalleeFrom = "<sip:" + callerUser + "@" + host + ">;tag=" + calleeTag,
            CalleeTo = "<sip:" + user + "@" + host + ">",
            CalleeInvite = [],
            Started = _context.Time.GetTimestamp(),
            Offer = m.Body.IsEmpty ? null : Encoding.ASCII.GetString(SdpConnection(m[m.Body])),
        };
        tx.Routed = r;

        var w = new SipWriter(scratch);
        w.Write("INVITE "u8);
        w.Write(r.CalleeUri);
        w.Write(" SIP/2.0\r\n"u8);
        WriteRouteVia(ref w, calleeSink, host, port, r.Branch);
        w.Write("Max-Forwards: "u8);
        w.Write(m.MaxForwards < 0 ? 70 : m.MaxForwards - 1);
        w.Crlf();
        w.Header("From"u8, Encoding.UTF8.GetBytes(r.CalleeFrom));
        w.Header("To"u8, Encoding.UTF8.GetBytes(r.CalleeTo));
        w.Header("Call-ID"u8, Encoding.UTF8.GetBytes(calleeCallId));
        w.Write("CSeq: 1 INVITE\r\nContact: <sip:"u8);
        w.Write(callerUser);
        w.Write((byte)'@');
        w.Write(host);
        w.Write((byte)':');
        w.Write(port);
        w.Write(transportParam);
        w.Write(">\r\n"u8);
        w.Header("Allow"u8, Allow);
        if (!m.Body.IsEmpty)
        {
            w.Header("Content-Type"u8, m.Has(SipHeaderId.ContentType) ? m.Get(SipHeaderId.ContentType) : "application/sdp"u8);
        }

        w.Write("Content-Length: "u8);
        w.Write(m.Body.Length);
        w.Write("\r\n\r\n"u8);
        w.Write(m[m.Body]);
        if (w.Overflow)
        {
            return Refuse(m, key, peer, sink, listener, scratch, 500, "Server Internal Error"u8, "the relayed INVITE does not fit");
        }

        r.CalleeInvite = w.Written.ToArray();
        _context.Routed.Sip.Attempt();
        lock (_lock)
        {
            _invites[key] = tx;
            _routes[r.CallerKey] = r;
            _routes[r.CalleeKey] = r;
            _routeBranches[r.Branch] = r;
            // Timer A on UDP (T1, doubling) until the callee answers anything; timer B (64·T1) on every transport.
            r.Interval = calleeSink.Reliable ? _options.T1 * 64 : _options.T1;
            r.Timer = _context.Time.CreateTimer(state => RouteRetransmit((RoutedCall)state!), r, r.Interval, Timeout.InfiniteTimeSpan);
            r.Ring = _context.Time.CreateTimer(state => RouteRingTimeout((RoutedCall)state!), r, _options.RouteRing, Timeout.InfiniteTimeSpan);
        }

        calleeSink.Send(r.CalleeInvite);
        return "sip-route";
    }

    private static void WriteRouteVia(ref SipWriter w, SipSink sink, string host, string port, string branch)
    {
        w.Write("Via: SIP/2.0/"u8);
        w.Write(sink.Transport);
        w.Write((byte)' ');
        w.Write(host);
        w.Write((byte)':');
        w.Write(port);
        w.Write(";branch="u8);
        w.Write(branch);
        w.Write(";rport\r\n"u8);
    }

    /// <summary>A final answer to an INVITE that is not routed on (404, 482, 483, 503), kept for its retransmissions and ACK.</summary>
    private string Refuse(SipMessage m, string key, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch, int code, ReadOnlySpan<byte> reason, string why)
    {
        var tx = new InviteTransaction { Key = key, Sink = sink is UdpSink udp ? udp.Detach() : sink };
        lock (_lock)
        {
            _invites[key] = tx;
        }

        var w = Begin(scratch, m, code, reason, peer, sink, NewTag());
        w.Header("Warning"u8, Encoding.UTF8.GetBytes($"399 {_context.Identity.HostName} \"{why}\""));
        FinalResponse(tx, End(ref w, m, peer, sink, default, default), code);
        _context.Ledger.Append(listener.Record("sip-route", peer.Text) with
        {
            Transport = sink.Transport.ToLowerInvariant(),
            Verdict = code.ToString(CultureInfo.InvariantCulture),
            Detail = new()
            {
                ["callId"] = Encoding.UTF8.GetString(m.Get(SipHeaderId.CallId)),
                ["callee"] = DialledUser(m) ?? "-",
                ["status"] = code.ToString(CultureInfo.InvariantCulture),
                ["reason"] = why,
            },
        });
        return "sip-" + code.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Timer A/B of the relayed INVITE (RFC 3261 §17.1.1.2): repeat on UDP until the callee answers; give up after 64·T1.</summary>
    private void RouteRetransmit(RoutedCall r)
    {
        byte[]? again = null;
        lock (_lock)
        {
            if (r.Heard || r.Ended)
            {
                return;
            }

            if (_context.Time.GetElapsedTime(r.Started) < _options.T1 * 64 && !r.CalleeSink.Reliable)
            {
                again = r.CalleeInvite;
                r.Interval *= 2;
                r.Timer?.Change(r.Interval, Timeout.InfiniteTimeSpan);
            }
        }

        if (again is not null)
        {
            r.CalleeSink.Send(again);
            return;
        }

        RouteFail(r, 408, "Request Timeout"u8, "unreachable", new byte[16 * 1024]);
    }

    /// <summary>The callee did not answer in time: 480 to the caller, CANCEL to the callee (or 408 when it never answered at all).</summary>
    private void RouteRingTimeout(RoutedCall r)
    {
        bool heard;
        lock (_lock)
        {
            if (r.Ended || r.State is RouteState.Answered or RouteState.Confirmed or RouteState.Failed)
            {
                return;
            }

            heard = r.Heard;
        }

        if (!heard)
        {
            RouteFail(r, 408, "Request Timeout"u8, "unreachable", new byte[16 * 1024]);
            return;
        }

        RouteFail(r, 480, "Temporarily Unavailable"u8, "no-answer", new byte[16 * 1024]);
        SendCancel(r);
    }

    /// <summary>A final failure to the caller (unless it has one), and the end of the routed call.</summary>
    private void RouteFail(RoutedCall r, int code, ReadOnlySpan<byte> reason, string verdict, byte[] scratch)
    {
        bool relay;
        lock (_lock)
        {
            relay = !r.Ended && r.Transaction.LastStatus < 200;
            if (relay)
            {
                r.Transaction.LastStatus = code;
                r.Status = code;
            }
        }

        if (relay)
        {
            FinalResponse(r.Transaction, ToCaller(r, scratch, code, reason, default, default, contact: false), code);
        }

        EndRoute(r, verdict);
    }

    /// <summary>A response to the caller's INVITE, built from the INVITE as it arrived.</summary>
    private byte[] ToCaller(RoutedCall r, byte[] scratch, int code, ReadOnlySpan<byte> reason, ReadOnlySpan<byte> contentType, ReadOnlySpan<byte> body, bool contact)
    {
        var m = new SipMessage(_options.MaxMessageSize, _options.MaxHeaders);
        m.Parse(r.CallerInvite);
        var sink = r.Transaction.Sink;
        var w = Begin(scratch, m, code, reason, r.CallerPeer, sink, Encoding.ASCII.GetBytes(r.CallerTag));
        if (contact)
        {
            WriteContact(ref w, m, r.CallerPeer, r.CallerListener, sink);
        }

        if (code is >= 200 and < 300)
        {
            w.Header("Allow"u8, Allow);
        }

        return End(ref w, m, r.CallerPeer, sink, contentType, body).ToArray();
    }

    /// <summary>A response from a callee: relayed to the caller when it answers a routed INVITE; others (BYE, CANCEL) are absorbed.</summary>
    private string RouteResponse(SipMessage m, byte[] scratch)
    {
        if (m.ViaCount == 0 || !SipVia.TryParse(m.Via(0), out var via))
        {
            return "sip-response";
        }

        if (!m[m.CSeqMethod].SequenceEqual("INVITE"u8))
        {
            if (m.StatusCode >= 200)
            {
                RouteRequestAnswered(Encoding.ASCII.GetString(via.Branch) + " " + Encoding.ASCII.GetString(m[m.CSeqMethod]));
            }

            return "sip-response";
        }

        RoutedCall? r;
        lock (_lock)
        {
            _routeBranches.TryGetValue(Encoding.ASCII.GetString(via.Branch), out r);
        }

        if (r is null)
        {
            return "sip-response";
        }

        var code = m.StatusCode;
        var toTag = Encoding.UTF8.GetString(SipSyntax.Tag(m.Get(SipHeaderId.To)));
        var contact = m.Has(SipHeaderId.Contact) ? Encoding.UTF8.GetString(SipSyntax.AddrSpec(m.Get(SipHeaderId.Contact))) : null;
        if (code < 200)
        {
            return RouteProvisional(r, m, code, toTag, contact, scratch);
        }

        if (code < 300)
        {
            return RouteAnswered(r, m, toTag, contact, scratch);
        }

        bool relay;
        lock (_lock)
        {
            r.Heard = true;
            r.CalleeToTag ??= toTag;
            if (r.State is RouteState.Answered or RouteState.Confirmed)
            {
                return "sip-response";
            }

            r.State = RouteState.Failed;
            relay = !r.Ended && r.Transaction.LastStatus < 200;
            if (relay)
            {
                r.Transaction.LastStatus = code;
                r.Status = code;
            }
        }

        // RFC 3261 §17.1.1.3: the ACK of a non-2xx final response shares the INVITE's branch.
        SendToCallee(r, CalleeRequest(r, scratch, "ACK", r.CalleeUri, r.Branch, 1, toTag));
        if (relay)
        {
            FinalResponse(r.Transaction, ToCaller(r, scratch, code, m[m.Reason], default, default, contact: false), code);
            EndRoute(r, "callee-" + code.ToString(CultureInfo.InvariantCulture));
        }

        return "sip-route-" + code.ToString(CultureInfo.InvariantCulture);
    }

    private string RouteProvisional(RoutedCall r, SipMessage m, int code, string toTag, string? contact, byte[] scratch)
    {
        bool cancel;
        lock (_lock)
        {
            r.Heard = true;
            cancel = r.Ended && !r.CancelSent;
            if (r.Ended || r.State is not (RouteState.Calling or RouteState.Ringing) || code == 100)
            {
                if (!cancel)
                {
                    return "sip-response";
                }
            }
            else
            {
                r.State = RouteState.Ringing;
                if (toTag.Length > 0)
                {
                    r.CalleeToTag = toTag;
                }

                r.CalleeContact = contact ?? r.CalleeContact;
            }
        }

        if (cancel)
        {
            // The caller gave up before the callee had answered anything: CANCEL now (RFC 3261 §9.1).
            SendCancel(r);
            return "sip-response";
        }

        var relay = ToCaller(r, scratch, code, m[m.Reason], m.Body.IsEmpty ? default : m.Get(SipHeaderId.ContentType), m[m.Body], contact: true);
        lock (_lock)
        {
            if (r.Transaction.LastStatus >= 200)
            {
                return "sip-response";
            }

            r.Transaction.LastResponse = relay;
            r.Transaction.LastStatus = code;
        }

        r.Transaction.Sink.Send(relay);
        return "sip-route-" + code.ToString(CultureInfo.InvariantCulture);
    }

    private string RouteAnswered(RoutedCall r, SipMessage m, string toTag, string? contact, byte[] scratch)
    {
        byte[]? ack = null;
        var late = false;
        lock (_lock)
        {
            r.Heard = true;
            if (r.State is RouteState.Answered or RouteState.Confirmed)
            {
                // A retransmitted 200: the ACK again once the caller has sent its own (RFC 3261 §13.2.2.4).
                ack = r.CalleeAck;
                if (ack is null)
                {
                    return "sip-response";
                }
            }
            else
            {
                r.CalleeToTag = toTag;
                r.CalleeContact = contact ?? r.CalleeContact;
                if (r.Ended || r.Transaction.LastStatus >= 200)
                {
                    // Answered after the caller cancelled or the ring time ran out: ACK, then BYE.
                    late = true;
                }
                else
                {
                    r.State = RouteState.Answered;
                    r.AnsweredAt = _context.Time.GetTimestamp();
                    r.Status = 200;
                    r.Answer = m.Body.IsEmpty ? null : Encoding.ASCII.GetString(SdpConnection(m[m.Body]));
                    r.Transaction.LastStatus = 200;
                    r.Ring?.Dispose();
                }
            }
        }

        if (ack is not null)
        {
            SendToCallee(r, ack);
            return "sip-response";
        }

        if (late)
        {
            SendToCallee(r, CalleeRequest(r, scratch, "ACK", r.CalleeContact ?? r.CalleeUri, NewBranch(), 1, toTag));
            ByeCallee(r, scratch);
            return "sip-route-late-200";
        }

        _context.Routed.Sip.Answer();
        var ok = ToCaller(r, scratch, 200, m[m.Reason], m.Body.IsEmpty ? default : m.Get(SipHeaderId.ContentType), m[m.Body], contact: true);
        r.Transaction.LastResponse = ok;
        StartRetransmissions(r.Transaction);
        r.Transaction.Sink.Send(ok);
        return "sip-route-200";
    }

    /// <summary>The caller's ACK of the relayed 200: relayed to the callee as the ACK of its own 200.</summary>
    private void RouteAck(RoutedCall r, byte[] scratch)
    {
        byte[] ack;
        lock (_lock)
        {
            if (r.State != RouteState.Answered && r.CalleeAck is null)
            {
                return;
            }

            r.State = RouteState.Confirmed;
            ack = r.CalleeAck ??= CalleeRequest(r, scratch, "ACK", r.CalleeContact ?? r.CalleeUri, NewBranch(), 1, r.CalleeToTag);
        }

        SendToCallee(r, ack);
    }

    /// <summary>BYE from either phone: 200 to it, BYE to the other, the routed call ends.</summary>
    private string RouteBye(RoutedCall r, string key, SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        Send(sink, scratch, Simple(m, 200, "OK"u8, peer, sink, listener, scratch));
        bool ended;
        lock (_lock)
        {
            ended = r.Ended;
        }

        if (ended)
        {
            return "sip-bye";
        }

        if (key == r.CallerKey)
        {
            byte[]? ack;
            lock (_lock)
            {
                ack = r.CalleeAck is null && r.State == RouteState.Answered
                    ? r.CalleeAck = CalleeRequest(r, scratch, "ACK", r.CalleeContact ?? r.CalleeUri, NewBranch(), 1, r.CalleeToTag)
                    : null;
            }

            if (ack is not null)
            {
                SendToCallee(r, ack);
            }

            ByeCallee(r, scratch);
            EndRoute(r, "completed-by-caller");
        }
        else
        {
            ByeCaller(r, scratch);
            EndRoute(r, "completed-by-callee");
        }

        return "sip-bye";
    }

    private void ByeCallee(RoutedCall r, byte[] scratch)
    {
        uint cseq;
        lock (_lock)
        {
            cseq = ++r.CalleeCSeq;
        }

        var branch = NewBranch();
        SendRouteRequest(r.CalleeSink, branch, "BYE", CalleeRequest(r, scratch, "BYE", r.CalleeContact ?? r.CalleeUri, branch, cseq, r.CalleeToTag));
    }

    private void ByeCaller(RoutedCall r, byte[] scratch)
    {
        uint cseq;
        lock (_lock)
        {
            cseq = ++r.CallerCSeq;
        }

        var sink = r.Transaction.Sink;
        var host = Encoding.ASCII.GetString(EmbeddedHostBytes(sink, r.CallerPeer));
        var port = (r.CallerListener.BoundEndPoint?.Port ?? r.CallerListener.Port).ToString(CultureInfo.InvariantCulture);
        var w = new SipWriter(scratch);
        w.Write("BYE "u8);
        w.Write(r.CallerContact);
        w.Write(" SIP/2.0\r\n"u8);
        var branch = NewBranch();
        WriteRouteVia(ref w, sink, host, port, branch);
        w.Write("Max-Forwards: 70\r\n"u8);
        w.Header("From"u8, Encoding.UTF8.GetBytes(r.CallerTo));
        w.Header("To"u8, Encoding.UTF8.GetBytes(r.CallerFrom));
        w.Header("Call-ID"u8, Encoding.UTF8.GetBytes(r.CallerCallId));
        w.Write("CSeq: "u8);
        w.Write(cseq);
        w.Write(" BYE\r\nContent-Length: 0\r\n\r\n"u8);
        if (!w.Overflow)
        {
            SendRouteRequest(sink, branch, "BYE", w.Written.ToArray());
        }
    }

    /// <summary>CANCEL of the relayed INVITE: same Request-URI, Via branch, From, To and Call-ID, CSeq number with CANCEL (RFC 3261 §9.1).</summary>
    private void SendCancel(RoutedCall r)
    {
        lock (_lock)
        {
            if (r.CancelSent || r.State is RouteState.Answered or RouteState.Confirmed or RouteState.Failed)
            {
                return;
            }

            r.CancelSent = true;
        }

        SendRouteRequest(r.CalleeSink, r.Branch, "CANCEL", CalleeRequest(r, new byte[16 * 1024], "CANCEL", r.CalleeUri, r.Branch, 1, null));
    }

    /// <summary>Sends a BYE or CANCEL of a routed call; on UDP it is repeated until answered (timers E and F).</summary>
    private void SendRouteRequest(SipSink sink, string branch, string method, byte[] request)
    {
        sink.Send(request);
        if (sink.Reliable)
        {
            return;
        }

        var q = new RouteRequest { Key = branch + " " + method, Bytes = request, Sink = sink, Started = _context.Time.GetTimestamp(), Interval = _options.T1 };
        lock (_lock)
        {
            if (_routeRequests.Count >= MaxRouteRequests || _routeRequests.ContainsKey(q.Key))
            {
                return;
            }

            _routeRequests[q.Key] = q;
            q.Timer = _context.Time.CreateTimer(state => RepeatRouteRequest((RouteRequest)state!), q, q.Interval, Timeout.InfiniteTimeSpan);
        }
    }

    private void RepeatRouteRequest(RouteRequest q)
    {
        lock (_lock)
        {
            if (!_routeRequests.TryGetValue(q.Key, out var current) || !ReferenceEquals(current, q))
            {
                return;
            }

            if (_context.Time.GetElapsedTime(q.Started) >= _options.T1 * 64)
            {
                // Timer F: the other side is gone; the call has ended here already.
                _routeRequests.Remove(q.Key);
                q.Timer?.Dispose();
                return;
            }

            q.Interval = q.Interval * 2 < _options.T2 ? q.Interval * 2 : _options.T2;
            q.Timer?.Change(q.Interval, Timeout.InfiniteTimeSpan);
        }

        q.Sink.Send(q.Bytes);
    }

    /// <summary>A final response to a BYE or CANCEL the server sent: no more repeats.</summary>
    private void RouteRequestAnswered(string key)
    {
        lock (_lock)
        {
            if (_routeRequests.Remove(key, out var q))
            {
                q.Timer?.Dispose();
            }
        }
    }

    /// <summary>A request of the callee dialog (ACK, BYE, CANCEL) from the server as its UAC.</summary>
    private byte[] CalleeRequest(RoutedCall r, byte[] scratch, string method, string uri, string branch, uint cseq, string? toTag)
    {
        var host = Encoding.ASCII.GetString(EmbeddedHostBytes(r.CalleeSink, r.CalleePeer));
        var port = (r.CalleeListener.BoundEndPoint?.Port ?? r.CalleeListener.Port).ToString(CultureInfo.InvariantCulture);
        var w = new SipWriter(scratch);
        w.Write(method);
        w.Write((byte)' ');
        w.Write(uri);
        w.Write(" SIP/2.0\r\n"u8);
        WriteRouteVia(ref w, r.CalleeSink, host, port, branch);
        w.Write("Max-Forwards: 70\r\n"u8);
        w.Header("From"u8, Encoding.UTF8.GetBytes(r.CalleeFrom));
        w.Write("To: "u8);
        w.Write(r.CalleeTo);
        if (!string.IsNullOrEmpty(toTag))
        {
            w.Write(";tag="u8);
            w.Write(toTag);
        }

        w.Crlf();
        w.Header("Call-ID"u8, Encoding.UTF8.GetBytes(r.CalleeCallId));
        w.Write("CSeq: "u8);
        w.Write(cseq);
        w.Write((byte)' ');
        w.Write(method);
        w.Write("\r\nContent-Length: 0\r\n\r\n"u8);
        return w.Written.ToArray();
    }

    private static void SendToCallee(RoutedCall r, byte[] request) => r.CalleeSink.Send(request);

    private string NewBranch() =>
        _routeCookie + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>Ends a routed call once: timers stopped, counters, one ledger record. Its keys stay 64·T1 for late messages.</summary>
    private void EndRoute(RoutedCall r, string verdict)
    {
        lock (_lock)
        {
            if (r.Ended)
            {
                return;
            }

            r.Ended = true;
            r.Timer?.Dispose();
            r.Ring?.Dispose();
            _routeExpiry.Enqueue((_context.Time.GetTimestamp(), r));
        }

        _context.Routed.Sip.End(r.AnsweredAt != 0);

        var duration = (long)_context.Time.GetElapsedTime(r.Started).TotalMilliseconds;
        var detail = new Dictionary<string, string>
        {
            ["caller"] = r.Caller,
            ["callee"] = r.Callee,
            ["callId"] = r.CallerCallId,
            ["calleeCallId"] = r.CalleeCallId,
            ["calleeContact"] = r.CalleeUri,
            ["calleePeer"] = r.CalleePeer.Text,
            ["calleeTransport"] = r.CalleeSink.Transport.ToLowerInvariant(),
            ["status"] = r.Status.ToString(CultureInfo.InvariantCulture),
        };
        if (r.AnsweredAt != 0)
        {
            detail["setupMs"] = _context.Time.GetElapsedTime(r.Started, r.AnsweredAt).TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        }

        if (r.Offer is not null)
        {
            detail["offer"] = r.Offer;
        }

        if (r.Answer is not null)
        {
            detail["answer"] = r.Answer;
        }

        _context.Ledger.Append(r.CallerListener.Record("sip-route", r.CallerPeer.Text) with
        {
            Transport = r.Transaction.Sink.Transport.ToLowerInvariant(),
            Verdict = verdict,
            DurationMs = duration,
            Detail = detail,
        });
    }

    /// <summary>Forgets routed calls that ended more than 64·T1 ago. Under the lock.</summary>
    private void SweepRoutes(long now)
    {
        while (_routeExpiry.TryPeek(out var e) && _context.Time.GetElapsedTime(e.At, now) > _options.T1 * 64)
        {
            _routeExpiry.Dequeue();
            var r = e.Call;
            foreach (var key in (ReadOnlySpan<string>)[r.CallerKey, r.CalleeKey])
            {
                if (_routes.TryGetValue(key, out var current) && ReferenceEquals(current, r))
                {
                    _routes.Remove(key);
                }
            }

            if (_routeBranches.TryGetValue(r.Branch, out var byBranch) && ReferenceEquals(byBranch, r))
            {
                _routeBranches.Remove(r.Branch);
            }
        }
    }
}

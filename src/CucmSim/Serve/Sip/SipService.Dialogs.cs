using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Sip;

namespace CucmSim.Serve.Sip;

/// <summary>A binding of the registrar (RFC 3261 §10.3).</summary>
internal sealed class Registration
{
    public required string Aor { get; init; }
    public required string User { get; init; }
    public required string Contact { get; set; }
    public required SipPeer Peer { get; set; }
    public required DateTimeOffset Expires { get; set; }
    public required string Listener { get; init; }
    public required string Transport { get; init; }

    /// <summary>Where requests for this phone go: its UDP source address, or the connection it registered on.</summary>
    public SipSink? Sink { get; set; }

    public ListenerRuntime? Runtime { get; set; }
}

/// <summary>An INVITE server transaction (RFC 3261 §17.2.1): the last response, for retransmitted INVITEs and timer G.</summary>
internal sealed class InviteTransaction
{
    public required string Key { get; init; }
    public required SipSink Sink { get; init; }
    public SipCall? Call { get; set; }
    public RoutedCall? Routed { get; set; }
    public byte[]? LastResponse { get; set; }
    public int LastStatus { get; set; }
    public ITimer? Timer { get; set; }
    public TimeSpan Interval { get; set; }
    public long FinalAt { get; set; }
    public bool Done { get; set; }
    public long DoneAt { get; set; }

    /// <summary>Bytes the answers may take (long.MaxValue: no bound) and bytes sent so far; under the service's lock.</summary>
    public long Budget { get; set; } = long.MaxValue;
    public long Spent { get; set; }
}

/// <summary>A call (an INVITE dialog, RFC 3261 §12) holding a media port of the pool.</summary>
internal sealed class SipCall
{
    public required string Key { get; init; }
    public required string CallId { get; init; }
    public required string LocalTag { get; init; }
    public required SipPeer Peer { get; init; }
    public required string Listener { get; init; }
    public required string Transport { get; init; }
    public required int MediaPort { get; init; }
    public required long Started { get; init; }
    public required InviteTransaction Transaction { get; init; }
    public string? OfferAddress { get; init; }
    public int OfferPort { get; init; }
    public string? Mirror { get; init; }
    public long AnsweredAt { get; set; }
    public bool Confirmed { get; set; }
    public bool Ended { get; set; }
    public byte[]? Ok { get; set; }
    public ITimer? AnswerTimer { get; set; }
}

internal sealed partial class SipService
{
    private static readonly TimeSpan NonceLifetime = TimeSpan.FromMinutes(5);

    // ---------------------------------------------------------------- REGISTER (RFC 3261 §10.3)

    private string Register(SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        var toUri = SipSyntax.AddrSpec(m.Get(SipHeaderId.To));
        if (!SipSyntax.TryParseUri(toUri, out var userBytes, out var hostBytes, out _))
        {
            Send(sink, scratch, Simple(m, 400, "Bad Request - bad To URI"u8, peer, sink, listener, scratch));
            return "sip-400";
        }

        var user = Encoding.UTF8.GetString(userBytes.IsEmpty ? hostBytes : userBytes);
        var aor = Encoding.UTF8.GetString(userBytes) + "@" + Encoding.UTF8.GetString(hostBytes);
        if (DigestOn)
        {
            var verdict = Authorize(m, peer, sink, scratch);
            if (verdict == AuthResult.Forbidden)
            {
                _context.Devices.Rejected();
                RecordRegistration(listener, sink, peer, aor, "forbidden", null, 0, m);
                Send(sink, scratch, Simple(m, 403, "Forbidden"u8, peer, sink, listener, scratch));
                return "sip-403";
            }

            if (verdict == AuthResult.Challenge)
            {
                return "sip-401";
            }
        }

        var contactValue = m.Get(SipHeaderId.Contact);
        var expiresHeader = m.Get(SipHeaderId.Expires);
        int? headerExpires = SipMessage.TryParseUInt(expiresHeader, out var he) ? (int)Math.Min(he, int.MaxValue) : null;
        Registration? current;
        string verdictText;
        var expires = 0;
        string? contact = null;
        if (contactValue.Trim(" \t"u8).SequenceEqual("*"u8))
        {
            // RFC 3261 §10.3 step 6: "*" removes every binding, and only with Expires: 0.
            if (headerExpires != 0)
            {
                Send(sink, scratch, Simple(m, 400, "Bad Request - wildcard Contact needs Expires: 0"u8, peer, sink, listener, scratch));
                return "sip-400";
            }

            verdictText = "unregistered";
            lock (_lock)
            {
                if (_registrations.Remove(aor, out current))
                {
                    PeerLeft(current.Peer.Address);
                    Unbind(current);
                }
            }
        }
        else if (contactValue.IsEmpty)
        {
            // A query (RFC 3261 §10.2.3): answer with the current binding.
            verdictText = "queried";
            lock (_lock)
            {
                _registrations.TryGetValue(aor, out current);
            }

            current = null;
        }
        else
        {
            contact = Encoding.UTF8.GetString(SipSyntax.AddrSpec(contactValue));
            var param = SipSyntax.Param(SipSyntax.HeaderParams(contactValue), "expires"u8, out var pe) && SipMessage.TryParseUInt(pe, out var pv) ? (int?)Math.Min(pv, int.MaxValue) : null;
            expires = Math.Min(param ?? headerExpires ?? _options.DefaultExpires, _options.MaxExpires);
            var now = _context.Time.GetUtcNow();
            if (expires == 0)
            {
                verdictText = "unregistered";
                lock (_lock)
                {
                    if (_registrations.Remove(aor, out current))
                    {
                        PeerLeft(current.Peer.Address);
                        Unbind(current);
                    }
                }
            }
            else
            {
                lock (_lock)
                {
                    if (!_registrations.TryGetValue(aor, out current) && _registrations.Count >= _options.MaxRegistrations)
                    {
                        current = null;
                        verdictText = "full";
                    }
                    else
                    {
                        verdictText = "registered";
                        if (current is null)
                        {
                            current = _registrations[aor] = new Registration
                            {
                                Aor = aor,
                                User = user,
                                Contact = contact,
                                Peer = peer,
                                Expires = now,
                                Listener = listener.Id,
                                Transport = sink.Transport,
                            };
                        }
                        else
                        {
                            PeerLeft(current.Peer.Address);
                        }

                        PeerJoined(peer.Address);
                        current.Contact = contact;
                        current.Peer = peer;
                        current.Expires = now.AddSeconds(expires);
                        current.Sink = sink is UdpSink udp ? udp.Detach() : sink;
                        current.Runtime = listener;
                        Bind(current);
                    }
                }

                if (verdictText == "full")
                {
                    Send(sink, scratch, Simple(m, 503, "Service Unavailable"u8, peer, sink, listener, scratch));
                    return "sip-503";
                }
            }
        }

        // The registry first, then the answer: whoever has seen the 200 (the phone, a test, an AXL listPhone
        // after it) finds the device registered, or gone.
        if (verdictText == "registered")
        {
            _context.Devices.Register(new DeviceRecord(user, "sip", "SIP", null, ContactHost(contact), peer.Text, listener.Id, _context.Time.GetUtcNow()));
            RecordRegistration(listener, sink, peer, aor, verdictText, contact, expires, m);
        }
        else if (verdictText == "unregistered")
        {
            _context.Devices.Unregister(user);
            RecordRegistration(listener, sink, peer, aor, verdictText, contact, 0, m);
        }

        var ok = Begin(scratch, m, 200, "OK"u8, peer, sink, StatelessTag(m));
        if (verdictText == "registered")
        {
            ok.Write("Contact: <"u8);
            ok.Write(contact);
            ok.Write(">;expires="u8);
            ok.Write(expires);
            ok.Crlf();
        }

        ok.Write("Date: "u8);
        ok.Write(_context.Time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture));
        ok.Crlf();
        Send(sink, scratch, End(ref ok, m, peer, sink, default, default));
        return "sip-register";
    }

    private static string? ContactHost(string? contact) =>
        contact is not null && SipSyntax.TryParseUri(Encoding.UTF8.GetBytes(contact), out _, out var host, out _) ? Encoding.UTF8.GetString(host).Trim('[', ']') : null;

    private void RecordRegistration(ListenerRuntime listener, SipSink sink, SipPeer peer, string aor, string verdict, string? contact, int expires, SipMessage? m)
    {
        LogRegistration(_log, listener.Id, aor, verdict, peer.Text, contact ?? "-", expires);
        var detail = new Dictionary<string, string> { ["aor"] = aor, ["expires"] = expires.ToString(CultureInfo.InvariantCulture) };
        if (contact is not null)
        {
            detail["contact"] = contact;
        }

        if (m is not null)
        {
            Span<byte> mirror = stackalloc byte[(MaxMirrorField * 4) + MaxMirrorBody + 256];
            detail["mirror"] = Convert.ToBase64String(mirror[..WriteMirror(mirror, m, peer, sink)]);
        }

        _context.Ledger.Append(listener.Record("sip-register", peer.Text) with
        {
            Transport = sink.Transport.ToLowerInvariant(),
            Verdict = verdict,
            Detail = detail,
        });
    }

    private void Unregistered(Registration r, string verdict)
    {
        _context.Devices.Unregister(r.User);
        LogRegistration(_log, r.Listener, r.Aor, verdict, r.Peer.Text, r.Contact, 0);
        _context.Ledger.Append(new LedgerRecord
        {
            Kind = "sip-register",
            Listener = r.Listener,
            Protocol = "sip",
            Transport = r.Transport.ToLowerInvariant(),
            Peer = r.Peer.Text,
            Verdict = verdict,
            Detail = new() { ["aor"] = r.Aor, ["contact"] = r.Contact },
        });
    }

    private enum AuthResult
    {
        Ok,
        Challenge,
        Forbidden,
    }

    /// <summary>Digest is on once a user or a common password is set: REGISTER, a new INVITE and BYE are challenged.</summary>
    private bool DigestOn => _options.Password is not null || _options.Users.Count > 0;

    /// <summary>
    /// Checks a request's digest credentials; when they are missing, for another realm or stale, answers with the
    /// challenge (RFC 3261 §22.4, RFC 2617 §3.2.1), a 401 with a fresh nonce. Forbidden is the caller's to answer.
    /// </summary>
    private AuthResult Authorize(SipMessage m, SipPeer peer, SipSink sink, byte[] scratch)
    {
        var verdict = Authenticate(m, out var stale);
        if (verdict != AuthResult.Challenge)
        {
            return verdict;
        }

        var w = Begin(scratch, m, 401, "Unauthorized"u8, peer, sink, StatelessTag(m));
        w.Write("WWW-Authenticate: Digest realm=\""u8);
        w.Write(_options.Realm);
        w.Write("\", nonce=\""u8);
        WriteNonce(ref w);
        w.Write("\", algorithm=MD5, qop=\"auth\""u8);
        if (stale)
        {
            w.Write(", stale=true"u8);
        }

        w.Crlf();
        Send(sink, scratch, End(ref w, m, peer, sink, default, default));
        return verdict;
    }

    /// <summary>
    /// The digest check of a phone's INVITE or BYE: null when it may go on (digest off, a trunk peer, valid
    /// credentials); else the verdict of the 401 challenge or of the 403 this sends.
    /// </summary>
    private string? Challenge(SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        if (!DigestOn || IsTrunkPeer(peer))
        {
            return null;
        }

        switch (Authorize(m, peer, sink, scratch))
        {
            case AuthResult.Challenge:
                return "sip-401";
            case AuthResult.Forbidden:
                Send(sink, scratch, Simple(m, 403, "Forbidden"u8, peer, sink, listener, scratch));
                return "sip-403";
            default:
                return null;
        }
    }

    private AuthResult Authenticate(SipMessage m, out bool stale)
    {
        stale = false;
        var header = m.Get(SipHeaderId.Authorization);
        if (header.IsEmpty || SipDigest.ParseChallengeOrCredentials(header) is not { } p)
        {
            return AuthResult.Challenge;
        }

        if (!p.TryGetValue("realm", out var realm) || realm != _options.Realm || !p.TryGetValue("nonce", out var nonce))
        {
            return AuthResult.Challenge;
        }

        var age = NonceAge(nonce);
        if (age is null)
        {
            return AuthResult.Challenge;
        }

        if (age > NonceLifetime)
        {
            stale = true;
            return AuthResult.Challenge;
        }

        if (!p.TryGetValue("username", out var user) || !p.TryGetValue("response", out var response) || !p.TryGetValue("uri", out var uri))
        {
            return AuthResult.Forbidden;
        }

        var password = _options.Users.TryGetValue(user, out var pw) ? pw : _options.Password;
        if (password is null)
        {
            return AuthResult.Forbidden;
        }

        p.TryGetValue("qop", out var qop);
        p.TryGetValue("nc", out var nc);
        p.TryGetValue("cnonce", out var cnonce);
        var expected = SipDigest.Response(user, realm, password, Encoding.ASCII.GetString(m[m.MethodRange]), uri, nonce, qop, nc, cnonce);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(response.ToLowerInvariant()))
            ? AuthResult.Ok
            : AuthResult.Forbidden;
    }

    /// <summary>A nonce is its issue time and a MAC of it under a per-process key: no state, checkable, expiring.</summary>
    private void WriteNonce(ref SipWriter w)
    {
        Span<byte> data = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(data, _context.Time.GetUtcNow().UtcTicks);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_nonceKey, data[..8], mac);
        mac[..8].CopyTo(data[8..]);
        w.Hex(data);
    }

    private TimeSpan? NonceAge(string nonce)
    {
        if (nonce.Length != 32)
        {
            return null;
        }

        byte[] data;
        try
        {
            data = Convert.FromHexString(nonce);
        }
        catch (FormatException)
        {
            return null;
        }

        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_nonceKey, data.AsSpan(0, 8), mac);
        if (!CryptographicOperations.FixedTimeEquals(mac[..8], data.AsSpan(8, 8)))
        {
            return null;
        }

        var issued = new DateTimeOffset(BinaryPrimitives.ReadInt64BigEndian(data), TimeSpan.Zero);
        return _context.Time.GetUtcNow() - issued;
    }

    // ---------------------------------------------------------------- INVITE (RFC 3261 §13.3, §17.2.1)

    private static string TransactionKey(SipMessage m, SipVia topVia)
    {
        var branch = topVia.Branch;
        if (branch.StartsWith("z9hG4bK"u8))
        {
            return Encoding.ASCII.GetString(branch) + "|" + Encoding.ASCII.GetString(topVia.Host) + ":" + topVia.Port.ToString(CultureInfo.InvariantCulture);
        }

        // RFC 2543 peers (RFC 3261 §17.2.3): Request-URI, Call-ID, From tag, CSeq number and top Via.
        return Encoding.UTF8.GetString(m.Get(SipHeaderId.CallId)) + "|" + m.CSeqNumber.ToString(CultureInfo.InvariantCulture) + "|"
            + Encoding.UTF8.GetString(SipSyntax.Tag(m.Get(SipHeaderId.From))) + "|" + Encoding.UTF8.GetString(m.Via(0));
    }

    private static string? DialogKey(SipMessage m)
    {
        var toTag = SipSyntax.Tag(m.Get(SipHeaderId.To));
        return toTag.IsEmpty ? null : Encoding.UTF8.GetString(m.Get(SipHeaderId.CallId)) + "|" + Encoding.UTF8.GetString(toTag);
    }

    private string Invite(SipMessage m, SipVia topVia, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        var key = TransactionKey(m, topVia);
        InviteTransaction? existing;
        lock (_lock)
        {
            _invites.TryGetValue(key, out existing);
        }

        if (existing is not null)
        {
            // A retransmitted INVITE: the last response again (RFC 3261 §17.2.1), no new call. The peer's own
            // retransmission adds to the budget of an unknown peer's transaction.
            var more = Budget(m, peer, sink);
            lock (_lock)
            {
                existing.Budget = more == long.MaxValue || existing.Budget == long.MaxValue ? long.MaxValue : existing.Budget + more;
            }

            if (existing.LastResponse is { } last)
            {
                TrySend(existing, last, always: false);
            }

            return "sip-retransmission";
        }

        // A re-INVITE inside a known dialog: the same media, a new 200 (session refresh / hold).
        if (DialogKey(m) is { } dialogKey)
        {
            SipCall? dialog;
            bool routed;
            lock (_lock)
            {
                _calls.TryGetValue(dialogKey, out dialog);
                routed = _routes.ContainsKey(dialogKey);
            }

            if (routed)
            {
                // A routed call keeps the media the two phones agreed on: no re-negotiation through the server.
                Send(sink, scratch, Simple(m, 488, "Not Acceptable Here"u8, peer, sink, listener, scratch));
                return "sip-488";
            }

            if (dialog is null)
            {
                Send(sink, scratch, Simple(m, 481, "Call/Transaction Does Not Exist"u8, peer, sink, listener, scratch));
                return "sip-481";
            }

            var answer = BuildAnswer(m.Body.IsEmpty ? null : SdpSession.Parse(m[m.Body], out _), dialog.MediaPort, Embedded(sink, peer));
            var w = Begin(scratch, m, 200, "OK"u8, peer, sink, default);
            WriteContact(ref w, m, peer, listener, sink);
            Send(sink, scratch, End(ref w, m, peer, sink, "application/sdp"u8, answer));
            return "sip-reinvite";
        }

        // CUCM challenges every request of a phone with digest authentication but its keepalives (Security Guide,
        // "Digest Authentication for Phones"): a new INVITE too, before it is routed or answered. The 401 is stateless,
        // as REGISTER's: its ACK is absorbed, a repeated INVITE gets another. A trunk peer's INVITE is not challenged
        // (CUCM's trunk digest is a setting of its own, off by default).
        if (Challenge(m, peer, sink, listener, scratch) is { } challenged)
        {
            return challenged;
        }

        if (_options.Route && RouteInvite(m, key, peer, sink, listener, scratch) is { } verdict)
        {
            return verdict;
        }

        var tx = new InviteTransaction { Key = key, Sink = sink is UdpSink udp ? udp.Detach() : sink, Budget = Budget(m, peer, sink) };
        lock (_lock)
        {
            _invites[key] = tx;
        }

        // 100 Trying at once (RFC 3261 §17.2.1), without a To tag. Not to an unknown UDP peer: a 180 or a final
        // response follows at once, and §17.2.1 asks for the 100 only when no provisional comes within 200 ms.
        if (tx.Budget == long.MaxValue)
        {
            var trying = Begin(scratch, m, 100, "Trying"u8, peer, sink, default);
            tx.Sink.Send(End(ref trying, m, peer, sink, default, default));
        }

        tx.LastStatus = 100;

        var localTag = NewTag();
        var answerSdp = default(byte[]);
        string? offerAddress = null;
        var offerPort = 0;
        SdpSession? offer = null;
        if (!m.Body.IsEmpty)
        {
            offer = SdpSession.Parse(m[m.Body], out var sdpError);
            if (offer is null || offer.Media.Count == 0)
            {
                // RFC 3261 §13.3.1.3: an offer that cannot be answered. One that did not parse (oversized, too many
                // lines or media, bad syntax) is malformed input too.
                if (offer is null)
                {
                    listener.MalformedInput();
                    Interlocked.Increment(ref _malformed);
                }

                var w488 = Begin(scratch, m, 488, "Not Acceptable Here"u8, peer, sink, localTag);
                w488.Header("Warning"u8, Encoding.UTF8.GetBytes($"399 {_context.Identity.HostName} \"{sdpError ?? "no media"}\""));
                FinalResponse(tx, End(ref w488, m, peer, sink, default, default), 488);
                return "sip-488";
            }

            offerAddress = offer.AddressFor(offer.Media[0]);
            offerPort = offer.Media[0].Port;
        }

        var callId = Encoding.UTF8.GetString(m.Get(SipHeaderId.CallId));
        int port = 0;
        bool full;
        lock (_lock)
        {
            full = _calls.Count >= _options.MaxCalls;
        }

        if (full || _context.Rtp is not { } rtp || !rtp.TryAllocate("sip:" + callId, out port))
        {
            var w503 = Begin(scratch, m, 503, "Service Unavailable"u8, peer, sink, localTag);
            w503.Header("Warning"u8, Encoding.UTF8.GetBytes($"399 {_context.Identity.HostName} \"{(_context.Rtp is null ? "no media ports (the RTP pool is not served)" : "no free media port or too many calls")}\""));
            FinalResponse(tx, End(ref w503, m, peer, sink, default, default), 503);
            return "sip-503";
        }

        answerSdp = BuildAnswer(offer, port, Embedded(sink, peer));
        Span<byte> mirror = stackalloc byte[(MaxMirrorField * 4) + MaxMirrorBody + 256];
        var call = new SipCall
        {
            Key = callId + "|" + Encoding.ASCII.GetString(localTag),
            CallId = callId,
            LocalTag = Encoding.ASCII.GetString(localTag),
            Peer = peer,
            Listener = listener.Id,
            Transport = sink.Transport,
            MediaPort = port,
            Started = _context.Time.GetTimestamp(),
            Transaction = tx,
            OfferAddress = offerAddress,
            OfferPort = offerPort,
            Mirror = Convert.ToBase64String(mirror[..WriteMirror(mirror, m, peer, sink)]),
        };
        tx.Call = call;
        Interlocked.Increment(ref _callsStarted);
        lock (_lock)
        {
            _calls[call.Key] = call;
        }

        // The 200 first: an unknown UDP peer's 180 is sent only when the 200 still fits the budget after it.
        var ok = Begin(scratch, m, 200, "OK"u8, peer, sink, localTag);
        WriteContact(ref ok, m, peer, listener, sink);
        ok.Header("Allow"u8, Allow);
        call.Ok = End(ref ok, m, peer, sink, "application/sdp"u8, answerSdp).ToArray();

        var ringing = Begin(scratch, m, 180, "Ringing"u8, peer, sink, localTag);
        WriteContact(ref ringing, m, peer, listener, sink);
        var ringingBytes = End(ref ringing, m, peer, sink, default, default);
        tx.LastResponse = ringingBytes.ToArray();
        tx.LastStatus = 180;
        if (tx.Budget == long.MaxValue || ringingBytes.Length + call.Ok.Length <= tx.Budget)
        {
            TrySend(tx, ringingBytes, always: true);
        }
        else
        {
            Interlocked.Increment(ref _withheld);
        }
        if (_options.RingDelay <= TimeSpan.Zero)
        {
            Answer(call);
        }
        else
        {
            call.AnswerTimer = _context.Time.CreateTimer(state => Answer((SipCall)state!), call, _options.RingDelay, Timeout.InfiniteTimeSpan);
        }

        return "sip-invite";
    }

    private byte[] BuildAnswer(SdpSession? offer, int port, IPAddress embedded)
    {
        var id = Interlocked.Read(ref _callsStarted) + 2000;
        return Encoding.ASCII.GetBytes(SdpSession.Answer(offer, "CiscoSystemsCCM-SIP", embedded.ToString(), port, id).ToString());
    }

    private static byte[] NewTag()
    {
        // Tags must be unique, not secret (RFC 3261 §19.3): the shared PRNG is enough.
        Span<byte> random = stackalloc byte[5];
        Random.Shared.NextBytes(random);
        return Encoding.ASCII.GetBytes(Convert.ToHexStringLower(random));
    }

    /// <summary>Sends the 200 (now, or when the ring delay passes) unless the call was cancelled meanwhile.</summary>
    private void Answer(SipCall call)
    {
        var tx = call.Transaction;
        lock (_lock)
        {
            if (call.Ended || tx.LastStatus >= 200)
            {
                return;
            }

            tx.LastStatus = 200;
            tx.LastResponse = call.Ok;
            call.AnsweredAt = _context.Time.GetTimestamp();
        }

        // Timers first: whoever sees the 200 may already be counting on its retransmission.
        StartRetransmissions(tx);
        TrySend(tx, call.Ok, always: true);
    }

    /// <summary>A final non-2xx response of an INVITE: kept for retransmitted INVITEs, repeated on UDP until the ACK (timers G and H).</summary>
    private void FinalResponse(InviteTransaction tx, ReadOnlySpan<byte> response, int status)
    {
        tx.LastResponse = response.ToArray();
        tx.LastStatus = status;
        StartRetransmissions(tx);
        TrySend(tx, response, always: true);
    }

    /// <summary>
    /// Sends an answer of the transaction and counts it against its budget. The first final response always goes
    /// (it is the answer); a retransmission or a provisional response that would exceed the budget does not.
    /// </summary>
    private void TrySend(InviteTransaction tx, ReadOnlySpan<byte> response, bool always)
    {
        lock (_lock)
        {
            if (!always && tx.Spent + response.Length > tx.Budget)
            {
                Interlocked.Increment(ref _withheld);
                return;
            }

            tx.Spent += response.Length;
        }

        tx.Sink.Send(response);
    }

    /// <summary>
    /// RFC 3261 §17.2.1 (timer G for non-2xx) and §13.3.1.4 (2xx by the UAS core): on UDP the final response is
    /// repeated at T1, doubling up to T2, until the ACK; after 64·T1 (timer H) the transaction gives up.
    /// </summary>
    private void StartRetransmissions(InviteTransaction tx)
    {
        tx.FinalAt = _context.Time.GetTimestamp();
        if (tx.Sink.Reliable)
        {
            // Reliable transports: nothing to repeat; the ACK completes the transaction, or it expires.
            lock (_lock)
            {
                Expire(tx, null);
            }

            return;
        }

        lock (_lock)
        {
            if (tx.Done)
            {
                return;
            }

            tx.Interval = _options.T1;
            tx.Timer = _context.Time.CreateTimer(state => Retransmit((InviteTransaction)state!), tx, _options.T1, Timeout.InfiniteTimeSpan);
        }
    }

    private void Retransmit(InviteTransaction tx)
    {
        byte[]? response;
        var giveUp = false;
        lock (_lock)
        {
            if (tx.Done)
            {
                return;
            }

            if (_context.Time.GetElapsedTime(tx.FinalAt) >= _options.T1 * 64)
            {
                giveUp = true;
                tx.Done = true;
                tx.DoneAt = _context.Time.GetTimestamp();
                tx.Timer?.Dispose();
                Expire(tx, null);
                response = null;
            }
            else
            {
                response = tx.LastResponse;
                tx.Interval = tx.Interval * 2 > _options.T2 ? _options.T2 : tx.Interval * 2;
                tx.Timer?.Change(tx.Interval, Timeout.InfiniteTimeSpan);
            }
        }

        if (giveUp)
        {
            // Timer H: no ACK. A 2xx without ACK ends the call (RFC 3261 §13.3.1.4).
            if (tx.Call is { } call && tx.LastStatus is >= 200 and < 300)
            {
                EndCall(call, "no-ack");
            }

            if (tx.Routed is { } routed && tx.LastStatus is >= 200 and < 300)
            {
                var scratch = new byte[16 * 1024];
                RouteAck(routed, scratch);
                ByeCallee(routed, scratch);
                EndRoute(routed, "no-ack");
            }

            return;
        }

        if (response is not null)
        {
            // Past an unknown peer's budget the timer still runs (timer H ends the transaction) but sends nothing.
            TrySend(tx, response, always: false);
        }
    }

    private void Ack(SipMessage m, SipVia topVia, byte[] scratch)
    {
        // The ACK of a non-2xx shares the INVITE's branch (§17.1.1.3); the ACK of a 2xx is its own transaction
        // and matches the dialog (§13.2.2.4). Either way it is absorbed: no response. The ACK of a routed 200 is
        // relayed to the callee.
        InviteTransaction? tx;
        SipCall? call = null;
        RoutedCall? routed = null;
        var dialog = DialogKey(m);
        lock (_lock)
        {
            _invites.TryGetValue(TransactionKey(m, topVia), out tx);
            if (dialog is not null && _calls.TryGetValue(dialog, out call))
            {
                call.Confirmed = true;
                tx ??= call.Transaction;
            }

            if (dialog is not null && _routes.TryGetValue(dialog, out routed) && dialog == routed.CallerKey && routed.Transaction.LastStatus is >= 200 and < 300)
            {
                tx ??= routed.Transaction;
            }
            else
            {
                routed = null;
            }

            if (tx is not null && tx.LastStatus >= 200)
            {
                // The ACK ends the transaction (RFC 3261 §17.2.1); a late retransmitted ACK is absorbed anyway.
                tx.Done = true;
                tx.DoneAt = _context.Time.GetTimestamp();
                tx.Timer?.Dispose();
                if (_invites.TryGetValue(tx.Key, out var current) && ReferenceEquals(current, tx))
                {
                    _invites.Remove(tx.Key);
                }
            }
        }

        if (routed is not null)
        {
            RouteAck(routed, scratch);
        }
    }

    private string Cancel(SipMessage m, SipVia topVia, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        // RFC 3261 §9.2: CANCEL matches the INVITE transaction by branch.
        InviteTransaction? tx;
        lock (_lock)
        {
            _invites.TryGetValue(TransactionKey(m, topVia), out tx);
        }

        if (tx is null)
        {
            Send(sink, scratch, Simple(m, 481, "Call/Transaction Does Not Exist"u8, peer, sink, listener, scratch));
            return "sip-481";
        }

        var call = tx.Call;
        var cancel = false;
        lock (_lock)
        {
            if (tx.LastStatus < 200)
            {
                cancel = true;
                tx.LastStatus = 487;
            }
        }

        var toTag = call is not null ? Encoding.ASCII.GetBytes(call.LocalTag) : tx.Routed is { } r ? Encoding.ASCII.GetBytes(r.CallerTag) : default;
        Send(sink, scratch, Simple(m, 200, "OK"u8, peer, sink, listener, scratch, toTag));
        if (!cancel)
        {
            // The INVITE already has its final response: CANCEL has no effect.
            return "sip-cancel-late";
        }

        call?.AnswerTimer?.Dispose();

        // 487 to the INVITE, built from the CANCEL (same Via, From, To, Call-ID; CSeq number; method INVITE).
        var w = Begin(scratch, m, 487, "Request Terminated"u8, peer, sink, toTag);
        var response = End(ref w, m, peer, sink, default, default);
        var text = Encoding.ASCII.GetString(response).Replace(" CANCEL\r\n", " INVITE\r\n", StringComparison.Ordinal);
        var bytes = Encoding.ASCII.GetBytes(text);
        tx.LastResponse = bytes;
        tx.LastStatus = 487;
        TrySend(tx, bytes, always: true);
        StartRetransmissions(tx);
        if (call is not null)
        {
            EndCall(call, "cancelled");
        }

        if (tx.Routed is { } routed)
        {
            SendCancel(routed);
            EndRoute(routed, "cancelled");
        }

        return "sip-cancel";
    }

    private string Bye(SipMessage m, SipPeer peer, SipSink sink, ListenerRuntime listener, byte[] scratch)
    {
        // Challenged as a new INVITE is, before the dialog is looked at: CUCM challenges every request of a digest
        // phone but its keepalives, its BYE too. The 401 leaves the call up; the phone sends the BYE again with
        // credentials and the next CSeq. A trunk peer's BYE is not challenged, as its INVITE is not.
        if (Challenge(m, peer, sink, listener, scratch) is { } challenged)
        {
            return challenged;
        }

        var key = DialogKey(m);
        SipCall? call = null;
        RoutedCall? routed = null;
        bool recentlyEnded;
        lock (_lock)
        {
            recentlyEnded = key is not null && (_calls.TryGetValue(key, out call) ? false : _ended.ContainsKey(key));
            if (key is not null && call is null)
            {
                _routes.TryGetValue(key, out routed);
            }
        }

        if (routed is not null)
        {
            return RouteBye(routed, key!, m, peer, sink, listener, scratch);
        }

        if (call is null && !recentlyEnded)
        {
            // RFC 3261 §15.1.2: a BYE for no dialog gets 481.
            Send(sink, scratch, Simple(m, 481, "Call/Transaction Does Not Exist"u8, peer, sink, listener, scratch));
            return "sip-481";
        }

        Send(sink, scratch, Simple(m, 200, "OK"u8, peer, sink, listener, scratch));
        if (call is not null)
        {
            EndCall(call, "completed");
        }

        return "sip-bye";
    }

    /// <summary>Ends a call once: frees its media port and writes the call record with the media counters.</summary>
    private void EndCall(SipCall call, string verdict)
    {
        lock (_lock)
        {
            if (call.Ended)
            {
                return;
            }

            call.Ended = true;
            _calls.Remove(call.Key);
            _ended[call.Key] = _context.Time.GetTimestamp();
            Expire(null, call.Key);
            if (verdict != "cancelled" && !call.Transaction.Done)
            {
                // Not for CANCEL: its 487 still waits for the ACK.
                call.Transaction.Done = true;
                call.Transaction.DoneAt = _context.Time.GetTimestamp();
                call.Transaction.Timer?.Dispose();
                Expire(call.Transaction, null);
            }
        }

        call.AnswerTimer?.Dispose();
        long packets = 0, lost = 0;
        double jitter = 0;
        var rtp = _context.Rtp;
        if (rtp is not null && rtp.Stats().ActiveStreams > 0)
        {
            foreach (var s in rtp.Streams(100_000))
            {
                if (s.Port == call.MediaPort)
                {
                    packets += s.Packets;
                    lost += s.Lost;
                    jitter = Math.Max(jitter, s.JitterMs);
                }
            }

        }

        rtp?.Release(call.MediaPort);

        var duration = (long)_context.Time.GetElapsedTime(call.Started).TotalMilliseconds;
        LogCall(_log, call.Listener, call.CallId, call.Peer.Text, verdict, duration, call.MediaPort, packets);
        var detail = new Dictionary<string, string>
        {
            ["callId"] = call.CallId,
            ["mediaPort"] = call.MediaPort.ToString(CultureInfo.InvariantCulture),
            ["rtpPackets"] = packets.ToString(CultureInfo.InvariantCulture),
            ["rtpLost"] = lost.ToString(CultureInfo.InvariantCulture),
            ["jitterMs"] = jitter.ToString("0.###", CultureInfo.InvariantCulture),
            ["confirmed"] = call.Confirmed ? "true" : "false",
        };
        if (call.AnsweredAt != 0)
        {
            detail["setupMs"] = _context.Time.GetElapsedTime(call.Started, call.AnsweredAt).TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        }

        if (call.OfferAddress is not null)
        {
            detail["offer"] = call.OfferAddress + ":" + call.OfferPort.ToString(CultureInfo.InvariantCulture);
        }

        if (call.Mirror is not null)
        {
            detail["mirror"] = call.Mirror;
        }

        _context.Ledger.Append(new LedgerRecord
        {
            Kind = "sip-call",
            Listener = call.Listener,
            Protocol = "sip",
            Transport = call.Transport.ToLowerInvariant(),
            Peer = call.Peer.Text,
            Verdict = verdict,
            DurationMs = duration,
            PacketsIn = packets,
            Detail = detail,
        });
    }
}

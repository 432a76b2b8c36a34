using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Load;
using CucmSim.Clients.Net;
using CucmSim.Protocols.Sip;

namespace CucmSim.Clients.Sip;

/// <summary>The transport of a load SIP phone.</summary>
public enum LoadSipTransport
{
    Udp,
    Tcp,
    Tls,
}

/// <summary>
/// A lean SIP phone for load: its own socket (UDP: one per phone; TCP and TLS: one connection per phone) bound to its
/// source address, REGISTER and re-REGISTER, INVITE with an SDP offer, ACK, BYE, and the callee's side of a call a
/// server relays to it. Every step runs on the phone's <see cref="LoadLoop"/>: no task waits for a phone, and an idle
/// registered phone holds its socket, a few strings and counters. UDP requests are retransmitted from T1 = 500 ms
/// doubling (RFC 3261 §17.1.1.2) until a response or the timeout.
/// </summary>
public sealed class LoadSipPhone : ILoadReadable, ILoadPhone
{
    private const int T1Ms = 500;

    [ThreadStatic]
    private static SipMessage? t_parser;

    private readonly LoadPhoneContext _context;
    private readonly int _index;
    private readonly string _user;
    private readonly IPAddress? _source;
    private readonly LoadSipTransport _transport;
    private readonly IPEndPoint _server;
    private readonly string _registerCallId;
    private readonly string _fromTag;
    private Socket? _socket;

    /// <summary>A TCP connection in progress on the loop (SIP over TCP), until it completes, fails or times out.</summary>
    private Socket? _connecting;
    private SslStream? _tls;
    private byte[]? _pending;
    private int _pendingLength;
    private string _host = "0.0.0.0";
    private int _port;
    private uint _registerCSeq;
    private int _registerExpires;
    private Dictionary<string, string>? _challenge;
    private uint _nonceCount;
    private int _authRetries;
    private long _registerSentAt;
    private int _registerGeneration;
    private bool _registered;
    private bool _registering;
    private bool _stopped;
    private byte[]? _registerRequest;
    private PlacedCall? _call;
    private Answered? _answered;

    public LoadSipPhone(LoadPhoneContext context, int index, string user, IPAddress? source, LoadSipTransport transport)
    {
        _context = context;
        _index = index;
        _user = user;
        _source = source;
        _transport = transport;
        _server = (transport switch
        {
            LoadSipTransport.Udp => context.SipUdpServer,
            LoadSipTransport.Tcp => context.SipTcpServer,
            _ => context.SipTlsServer,
        }) ?? throw new ArgumentException($"no SIP {transport} port for the target");
        _registerCallId = "reg-" + index.ToString(CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 6));
        _fromTag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
    }

    public int Index => _index;

    public bool IsRegistered => _registered;

    public bool InCall => _call is not null || _answered is not null;

    private string Domain => _context.Domain ?? Host(_server.Address);

    private string ViaTransport => _transport switch { LoadSipTransport.Udp => "UDP", LoadSipTransport.Tcp => "TCP", _ => "TLS" };

    private string UriTransport => _transport switch { LoadSipTransport.Udp => "udp", LoadSipTransport.Tcp => "tcp", _ => "tls" };

    private static string Host(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]" : address.ToString();

    // ------------------------------------------------------------------ registration

    /// <summary>Opens the socket (or connection) and registers; on the loop's thread.</summary>
    public void Register()
    {
        if (_stopped || _registering || _registered)
        {
            return;
        }

        _registering = true;
        _context.Observer.RegisterAttempted(_index);
        _registerSentAt = LoadLoop.Now;
        if (_socket is not null)
        {
            SendRegister(expires: Expires);
            return;
        }

        if (_transport == LoadSipTransport.Udp)
        {
            var socket = new Socket(_server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            LoadPhones.MarkSignalling(socket);
            try
            {
                socket.Bind(new IPEndPoint(_source ?? (_server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any), 0));
                socket.Connect(_server);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                RegisterFailed("socket-" + ex.SocketErrorCode.ToString().ToLowerInvariant());
                return;
            }

            Attach(socket);
            SendRegister(expires: Expires);
            return;
        }

        var generation = _registerGeneration;
        if (_transport == LoadSipTransport.Tcp)
        {
            Connect(generation);
            return;
        }

        _ = ConnectAsync(generation);
    }

    /// <summary>
    /// SIP over TCP connects on the phone's loop, as an SCCP phone does (<see cref="LoadLoop.Connect"/>): no task or
    /// thread-pool work per phone in a registration storm. TLS connects with the runtime's sockets, which its
    /// <see cref="SslStream"/> reads through.
    /// </summary>
    private void Connect(int generation)
    {
        Socket socket;
        try
        {
            socket = LoadPhones.TcpSocket(_server, _source);
        }
        catch (SocketException ex)
        {
            RegisterFailed("connect-" + ex.SocketErrorCode.ToString().ToLowerInvariant());
            return;
        }

        _connecting = socket;
        _context.Loop.At(LoadLoop.Now + LoadLoop.Ticks(_context.Timeout), () =>
        {
            if (ReferenceEquals(_connecting, socket))
            {
                _connecting = null;
                _context.Loop.Close(socket);
                if (!_stopped)
                {
                    RegisterFailed("timeout-connect");
                }
            }
        });
        _context.Loop.Connect(socket, _server, this, error =>
        {
            if (!ReferenceEquals(_connecting, socket))
            {
                return; // timed out, or the phone stopped: closed already
            }

            _connecting = null;
            if (error is not null || _stopped || generation != _registerGeneration)
            {
                _context.Loop.Close(socket);
                if (error is not null && !_stopped)
                {
                    RegisterFailed(error);
                }

                return;
            }

            Attach(socket, watched: true);
            SendRegister(expires: Expires);
        });
    }

    private int Expires => (int)Math.Max(2, 2 * (_context.Refresh ?? TimeSpan.FromSeconds(60)).TotalSeconds);

    private async Task ConnectAsync(int generation)
    {
        var (socket, error) = await LoadPhones.ConnectAsync(_server, _source, _context.Timeout).ConfigureAwait(false);
        SslStream? tls = null;
        if (error is null && _transport == LoadSipTransport.Tls)
        {
            try
            {
                using var cts = new CancellationTokenSource(_context.Timeout);
                tls = new SslStream(new NetworkStream(socket!, ownsSocket: false), false, (_, _, _, _) => true); // a load client: the certificate is not judged
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = Domain }, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                error = "timeout-tls";
            }
            catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
            {
                error = "tls-handshake";
            }
        }

        _context.Loop.Post(() =>
        {
            if (error is not null || _stopped || generation != _registerGeneration)
            {
                tls?.Dispose();
                socket?.Dispose();
                if (error is not null && !_stopped)
                {
                    RegisterFailed(error);
                }

                return;
            }

            _tls = tls;
            Attach(socket!);
            SendRegister(expires: Expires);
        });
        if (error is null && tls is not null)
        {
            await ReadTlsAsync(tls).ConfigureAwait(false);
        }
    }

    /// <param name="watched">the loop watches the socket already (it connected it)</param>
    private void Attach(Socket socket, bool watched = false)
    {
        _socket = socket;
        var local = SockAddr.Local((int)socket.Handle) ?? new IPEndPoint(LoadPhones.LocalAddress(socket, _source), 0);
        _host = Host(local.Address);
        _port = local.Port;
        if (_tls is null && !watched)
        {
            _context.Loop.Add(socket, this);
        }
    }

    private void SendRegister(int expires)
    {
        _registerCSeq++;
        _registerExpires = expires;
        var branch = Branch();
        var text = new StringBuilder(400)
            .Append("REGISTER sip:").Append(Domain).Append(" SIP/2.0\r\n");
        Via(text, branch);
        text.Append("Max-Forwards: 70\r\n")
            .Append("From: <sip:").Append(_user).Append('@').Append(Domain).Append(">;tag=").Append(_fromTag).Append("\r\n")
            .Append("To: <sip:").Append(_user).Append('@').Append(Domain).Append(">\r\n")
            .Append("Call-ID: ").Append(_registerCallId).Append("\r\n")
            .Append("CSeq: ").Append(_registerCSeq).Append(" REGISTER\r\n")
            .Append("Contact: <sip:").Append(_user).Append('@').Append(_host).Append(':').Append(_port).Append(";transport=").Append(UriTransport).Append(">\r\n")
            .Append("Expires: ").Append(expires).Append("\r\n");
        if (_context.SipPassword is { } password && _challenge is { } challenge)
        {
            Authorization(text, challenge, password);
        }

        text.Append("User-Agent: cucmsim-load\r\n")
            .Append("Content-Length: 0\r\n\r\n");
        _registerRequest = Encoding.ASCII.GetBytes(text.ToString());
        var generation = ++_registerGeneration;
        if (!Send(_registerRequest))
        {
            RegisterFailed("send-failed");
            return;
        }

        Retransmit(generation, T1Ms, LoadLoop.Now + LoadLoop.Ticks(_context.Timeout), () => _registerGeneration == generation && _registerRequest is not null ? _registerRequest : null, () =>
        {
            if (_registerGeneration == generation)
            {
                _registerGeneration++;
                RegisterFailed("timeout-register");
            }
        });
    }

    /// <summary>Sends a request again while <paramref name="pending"/> gives it (UDP), and calls <paramref name="expired"/> at the deadline.</summary>
    private void Retransmit(int generation, int intervalMs, long deadline, Func<byte[]?> pending, Action expired)
    {
        var next = LoadLoop.Now + LoadLoop.Ticks(TimeSpan.FromMilliseconds(intervalMs));
        if (next >= deadline)
        {
            _context.Loop.At(deadline, () =>
            {
                if (pending() is not null)
                {
                    expired();
                }
            });
            return;
        }

        _context.Loop.At(next, () =>
        {
            if (pending() is not { } bytes || _stopped)
            {
                return;
            }

            if (_transport == LoadSipTransport.Udp)
            {
                Send(bytes);
            }

            Retransmit(generation, Math.Min(4000, intervalMs * 2), deadline, pending, expired);
        });
    }

    private void RegisterFailed(string reason)
    {
        if (_stopped)
        {
            return;
        }

        _registerRequest = null;
        var wasRegistered = _registered;
        var refreshing = _registering && wasRegistered;
        _registering = false;
        if (refreshing)
        {
            _context.Observer.Refreshed(_index, false, reason);
            return;
        }

        if (wasRegistered)
        {
            _registered = false;
            _context.Observer.Unregistered(_index, reason);
        }
        else
        {
            _context.Observer.RegisterFailed(_index, reason);
        }
    }

    /// <summary>An Authorization header for the next REGISTER (RFC 2617, qop=auth when offered; the nonce reused with nc counting up).</summary>
    private void Authorization(StringBuilder text, Dictionary<string, string> challenge, string password)
    {
        var nc = (++_nonceCount).ToString("x8", CultureInfo.InvariantCulture);
        var cnonce = Random.Shared.NextInt64().ToString("x16", CultureInfo.InvariantCulture);
        text.Append("Authorization: ").Append(SipDigest.Authorization(challenge, _user, password, "REGISTER", "sip:" + Domain, nc, cnonce)).Append("\r\n");
    }

    private void OnRegisterResponse(SipMessage m)
    {
        if (m.StatusCode < 200 || _registerRequest is null || m.CSeqNumber != _registerCSeq)
        {
            return;
        }

        if (m.StatusCode == 401 && _context.SipPassword is not null && _authRetries < 2 && !_stopped
            && SipDigest.ParseChallengeOrCredentials(m.Get(SipHeaderId.WwwAuthenticate)) is { } challenge)
        {
            // RFC 3261 §22.2: the same REGISTER again with credentials for this challenge; the registration's delay
            // counts from the first. A second 401 in a row (a stale nonce) gets one more try, then the 401 stands.
            _authRetries++;
            _challenge = challenge;
            _nonceCount = 0;
            _registerRequest = null;
            _registerGeneration++;
            SendRegister(_registerExpires);
            return;
        }

        _authRetries = 0;

        _registerRequest = null;
        _registerGeneration++;
        var refresh = _registered;
        _registering = false;
        if (_stopped)
        {
            return;
        }

        if (m.StatusCode is >= 200 and < 300)
        {
            if (refresh)
            {
                _context.Observer.Refreshed(_index, true, null);
            }
            else
            {
                _registered = true;
                _context.Observer.Registered(_index, LoadLoop.Now - _registerSentAt);
            }

            ScheduleRefresh();
        }
        else
        {
            var reason = "sip-" + m.StatusCode.ToString(CultureInfo.InvariantCulture);
            if (refresh)
            {
                _context.Observer.Refreshed(_index, false, reason);
                ScheduleRefresh();
            }
            else
            {
                _context.Observer.RegisterFailed(_index, reason);
            }
        }
    }

    private void ScheduleRefresh()
    {
        var every = _context.Refresh ?? TimeSpan.FromSeconds(60);
        var generation = _registerGeneration;
        _context.Loop.After(every, () =>
        {
            if (_stopped || !_registered || _registering || generation != _registerGeneration)
            {
                return;
            }

            _registering = true;
            SendRegister(Expires);
        });
    }

    /// <summary>Ends the phone: an active call is left, the registration removed (Expires: 0), the socket closed after a grace.</summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _call?.Leg?.Stop();
        _answered?.Leg?.Stop();
        if (_connecting is { } connecting)
        {
            _connecting = null;
            _context.Loop.Close(connecting);
        }

        if (_socket is not null && _registered)
        {
            _registerGeneration++;
            SendRegister(0);
            _registered = false;
        }

        _context.Loop.After(TimeSpan.FromMilliseconds(300), Close);
    }

    private void Close()
    {
        if (_tls is not null)
        {
            _tls.Dispose();
            _socket?.Dispose();
        }
        else
        {
            _context.Loop.Close(_socket);
        }

        _socket = null;
    }

    // ------------------------------------------------------------------ calls placed

    /// <summary>Calls <paramref name="number"/> and hangs up after <paramref name="hold"/>; on the loop's thread.</summary>
    public void Call(string number, TimeSpan hold)
    {
        if (!LoadPhones.TryAttempt(_context, _index, !_stopped && _registered && _socket is not null, InCall))
        {
            return;
        }

        var leg = default(MediaLeg);
        if (_context.Media is { } media)
        {
            leg = media.Open(LocalAddress);
            if (leg is null)
            {
                _context.Observer.CallFailed(_index, "media-ports");
                return;
            }
        }

        var call = new PlacedCall
        {
            Number = number,
            Hold = hold,
            CallId = "call-" + _index.ToString(CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 8)),
            FromTag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4)),
            Branch = Branch(),
            Leg = leg,
            SentAt = LoadLoop.Now,
        };
        _call = call;
        call.Sdp = Offer(leg?.Local.Port ?? 9);
        call.Invite = Invite(call, null);
        if (!Send(call.Invite))
        {
            EndCall(call, failed: "send-failed");
            return;
        }

        Retransmit(0, T1Ms, call.SentAt + LoadLoop.Ticks(_context.Timeout), () => _call == call && !call.Provisional && !call.Answered ? call.Invite : null, () => { });
        _context.Loop.At(call.SentAt + LoadLoop.Ticks(_context.Timeout), () =>
        {
            if (_call == call && !call.Answered)
            {
                EndCall(call, failed: "timeout-setup");
            }
        });
    }

    private IPAddress LocalAddress => LoadPhones.LocalAddress(_socket, _source);

    private string Offer(int port)
    {
        var ip = LocalAddress;
        var type = ip.AddressFamily == AddressFamily.InterNetworkV6 ? "IP6" : "IP4";
        return string.Create(CultureInfo.InvariantCulture,
            $"v=0\r\no=- {_index} 1 IN {type} {ip}\r\ns=cucmsim-load\r\nc=IN {type} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n");
    }

    /// <summary>The call's INVITE at its current CSeq and branch, with <paramref name="authorization"/> (a header line) when challenged.</summary>
    private byte[] Invite(PlacedCall call, string? authorization)
    {
        var text = new StringBuilder(900).Append("INVITE ").Append(call.Uri(Domain)).Append(" SIP/2.0\r\n");
        Via(text, call.Branch);
        text.Append("Max-Forwards: 70\r\n")
            .Append("From: <sip:").Append(_user).Append('@').Append(Domain).Append(">;tag=").Append(call.FromTag).Append("\r\n")
            .Append("To: <").Append(call.Uri(Domain)).Append(">\r\n")
            .Append("Call-ID: ").Append(call.CallId).Append("\r\n")
            .Append("CSeq: ").Append(call.CSeq).Append(" INVITE\r\n")
            .Append("Contact: <sip:").Append(_user).Append('@').Append(_host).Append(':').Append(_port).Append(";transport=").Append(UriTransport).Append(">\r\n")
            .Append(authorization)
            .Append("User-Agent: cucmsim-load\r\n")
            .Append("Content-Type: application/sdp\r\n")
            .Append("Content-Length: ").Append(Encoding.ASCII.GetByteCount(call.Sdp)).Append("\r\n\r\n")
            .Append(call.Sdp);
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>
    /// A 401 (or a proxy's 407) to the INVITE when the phone has a password: the challenge is ACKed as the INVITE
    /// transaction's end (RFC 3261 §17.1.1.3), and the INVITE goes again with credentials for it (§22.2), a new branch
    /// and the next CSeq; CUCM challenges a digest phone's INVITE as its REGISTER. The setup time counts from the
    /// first INVITE. One more try answers a second challenge (a stale nonce), then the 401 stands.
    /// </summary>
    private bool AnswerChallenge(SipMessage m, PlacedCall call)
    {
        if (call.AuthTries >= 2 || Credentials(m, "INVITE", call) is not { } credentials)
        {
            return false;
        }

        call.AuthTries++;
        call.ChallengeAck = Ack(call, call.Branch);
        Send(call.ChallengeAck);
        call.CSeq++;
        call.Branch = Branch();
        call.ToTag = string.Empty;
        call.Provisional = false;
        call.Invite = Invite(call, credentials);
        if (!Send(call.Invite))
        {
            EndCall(call, failed: "send-failed");
        }

        return true;
    }

    /// <summary>
    /// The Authorization (401) or Proxy-Authorization (407) header line that answers <paramref name="m"/>'s challenge
    /// to the call's <paramref name="method"/>; null without a password, when stopping, or for an unreadable challenge.
    /// </summary>
    private string? Credentials(SipMessage m, string method, PlacedCall call) =>
        _context.SipPassword is { } password && !_stopped && SipDigest.ChallengeHeader(m.StatusCode) is { } header
            ? SipDigest.AnswerLine(m.StatusCode, m.Get(Encoding.ASCII.GetBytes(header.ToLowerInvariant())), _user, password, method, call.Uri(Domain), Random.Shared.NextInt64().ToString("x16", CultureInfo.InvariantCulture))
            : null;

    private void OnInviteResponse(SipMessage m, PlacedCall call)
    {
        var status = m.StatusCode;
        if (m.CSeqNumber != call.CSeq)
        {
            // The challenged INVITE's 401 again (its ACK was lost): the same ACK again.
            if (status >= 300 && call.ChallengeAck is not null && m.CSeqNumber == call.CSeq - 1)
            {
                Send(call.ChallengeAck);
            }

            return;
        }

        if (status < 200)
        {
            call.Provisional = true;
            return;
        }

        if (call.Answered)
        {
            // A retransmitted 200: ACK it again (RFC 3261 §13.2.2.4).
            if (status < 300 && call.Ack is not null)
            {
                Send(call.Ack);
            }

            return;
        }

        call.ToTag = Encoding.ASCII.GetString(SipSyntax.Tag(m.Get(SipHeaderId.To)));
        if (status >= 300 && AnswerChallenge(m, call))
        {
            return;
        }

        if (status >= 300)
        {
            // The ACK of a non-2xx final response is part of the INVITE transaction (RFC 3261 §17.1.1.3).
            Send(Ack(call, call.Branch));
            EndCall(call, failed: "sip-" + status.ToString(CultureInfo.InvariantCulture));
            return;
        }

        call.Answered = true;
        _context.Observer.CallEstablished(_index, LoadLoop.Now - call.SentAt);
        call.Ack = Ack(call, Branch());
        Send(call.Ack);
        if (call.Leg is { } leg)
        {
            if (MediaOf(m) is { } remote)
            {
                leg.Start(remote, _context.Mode == LoadCallMode.PhoneToPhone ? "callee-to-caller" : "echo");
            }
            else
            {
                leg.Stop();
                call.Leg = null;
            }
        }

        _context.Loop.After(call.Hold, () => Hangup(call));
    }

    private static IPEndPoint? MediaOf(SipMessage m)
    {
        if (m.Body.IsEmpty || SdpSession.Parse(m[m.Body], out _) is not { Media.Count: > 0 } sdp)
        {
            return null;
        }

        var media = sdp.Media[0];
        return media.Port is > 0 and < 65536 && IPAddress.TryParse(sdp.AddressFor(media), out var address) ? new IPEndPoint(address, media.Port) : null;
    }

    private byte[] Ack(PlacedCall call, string branch)
    {
        var text = new StringBuilder(400).Append("ACK ").Append(call.Uri(Domain)).Append(" SIP/2.0\r\n");
        Via(text, branch);
        text.Append("Max-Forwards: 70\r\n")
            .Append("From: <sip:").Append(_user).Append('@').Append(Domain).Append(">;tag=").Append(call.FromTag).Append("\r\n")
            .Append("To: <sip:").Append(call.Number).Append('@').Append(Domain).Append('>').Append(call.ToTag.Length > 0 ? ";tag=" + call.ToTag : string.Empty).Append("\r\n")
            .Append("Call-ID: ").Append(call.CallId).Append("\r\n")
            .Append("CSeq: ").Append(call.CSeq).Append(" ACK\r\n")
            .Append("Content-Length: 0\r\n\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private void Hangup(PlacedCall call)
    {
        if (_call != call)
        {
            return;
        }

        call.Leg?.Stop();
        call.Leg = null;
        if (_stopped || _socket is null)
        {
            EndCall(call, dropped: "stopped");
            return;
        }

        call.ByeCSeq = call.CSeq + 1;
        call.Bye = Bye(call, null);
        Send(call.Bye);
        var deadline = LoadLoop.Now + LoadLoop.Ticks(_context.Timeout);
        Retransmit(0, T1Ms, deadline, () => _call == call ? call.Bye : null, () => EndCall(call, dropped: "timeout-release"));
    }

    /// <summary>The call's BYE at its current CSeq, a branch of its own, with <paramref name="authorization"/> (a header line) when challenged.</summary>
    private byte[] Bye(PlacedCall call, string? authorization)
    {
        var text = new StringBuilder(400).Append("BYE ").Append(call.Uri(Domain)).Append(" SIP/2.0\r\n");
        Via(text, Branch());
        text.Append("Max-Forwards: 70\r\n")
            .Append("From: <sip:").Append(_user).Append('@').Append(Domain).Append(">;tag=").Append(call.FromTag).Append("\r\n")
            .Append("To: <").Append(call.Uri(Domain)).Append(">;tag=").Append(call.ToTag).Append("\r\n")
            .Append("Call-ID: ").Append(call.CallId).Append("\r\n")
            .Append("CSeq: ").Append(call.ByeCSeq).Append(" BYE\r\n")
            .Append(authorization)
            .Append("Content-Length: 0\r\n\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private void OnByeResponse(SipMessage m, PlacedCall call)
    {
        if (m.StatusCode < 200 || call.Bye is null || m.CSeqNumber != call.ByeCSeq)
        {
            return;
        }

        // A challenged BYE (CUCM challenges every request of a digest phone but its keepalives): once more with
        // credentials, the next CSeq; the retransmissions carry the new one.
        if (call.ByeAuthTries < 2 && Credentials(m, "BYE", call) is { } credentials)
        {
            call.ByeAuthTries++;
            call.ByeCSeq++;
            call.Bye = Bye(call, credentials);
            Send(call.Bye);
            return;
        }

        if (m.StatusCode < 300)
        {
            EndCall(call);
        }
        else
        {
            EndCall(call, dropped: "bye-" + m.StatusCode.ToString(CultureInfo.InvariantCulture));
        }
    }

    private void EndCall(PlacedCall call, string? failed = null, string? dropped = null)
    {
        if (_call != call)
        {
            return;
        }

        _call = null;
        call.Leg?.Stop();
        call.Leg = null;
        LoadPhones.Ended(_context, _index, failed, dropped);
    }

    // ------------------------------------------------------------------ calls received (phone to phone)

    private void OnRequest(SipMessage m)
    {
        switch (m.Method)
        {
            case SipMethod.Invite:
                OnInvite(m);
                return;
            case SipMethod.Ack:
                if (_answered is { } a && a.CallId == Encoding.ASCII.GetString(m.Get(SipHeaderId.CallId)))
                {
                    a.Confirmed = true;
                }

                return;
            case SipMethod.Bye:
                var callId = Encoding.ASCII.GetString(m.Get(SipHeaderId.CallId));
                Respond(m, 200, "OK", toTag: _answered?.CallId == callId ? _answered.ToTag : null);
                if (_answered is { } answered && answered.CallId == callId)
                {
                    answered.Leg?.Stop();
                    _answered = null;
                }
                else if (_call is { } placed && placed.CallId == callId)
                {
                    EndCall(placed, dropped: "bye-received");
                }

                return;
            case SipMethod.Cancel:
                Respond(m, 200, "OK", toTag: null);
                return;
            default:
                Respond(m, 200, "OK", toTag: null);
                return;
        }
    }

    private void OnInvite(SipMessage m)
    {
        var callId = Encoding.ASCII.GetString(m.Get(SipHeaderId.CallId));
        if (_answered is { } current)
        {
            if (current.CallId == callId && current.Ok is not null)
            {
                Send(current.Ok);
            }
            else
            {
                Respond(m, 486, "Busy Here", toTag: Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4)));
            }

            return;
        }

        if (_stopped || _call is not null)
        {
            Respond(m, 486, "Busy Here", toTag: Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4)));
            return;
        }

        var leg = _context.Media?.Open(LocalAddress);
        var answered = new Answered { CallId = callId, ToTag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4)), Leg = leg };
        _answered = answered;
        var remote = MediaOf(m);
        answered.Ok = Response(m, 200, "OK", answered.ToTag, Offer(leg?.Local.Port ?? 9));
        Send(answered.Ok);
        _context.Observer.CallAnswered(_index);
        if (leg is not null)
        {
            if (remote is not null)
            {
                leg.Start(remote, "caller-to-callee");
            }
            else
            {
                leg.Stop();
                answered.Leg = null;
            }
        }

        if (_transport == LoadSipTransport.Udp)
        {
            // The 200 again until the ACK (RFC 3261 §13.3.1.4).
            var ok = answered.Ok;
            Retransmit(0, T1Ms, LoadLoop.Now + LoadLoop.Ticks(_context.Timeout), () => _answered == answered && !answered.Confirmed ? ok : null, () => { });
        }
    }

    private void Respond(SipMessage m, int status, string reason, string? toTag) => Send(Response(m, status, reason, toTag, null));

    private byte[] Response(SipMessage m, int status, string reason, string? toTag, string? sdp)
    {
        var text = new StringBuilder(600).Append("SIP/2.0 ").Append(status).Append(' ').Append(reason).Append("\r\n");
        for (var i = 0; i < m.ViaCount; i++)
        {
            text.Append("Via: ").Append(Encoding.ASCII.GetString(m.Via(i))).Append("\r\n");
        }

        var to = Encoding.ASCII.GetString(m.Get(SipHeaderId.To));
        if (toTag is not null && SipSyntax.Tag(m.Get(SipHeaderId.To)).IsEmpty)
        {
            to += ";tag=" + toTag;
        }

        text.Append("From: ").Append(Encoding.ASCII.GetString(m.Get(SipHeaderId.From))).Append("\r\n")
            .Append("To: ").Append(to).Append("\r\n")
            .Append("Call-ID: ").Append(Encoding.ASCII.GetString(m.Get(SipHeaderId.CallId))).Append("\r\n")
            .Append("CSeq: ").Append(Encoding.ASCII.GetString(m.Get(SipHeaderId.CSeq))).Append("\r\n");
        if (status is >= 200 and < 300 && m.Method == SipMethod.Invite)
        {
            text.Append("Contact: <sip:").Append(_user).Append('@').Append(_host).Append(':').Append(_port).Append(";transport=").Append(UriTransport).Append(">\r\n");
        }

        if (sdp is not null)
        {
            text.Append("Content-Type: application/sdp\r\nContent-Length: ").Append(Encoding.ASCII.GetByteCount(sdp)).Append("\r\n\r\n").Append(sdp);
        }
        else
        {
            text.Append("Content-Length: 0\r\n\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    // ------------------------------------------------------------------ transport

    private void Via(StringBuilder text, string branch) =>
        text.Append("Via: SIP/2.0/").Append(ViaTransport).Append(' ').Append(_host).Append(':').Append(_port).Append(";branch=").Append(branch).Append(";rport\r\n");

    private static string Branch() => "z9hG4bK" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 8));

    private bool Send(byte[] bytes)
    {
        if (_socket is null)
        {
            return false;
        }

        if (_tls is not null)
        {
            try
            {
                _tls.Write(bytes);
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
            {
                return false;
            }
        }

        return LoadLoop.Send(_socket, bytes) == bytes.Length;
    }

    void ILoadReadable.OnReadable(Socket socket, byte[] buffer)
    {
        for (var i = 0; i < 16; i++)
        {
            var n = LoadLoop.Receive(socket, buffer);
            if (n == -1)
            {
                return;
            }

            if (n == 0 || n == -2)
            {
                if (_transport != LoadSipTransport.Udp)
                {
                    Lost("closed");
                    return;
                }

                continue;
            }

            if (_transport == LoadSipTransport.Udp)
            {
                Handle(buffer.AsSpan(0, n));
            }
            else
            {
                Stream(buffer.AsSpan(0, n));
            }
        }
    }

    private async Task ReadTlsAsync(SslStream tls)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var n = await tls.ReadAsync(buffer).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                var copy = buffer.AsSpan(0, n).ToArray();
                _context.Loop.Post(() => Stream(copy));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }

        _context.Loop.Post(() =>
        {
            if (_tls == tls)
            {
                Lost("closed");
            }
        });
    }

    private void Lost(string reason)
    {
        if (_stopped)
        {
            return;
        }

        if (_call is { } call)
        {
            EndCall(call, failed: call.Answered ? null : reason, dropped: call.Answered ? reason : null);
        }

        _answered?.Leg?.Stop();
        _answered = null;
        if (_registering)
        {
            RegisterFailed(reason);
        }
        else if (_registered)
        {
            _registered = false;
            _context.Observer.Unregistered(_index, reason);
        }

        _registerGeneration++;
        Close();
        _tls = null;
        _pending = null;
        _pendingLength = 0;
    }

    /// <summary>Frames a stream's bytes into messages (RFC 3261 §18.3); a partial message waits in a buffer of its own size.</summary>
    private void Stream(ReadOnlySpan<byte> data)
    {
        ReadOnlySequence<byte> sequence;
        if (_pendingLength > 0)
        {
            var joined = new byte[_pendingLength + data.Length];
            _pending.AsSpan(0, _pendingLength).CopyTo(joined);
            data.CopyTo(joined.AsSpan(_pendingLength));
            sequence = new ReadOnlySequence<byte>(joined);
        }
        else
        {
            sequence = new ReadOnlySequence<byte>(data.ToArray());
        }

        var reader = new SequenceReader<byte>(sequence);
        for (var i = 0; i < 64; i++)
        {
            var status = SipFraming.TryRead(ref reader, SipMessage.DefaultMaxSize, out var message);
            if (status == OperationStatus.Done)
            {
                if (message.Length > 4)
                {
                    Handle(message.IsSingleSegment ? message.FirstSpan : message.ToArray());
                }

                continue;
            }

            if (status == OperationStatus.InvalidData)
            {
                Lost("malformed");
                return;
            }

            break;
        }

        var rest = reader.UnreadSequence;
        _pendingLength = (int)rest.Length;
        _pending = _pendingLength == 0 ? null : rest.ToArray();
    }

    private void Handle(ReadOnlySpan<byte> datagram)
    {
        var m = t_parser ??= new SipMessage();
        if (m.Parse(datagram) != SipParseError.Ok)
        {
            return;
        }

        if (m.IsRequest)
        {
            OnRequest(m);
            return;
        }

        var method = m[m.CSeqMethod];
        var callId = m.Get(SipHeaderId.CallId);
        if (method.SequenceEqual("REGISTER"u8))
        {
            if (callId.SequenceEqual(Encoding.ASCII.GetBytes(_registerCallId)))
            {
                OnRegisterResponse(m);
            }

            return;
        }

        if (_call is not { } call || !callId.SequenceEqual(Encoding.ASCII.GetBytes(call.CallId)))
        {
            return;
        }

        if (method.SequenceEqual("INVITE"u8))
        {
            OnInviteResponse(m, call);
        }
        else if (method.SequenceEqual("BYE"u8))
        {
            OnByeResponse(m, call);
        }
    }

    private sealed class PlacedCall
    {
        public required string Number { get; init; }
        public required TimeSpan Hold { get; init; }
        public required string CallId { get; init; }
        public required string FromTag { get; init; }
        public required string Branch { get; set; }
        public required long SentAt { get; init; }
        public string Sdp { get; set; } = string.Empty;
        public uint CSeq { get; set; } = 1;
        public int AuthTries { get; set; }
        public uint ByeCSeq { get; set; }
        public int ByeAuthTries { get; set; }
        public byte[]? ChallengeAck { get; set; }
        public MediaLeg? Leg { get; set; }
        public string ToTag { get; set; } = string.Empty;
        public byte[]? Invite { get; set; }
        public byte[]? Ack { get; set; }
        public byte[]? Bye { get; set; }
        public bool Provisional { get; set; }
        public bool Answered { get; set; }

        public string Uri(string domain) => "sip:" + Number + "@" + domain;
    }

    private sealed class Answered
    {
        public required string CallId { get; init; }
        public required string ToTag { get; init; }
        public MediaLeg? Leg { get; set; }
        public byte[]? Ok { get; set; }
        public bool Confirmed { get; set; }
    }
}

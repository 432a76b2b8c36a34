using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using CucmSim.Catalog;
using CucmSim.Clients.AdminWeb;
using CucmSim.Clients.Echo;
using CucmSim.Clients.H323;
using CucmSim.Clients.Ike;
using CucmSim.Clients.Ldap;
using CucmSim.Clients.Mgcp;
using CucmSim.Clients.Rmi;
using CucmSim.Clients.Ssh;
using CucmSim.Clients.Sccp;
using CucmSim.Clients.Sip;
using CucmSim.Clients.Snmp;
using CucmSim.Clients.Tftp;
using CucmSim.Protocols.Ldap;
using CucmSim.Protocols.H323;
using CucmSim.Protocols.Tftp;

namespace CucmSim.Probe;

/// <summary>What every exchange of one run shares: where to go, from where, how long to wait.</summary>
public sealed class ProbeContext
{
    public required IPAddress Target { get; init; }
    public IPAddress? Source { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public int Retries { get; init; } = 1;
    public string SnmpCommunity { get; init; } = "public";

    /// <summary>--snmp-user: the SNMPv3 user of the second SNMP leg; null runs v2c alone.</summary>
    public SnmpV3User? SnmpUser { get; init; }

    /// <summary>USER:PW for AXL's basic auth on the admin web (browser flows).</summary>
    public string AxlUser { get; init; } = "administrator:cucmsim";

    /// <summary>The number the SIP and SCCP calls dial (serve answers 1000 by default).</summary>
    public string SipNumber { get; init; } = "1000";

    /// <summary>--mtu: also send a SIP OPTIONS of more than 1,300 bytes over UDP (RFC 3261 §18.1.1's limit).</summary>
    public bool Mtu { get; init; }

    /// <summary>
    /// --idle: every UDP echo also asks for the server's delayed answer after this many seconds of silence; 0 for none.
    /// </summary>
    public int IdleSeconds { get; init; }

    /// <summary>Digest password for REGISTER when the server asks for one.</summary>
    public string? SipPassword { get; init; }

    /// <summary>The phone this run plays: SEP and a MAC fixed for the run (the TFTP and HTTP file name, the SCCP device).</summary>
    public string DeviceName { get; init; } = "SEP" + Convert.ToHexString(Guid.NewGuid().ToByteArray().AsSpan(0, 6));

    /// <summary>The wait of a whole exchange: each attempt's timeout, once per attempt.</summary>
    public TimeSpan Total => Timeout * (Retries + 1);

    public IPAddress Any => Source ?? (Target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any);

    public IPEndPoint EndPoint(int port) => new(Target, port);
}

/// <summary>
/// The exchanges of a probe, one method per protocol. Each runs on real sockets through the clients of
/// CucmSim.Clients and returns legs with an outcome and evidence; judging is done later, with the server's record.
/// </summary>
public static class Exchanges
{
    /// <summary>The exchanges a protocol gets, in words.</summary>
    public static string Describe(string protocol, int ports)
    {
        var tls = TerminatesTls(protocol);
        var native = protocol switch
        {
            "sip" or "sip-tls" => "SIP OPTIONS, REGISTER, INVITE with RTP both ways, BYE",
            "tftp" => "TFTP RRQ of SEP<MAC>.cnf.xml with and without options, data from the transfer port",
            "http" => "HTTP GET (AXL getCCMVersion on the admin web)",
            "https" => "HTTPS GET (AXL getCCMVersion on the admin web)",
            "snmp" => "SNMP v2c GET sysDescr (and v3 with --snmp-user)",
            "sccp" or "sccp-tls" => "SCCP register, a call with RTP both ways",
            "ike" => "IKEv1 Main Mode and IKEv2 IKE_SA_INIT (NO_PROPOSAL_CHOSEN expected: no SA is made)",
            "rmi" => "Java RMI (JRMP) handshake and ping",
            "ssh" => "SSH identification and key exchange (the host key and its fingerprint; no login)",
            "mgcp" => "MGCP RSIP, then the call agent's AUEP back",
            "ldap" or "ldaps" => "LDAP anonymous bind, root DSE, a subtree search for people, unbind",
            "h225-ras" => "H.323 RAS GRQ, RRQ, LRQ for the test number, URQ",
            "h225" => "H.225 Setup to the test number (CallProceeding, Alerting, Connect), Status Enquiry, a TCP connection to the Connect's H.245 address, ReleaseComplete",
            "rtp" => string.Create(CultureInfo.InvariantCulture, $"echo on {ports} sampled media port(s)"),
            _ => null,
        };
        var parts = new List<string> { protocol == "rtp" ? native! : "echo" };
        if (tls)
        {
            parts.Add("TLS handshake (certificate)");
        }

        if (native is not null && protocol != "rtp")
        {
            parts.Add(native);
        }

        return string.Join(" + ", parts);
    }

    /// <summary>
    /// The TLS protocols whose handshake a serve completes: SIP, SCCP and HTTPS, and CTL, TVS, CAPF and CTI over TLS
    /// (each with its own identity), and LDAPS.
    /// </summary>
    public static bool TerminatesTls(string protocol) => protocol is "https" or "sip-tls" or "sccp-tls" or "ctl" or "tvs" or "capf" or "cti-tls" or "ldaps";

    private static bool HasNative(string protocol) => protocol is "sip" or "sip-tls" or "tftp" or "http" or "https" or "snmp" or "sccp" or "sccp-tls" or "ike" or "rmi" or "mgcp" or "ssh" or "ldap" or "ldaps" or "h225-ras" or "h225";

    /// <summary>Runs every exchange of one port of a flow: the echo, and at the same time the protocol's own legs.</summary>
    public static async Task<List<LegResult>> RunTargetAsync(ProbeContext context, Flow flow, ProbeTarget target, CancellationToken cancellationToken)
    {
        var echo = EchoAsync(context, target, cancellationToken);
        var native = NativeAsync(context, flow, target, cancellationToken);
        await Task.WhenAll(echo, native).ConfigureAwait(false);
        return [await echo.ConfigureAwait(false), .. await native.ConfigureAwait(false)];
    }

    /// <summary>The universal echo, a fresh nonce per attempt; stops at the first definite answer (echo, RST, ICMP).</summary>
    public static async Task<LegResult> EchoAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken, string name = "echo", string role = "reachability")
    {
        var leg = new LegResult { Name = name, Listener = target.Listener, Role = role, Target = Format(context.EndPoint(target.Dial)) };
        var started = Stopwatch.GetTimestamp();
        var idle = target.Transport == Transport.Udp ? context.IdleSeconds : 0;
        var options = new EchoOptions { Timeout = context.Timeout, Attempts = 1, Source = new IPEndPoint(context.Any, 0), IdleSeconds = idle };
        EchoResult? last = null;
        for (var attempt = 0; attempt <= context.Retries; attempt++)
        {
            var nonce = EchoClient.NewNonce();
            leg.Nonces.Add(nonce);
            try
            {
                last = target.Transport == Transport.Tcp
                    ? await EchoClient.TcpAsync(context.EndPoint(target.Dial), options, nonce, cancellationToken).ConfigureAwait(false)
                    : await EchoClient.UdpAsync(context.EndPoint(target.Dial), options, nonce, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ArgumentException)
            {
                leg.Outcome = Outcome.ProbeError;
                leg.Detail = ex.Message;
                leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                return leg;
            }

            leg.Local = last.Local is null ? null : Format(last.Local);
            if (last.Ok || last.Failure is EchoFailure.Reset or EchoFailure.Icmp or EchoFailure.Other)
            {
                break;
            }
        }

        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        switch (last)
        {
            case { Ok: true, Reply: { } reply }:
                leg.Outcome = Outcome.Answered;
                leg.PeerSeen = Format(reply.PeerAsSeen);
                leg.Detail = $"CUCMSIM-ECHO from {reply.ListenerId} at {Format(reply.Local)}, peer as seen {Format(reply.PeerAsSeen)}";
                if (last.Local is { } local && !reply.PeerAsSeen.Address.Equals(local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address))
                {
                    leg.Evidence.Add($"source NAT: the server saw {Format(reply.PeerAsSeen)}, the probe sent from {Format(local)}");
                }

                if (reply.ListenerId != target.Listener)
                {
                    leg.Evidence.Add($"the answer names listener {reply.ListenerId}, not {target.Listener}: a port forward on the path, or another --port-offset");
                }

                if (idle > 0)
                {
                    leg.Later = IdleAsync(leg, idle, last.Callback);
                }

                break;
            case { Failure: EchoFailure.Reset }:
                leg.Outcome = Outcome.Reset;
                leg.Detail = "connection refused: a TCP RST answered the SYN";
                break;
            case { Failure: EchoFailure.Icmp } r:
                leg.Outcome = Outcome.Icmp;
                leg.Icmp = r.Icmp is { } icmp ? new IcmpEvidence(icmp.Type, icmp.Code, icmp.Name, icmp.Offender?.ToString()) : null;
                leg.Detail = r.Error;
                break;
            case { Failure: EchoFailure.Other } r:
                leg.Outcome = Outcome.Incomplete;
                leg.Detail = r.Error;
                break;
            default:
                leg.Outcome = Outcome.NoAnswer;
                leg.Detail = string.Create(CultureInfo.InvariantCulture, $"no answer to {leg.Nonces.Count} probe(s) in {context.Timeout.TotalSeconds:0.###} s each");
                break;
        }

        return leg;
    }

    /// <summary>
    /// --idle: the echo's socket stays silent, and the server's delayed answer to the address it saw must still get
    /// through. A leg of its own ("idle", or "rtp-echo-idle"), finished after the run's other legs.
    /// </summary>
    private static async Task<LegResult> IdleAsync(LegResult echo, int seconds, Task<EchoCallbackResult>? callback)
    {
        var leg = new LegResult
        {
            Name = echo.Name == "echo" ? "idle" : echo.Name + "-idle",
            Listener = echo.Listener,
            Role = "idle",
            Target = echo.Target,
            Local = echo.Local,
            PeerSeen = echo.PeerSeen,
            Nonces = [echo.Nonces[^1]],
        };
        if (callback is null)
        {
            leg.Outcome = Outcome.Incomplete;
            leg.Detail = "the server answered the echo but scheduled no delayed answer (an older serve, or too many pending there): the idle check did not run";
            return leg;
        }

        var result = await callback.ConfigureAwait(false);
        leg.ElapsedMs = result.Waited.TotalMilliseconds;
        leg.Evidence.Add(string.Create(CultureInfo.InvariantCulture, $"idle {seconds} s; the server saw this socket as {echo.PeerSeen}"));
        if (result.Ok)
        {
            leg.Outcome = Outcome.Answered;
            leg.Detail = string.Create(CultureInfo.InvariantCulture, $"after {seconds} s of silence the server's delayed answer to {echo.PeerSeen} came back");
        }
        else
        {
            leg.Outcome = Outcome.NoAnswer;
            leg.Detail = string.Create(CultureInfo.InvariantCulture,
                $"the echo came back at once, but the server's delayed answer after {seconds} s of silence, sent to {echo.PeerSeen}, never arrived (waited {result.Waited.TotalSeconds:0.#} s)");
        }

        return leg;
    }

    private static async Task<List<LegResult>> NativeAsync(ProbeContext context, Flow flow, ProbeTarget target, CancellationToken cancellationToken)
    {
        // The handshake that records the certificate runs beside the protocol's exchange: a path that drops
        // everything costs one wait, not two.
        var tls = TerminatesTls(flow.Protocol) && target.Transport == Transport.Tcp
            ? TlsAsync(context, target, HasNative(flow.Protocol) ? "evidence" : "primary", cancellationToken)
            : null;
        var legs = new List<LegResult>();

        switch (flow.Protocol)
        {
            case "sip" or "sip-tls":
                var large = context.Mtu && target.Transport == Transport.Udp && flow.Protocol == "sip" ? LargeOptionsAsync(context, target, cancellationToken) : null;
                legs.AddRange(await SipAsync(context, target, flow.Protocol == "sip-tls" ? "tls" : target.Transport == Transport.Udp ? "udp" : "tcp", cancellationToken).ConfigureAwait(false));
                if (large is not null)
                {
                    legs.Add(await large.ConfigureAwait(false));
                }

                break;
            case "tftp" when target.Transport == Transport.Udp:
                legs.AddRange(await TftpAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "http" or "https" when IsAdminWeb(flow):
                legs.Add(await AxlAsync(context, target, flow.Protocol == "https", cancellationToken).ConfigureAwait(false));
                break;
            case "http" or "https":
                legs.Add(await HttpAsync(context, target, flow.Protocol == "https", cancellationToken).ConfigureAwait(false));
                break;
            case "snmp" when target.Transport == Transport.Udp:
                legs.AddRange(await SnmpAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "sccp" or "sccp-tls":
                legs.AddRange(await SccpAsync(context, target, flow.Protocol == "sccp-tls", cancellationToken).ConfigureAwait(false));
                break;
            case "ike" when target.Transport == Transport.Udp:
                legs.AddRange(await Task.WhenAll(IkeAsync(context, target, 1, cancellationToken), IkeAsync(context, target, 2, cancellationToken)).ConfigureAwait(false));
                break;
            case "rmi" when target.Transport == Transport.Tcp:
                legs.Add(await RmiAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "mgcp" when target.Transport == Transport.Udp:
                legs.AddRange(await MgcpAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "ssh" when target.Transport == Transport.Tcp:
                legs.Add(await SshAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "ldap" or "ldaps" when target.Transport == Transport.Tcp:
                legs.Add(await LdapAsync(context, target, flow.Protocol == "ldaps", cancellationToken).ConfigureAwait(false));
                break;
            case "h225-ras" when target.Transport == Transport.Udp:
                legs.AddRange(await RasAsync(context, target, cancellationToken).ConfigureAwait(false));
                break;
            case "h225" when target.Transport == Transport.Tcp:
                legs.AddRange(await H225Async(context, target, cancellationToken).ConfigureAwait(false));
                break;
        }

        if (tls is not null)
        {
            legs.Insert(0, await tls.ConfigureAwait(false));
        }

        return legs;
    }

    /// <summary>A TLS handshake that records what the listener presents; the certificate is reported, never trusted.</summary>
    public static async Task<LegResult> TlsAsync(ProbeContext context, ProbeTarget target, string role, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = "tls", Listener = target.Listener, Role = role, Target = Format(context.EndPoint(target.Dial)) };
        var started = Stopwatch.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(context.Total);
        using var socket = new Socket(context.Target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(context.Any, 0));
            await socket.ConnectAsync(context.EndPoint(target.Dial), cts.Token).ConfigureAwait(false);
            leg.Local = Format((IPEndPoint)socket.LocalEndPoint!);
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "cucmsim" }, cts.Token).ConfigureAwait(false);
            if (ssl.RemoteCertificate is { } remote)
            {
                using var certificate = new X509Certificate2(remote);
                leg.Certificate = Describe(certificate, ssl.SslProtocol.ToString());
                leg.Detail = $"{ssl.SslProtocol}, certificate {certificate.Subject}, issued by {certificate.Issuer}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}";
                if (certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow)
                {
                    leg.Evidence.Add("the certificate has expired");
                }
            }
            else
            {
                leg.Detail = $"{ssl.SslProtocol}, no certificate";
            }

            leg.Outcome = Outcome.Answered;
        }
        catch (Exception ex)
        {
            Classify(leg, ex, cancellationToken);
        }

        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return leg;
    }

    public static CertificateEvidence Describe(X509Certificate2 certificate, string? protocol)
    {
        var sans = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                sans.AddRange(san.EnumerateDnsNames().Select(n => "DNS:" + n));
                sans.AddRange(san.EnumerateIPAddresses().Select(a => "IP:" + a));
            }
        }

        return new CertificateEvidence(certificate.Subject, certificate.Issuer, sans, new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero), certificate.Thumbprint, protocol);
    }

    /// <summary>
    /// A SIP session on one transport: OPTIONS, REGISTER, then INVITE with SDP, RTP both ways through the answered
    /// media port (the server's pool echoes it), and BYE. Each request is a leg; the media is the secondary leg.
    /// </summary>
    public static async Task<List<LegResult>> SipAsync(ProbeContext context, ProbeTarget target, string transport, CancellationToken cancellationToken)
    {
        var where = $"{transport}:{Format(context.EndPoint(target.Dial))}";
        var options = new LegResult { Name = "sip-options", Listener = target.Listener, Role = "primary", Target = where };
        var register = new LegResult { Name = "sip-register", Listener = target.Listener, Role = "primary", Target = where, Outcome = Outcome.NotRun };
        var invite = new LegResult { Name = "sip-invite", Listener = target.Listener, Role = "primary", Target = where, Outcome = Outcome.NotRun };
        var media = new LegResult { Name = "sip-rtp", Listener = target.Listener, Role = "secondary", Outcome = Outcome.NotRun };
        List<LegResult> legs = [options, register, invite, media];
        var started = Stopwatch.GetTimestamp();
        var current = options;
        SipClient? client = null;
        SipOpenCall? call = null;
        var handedOn = false;
        try
        {
            client = await SipClient.ConnectAsync(new SipClientOptions
            {
                Target = context.EndPoint(target.Dial),
                Transport = transport,
                Timeout = context.Total,
                Source = new IPEndPoint(context.Any, 0),
            }, cancellationToken).ConfigureAwait(false);
            foreach (var leg in legs)
            {
                leg.Local = Format(client.LocalEndPoint);
            }

            if (!Sip(options, "OPTIONS", await client.OptionsAsync(cancellationToken: cancellationToken).ConfigureAwait(false), started))
            {
                return legs;
            }

            current = register;
            var user = context.DeviceName;
            if (!Sip(register, "REGISTER", await client.RegisterAsync(user, context.SipPassword, 60, cancellationToken).ConfigureAwait(false), started))
            {
                return legs;
            }

            current = invite;
            call = await client.PlaceAsync(context.SipNumber, packets: 10, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!Sip(invite, "INVITE", call.Invite, started) || !call.Invite.Ok)
            {
                if (call.Invite.Status is 401 or 407)
                {
                    invite.Evidence.Add(context.SipPassword is null
                        ? "the INVITE was challenged for digest credentials (as CUCM challenges a digest phone's): give --sip-password to place the call and test its media"
                        : "the INVITE's challenge was not met with --sip-password's credentials");
                }

                return legs;
            }

            media.Target = call.MediaTarget?.ToString();
            media.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            media.Outcome = call.PacketsReceived > 0 ? Outcome.Answered : Outcome.NoAnswer;
            media.Detail = string.Create(CultureInfo.InvariantCulture, $"RTP to {call.MediaTarget}: {call.PacketsSent} sent, {call.PacketsReceived} came back");
            if (call.PacketsReceived > 0 && call.PacketsReceived < call.PacketsSent)
            {
                media.Evidence.Add("some media packets were lost");
            }

            if (context.IdleSeconds > 0 && call.PacketsReceived > 0 && call.MediaTarget is { } mediaTarget
                && await CallIdleAsync(context, client, call, media, invite, mediaTarget, cancellationToken).ConfigureAwait(false) is { } later)
            {
                // The call stays up through the silence; the BYE follows it, outside the flow's turn.
                media.Later = later;
                handedOn = true;
                return legs;
            }

            Bye(invite, await client.HangUpAsync(call, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            Classify(current, ex, cancellationToken);
            current.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
        finally
        {
            if (!handedOn)
            {
                call?.Dispose();
                if (client is not null)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        return legs;
    }

    /// <summary>How the call ended, on the INVITE leg: the BYE's answer, and a challenge it met.</summary>
    private static void Bye(LegResult invite, SipCallResult ended)
    {
        invite.Detail += ended.Bye is { } bye ? $"; BYE {(bye.Error ?? bye.Status.ToString(CultureInfo.InvariantCulture))}" : string.Empty;
        if (ended.ByeChallenge is { } challenge)
        {
            invite.Detail += string.Create(CultureInfo.InvariantCulture, $" (after a {challenge} challenge answered with --sip-password's credentials)");
        }
    }

    /// <summary>
    /// --idle on a call's media, as a call on hold or muted goes silent: the call's own RTP socket sends the echo probe
    /// to the answered media port, asking for a delayed answer, and stays silent with the call up; the answer after
    /// the silence must come back through the pinhole the call opened (ASA: timeout sip_media, 2 minutes by default).
    /// Returns the wait, which then ends the call with BYE and closes the client; null when the media port did not
    /// answer the probe (the call is then the caller's to end).
    /// </summary>
    private static async Task<Task<LegResult>?> CallIdleAsync(ProbeContext context, SipClient client, SipOpenCall call, LegResult media, LegResult invite, IPEndPoint mediaTarget, CancellationToken cancellationToken)
    {
        if (await CallEchoAsync(context, media, call.Media, mediaTarget, cancellationToken).ConfigureAwait(false) is not { } echo)
        {
            return null;
        }

        return HeldCallAsync(
            () => IdleAsync(media, context.IdleSeconds, echo.Callback),
            async _ => Bye(invite, await client.HangUpAsync(call, cancellationToken).ConfigureAwait(false)),
            async () =>
            {
                call.Dispose();
                await client.DisposeAsync().ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <summary>
    /// A held call's idle leg: the wait for the delayed answer, then the call's end (a failure of it in the leg's
    /// evidence: the verdict is the silence's), then the call's sockets freed whatever happened.
    /// </summary>
    private static async Task<LegResult> HeldCallAsync(Func<Task<LegResult>> wait, Func<LegResult, Task> end, Func<ValueTask> free, CancellationToken cancellationToken)
    {
        try
        {
            var idle = await wait().ConfigureAwait(false);
            idle.Evidence.Add("on the call's media path: the same sockets as its RTP, the call up through the silence");
            try
            {
                await end(idle).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                idle.Evidence.Add($"ending the call after the silence failed: {ex.GetType().Name}: {ex.Message}");
            }

            return idle;
        }
        finally
        {
            await free().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// --mtu: an OPTIONS of about 1,400 bytes over UDP (padded with a header), the size past which RFC 3261 §18.1.1
    /// wants a congestion-controlled transport and past which some paths drop or fail to reassemble.
    /// </summary>
    public static async Task<LegResult> LargeOptionsAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        const int size = 1400;
        var endPoint = context.EndPoint(target.Dial);
        var leg = new LegResult { Name = "sip-mtu", Listener = target.Listener, Role = "mtu", Target = "udp:" + Format(endPoint), Outcome = Outcome.NoAnswer };
        var started = Stopwatch.GetTimestamp();
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(context.Any, 0));
            socket.Connect(endPoint);
            var local = (IPEndPoint)socket.LocalEndPoint!;
            leg.Local = Format(local);
            var callId = Guid.NewGuid().ToString("N");
            var head = $"OPTIONS sip:ping@{Format(endPoint)} SIP/2.0\r\nVia: SIP/2.0/UDP {Format(local)};branch=z9hG4bK{callId[..16]};rport\r\nMax-Forwards: 70\r\n" +
                       $"From: <sip:probe@cucmsim>;tag={callId[16..24]}\r\nTo: <sip:ping@{Format(endPoint)}>\r\nCall-ID: {callId}\r\nCSeq: 1 OPTIONS\r\nX-CucmSim-Pad: ";
            const string tail = "\r\nContent-Length: 0\r\n\r\n";
            var request = System.Text.Encoding.ASCII.GetBytes(head + new string('x', Math.Max(0, size - head.Length - tail.Length)) + tail);
            var buffer = new byte[65536];
            for (var attempt = 0; attempt <= context.Retries && leg.Outcome != Outcome.Answered; attempt++)
            {
                await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(context.Timeout);
                try
                {
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token).ConfigureAwait(false);
                        var text = System.Text.Encoding.UTF8.GetString(buffer, 0, n);
                        if (text.StartsWith("SIP/2.0 ", StringComparison.Ordinal) && text.Contains(callId, StringComparison.Ordinal))
                        {
                            leg.Outcome = Outcome.Answered;
                            leg.Detail = string.Create(CultureInfo.InvariantCulture, $"an OPTIONS of {request.Length} bytes answered {text[8..text.IndexOf('\r', StringComparison.Ordinal)]}");
                            break;
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    leg.Outcome = Outcome.NoAnswer;
                    leg.Detail = string.Create(CultureInfo.InvariantCulture, $"an OPTIONS of {request.Length} bytes got no answer");
                }
            }
        }
        catch (Exception ex)
        {
            Classify(leg, ex, cancellationToken);
        }

        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return leg;
    }

    /// <summary>Fills a SIP leg from one transaction; true when a final response came (any status proves the path).</summary>
    private static bool Sip(LegResult leg, string method, SipExchange exchange, long started)
    {
        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (exchange.Error is not null)
        {
            leg.Outcome = exchange.Error == "timeout" ? Outcome.NoAnswer : Outcome.Incomplete;
            leg.Detail = $"{method}: {exchange.Error}" + (exchange.Provisional.Count > 0 ? $" after {string.Join(", ", exchange.Provisional)}" : string.Empty);
            return false;
        }

        leg.Outcome = Outcome.Answered;
        leg.Detail = string.Create(CultureInfo.InvariantCulture, $"{method} answered {exchange.Status} {exchange.Reason}");
        if (exchange.Mirror is null)
        {
            leg.Evidence.Add("the response carries no X-CucmSim-Mirror: not a cucmsim serve, or a middlebox removed the header");
        }
        else
        {
            leg.PeerSeen = exchange.Mirror.Source;
        }

        // Requests: what was sent against what the server says arrived. Responses: what the server says it sent
        // against what arrived here. Source NAT alone is not a rewrite: it shows as the peer seen.
        foreach (var rewrite in exchange.Rewrites.Where(r => r.Field != "source").Concat(exchange.ResponseRewrites))
        {
            leg.Diffs.Add(new FieldDiff(leg.Name, rewrite.Field, rewrite.Sent, rewrite.Received));
        }

        return true;
    }

    /// <summary>
    /// TFTP RRQ of the phone's own config, plain and with options (blksize, tsize, windowsize) side by side: per read,
    /// the request leg to the listener and the data leg from the transfer port. (serve writes who asked into a
    /// generated file, so the two reads' checksums differ.)
    /// </summary>
    public static async Task<List<LegResult>> TftpAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var plain = TftpReadAsync(context, target, default, string.Empty, cancellationToken);
        var options = TftpReadAsync(context, target, new TftpOptionSet(1428, 0, null, 4), "-options", cancellationToken);
        var (rrq, data) = await plain.ConfigureAwait(false);
        var (rrqOptions, dataOptions) = await options.ConfigureAwait(false);
        return [rrq, data, rrqOptions, dataOptions];
    }

    private static async Task<(LegResult Rrq, LegResult Data)> TftpReadAsync(ProbeContext context, ProbeTarget target, TftpOptionSet request, string suffix, CancellationToken cancellationToken)
    {
        var file = context.DeviceName + ".cnf.xml";
        var rrq = new LegResult { Name = "tftp-rrq" + suffix, Listener = target.Listener, Role = "primary", Target = $"tftp://{Format(context.EndPoint(target.Dial))}/{file}" };
        var data = new LegResult { Name = "tftp-data" + suffix, Listener = target.Listener, Role = "secondary", Target = "the server's transfer port" };
        var asked = request.Any ? $" ({request})" : string.Empty;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await TftpClient.GetAsync(context.EndPoint(target.Dial), file, new TftpGetOptions
            {
                Timeout = context.Timeout,
                Retries = context.Retries,
                Source = context.Source,
                Request = request,
            }, cancellationToken).ConfigureAwait(false);
            if (result.DataEndPoint is null)
            {
                rrq.Outcome = Outcome.NoAnswer;
                data.Outcome = Outcome.NoAnswer;
                rrq.Detail = $"RRQ {file}{asked}: {result.Error}";
                data.Detail = "no packet came back from any port of the server";
            }
            else
            {
                rrq.Outcome = Outcome.Answered;
                rrq.Detail = result.ServerError is { } code ? $"RRQ{asked} answered with ERROR {(int)code}: {result.ServerMessage}"
                    : result.Negotiated is { } granted ? $"RRQ {file}{asked} answered, OACK {granted}" : $"RRQ {file}{asked} answered";
                data.Target = Format(result.DataEndPoint);
                if (result.Ok)
                {
                    data.Outcome = Outcome.Answered;
                    data.Detail = string.Create(CultureInfo.InvariantCulture, $"{result.Content!.Length} bytes from {Format(result.DataEndPoint)}, sha256 {result.Sha256}, {result.Retransmits} retransmission(s)");
                    if (result.DataEndPoint.Port == target.Dial)
                    {
                        data.Evidence.Add("the data came from the listener's own port, not a transfer port (serve --tftp-single-port, or a NAT that rewrote the source port)");
                    }

                    var text = System.Text.Encoding.UTF8.GetString(result.Content);
                    if (!text.TrimEnd().EndsWith('>'))
                    {
                        data.Outcome = Outcome.Incomplete;
                        data.Detail += "; the file ends mid-document";
                    }
                    else if (!text.Contains(context.Target.ToString(), StringComparison.Ordinal))
                    {
                        data.Evidence.Add($"the configuration does not name {context.Target}, the address the probe reached: phones behind this path would be sent elsewhere (a NATed CUCM needs its outside address in configs: serve --external-address)");
                    }
                }
                else if (result.ServerError is not null)
                {
                    data.Outcome = Outcome.NotRun;
                    data.Detail = "no transfer: the server answered with an error";
                }
                else
                {
                    data.Outcome = Outcome.Incomplete;
                    data.Detail = $"transfer from {Format(result.DataEndPoint)} stopped: {result.Error}";
                }
            }
        }
        catch (Exception ex)
        {
            Classify(rrq, ex, cancellationToken);
            data.Outcome = Outcome.NotRun;
        }

        rrq.ElapsedMs = data.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return (rrq, data);
    }

    /// <summary>The browser's flows (table 4): the admin web with AXL, not the phones' provisioning files.</summary>
    private static bool IsAdminWeb(Flow flow) => flow.From == "browser";

    /// <summary>
    /// The admin web as an AXL application uses it: getCCMVersion with basic auth. Any HTTP answer proves the path;
    /// the detail says whether the credentials were taken and which version the node reports.
    /// </summary>
    public static async Task<LegResult> AxlAsync(ProbeContext context, ProbeTarget target, bool https, CancellationToken cancellationToken)
    {
        var endPoint = context.EndPoint(target.Dial);
        var leg = new LegResult { Name = "axl", Listener = target.Listener, Role = "primary", Target = Format(endPoint) };
        var user = context.AxlUser.Split(':', 2);
        var host = endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]" : endPoint.Address.ToString();
        var started = Stopwatch.GetTimestamp();
        using var axl = new AxlClient(new Uri($"{(https ? "https" : "http")}://{host}:{endPoint.Port}/"), user[0], user.Length > 1 ? user[1] : string.Empty, timeout: context.Total);
        try
        {
            var answer = await axl.GetCcmVersionAsync(cancellationToken).ConfigureAwait(false);
            leg.Outcome = Outcome.Answered;
            leg.Detail = answer.Status == System.Net.HttpStatusCode.OK
                ? $"AXL getCCMVersion: {answer.Element("version") ?? "answered"}"
                : string.Create(CultureInfo.InvariantCulture, $"AXL getCCMVersion: HTTP {(int)answer.Status} ({answer.Status})");
        }
        catch (HttpRequestException ex)
        {
            var socket = ex.InnerException as SocketException;
            leg.Outcome = socket?.SocketErrorCode == SocketError.ConnectionRefused ? Outcome.Reset
                : socket?.SocketErrorCode is SocketError.HostUnreachable or SocketError.NetworkUnreachable ? Outcome.Icmp
                : Outcome.Incomplete;
            leg.Detail = "AXL getCCMVersion: " + ex.Message;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            leg.Outcome = Outcome.NoAnswer;
            leg.Detail = "AXL getCCMVersion: no answer";
        }
        catch (System.Xml.XmlException ex)
        {
            leg.Outcome = Outcome.Incomplete;
            leg.Detail = "AXL getCCMVersion: not XML: " + ex.Message;
        }

        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return leg;
    }

    public static async Task<LegResult> HttpAsync(ProbeContext context, ProbeTarget target, bool https, CancellationToken cancellationToken)
    {
        var file = context.DeviceName + ".cnf.xml";
        var leg = new LegResult { Name = https ? "https-get" : "http-get", Listener = target.Listener, Role = "primary" };
        var started = Stopwatch.GetTimestamp();
        var result = await ProvisioningClient.HttpGetAsync(context.EndPoint(target.Dial), file, https, context.Total, cancellationToken: cancellationToken).ConfigureAwait(false);
        leg.Target = result.Target;
        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (result.Status is { } status)
        {
            // Any HTTP answer proves the path; 404 is what listeners without provisioning files say.
            leg.Outcome = Outcome.Answered;
            leg.Detail = string.Create(CultureInfo.InvariantCulture, $"GET /{file}: HTTP {status}, {result.Content?.Length ?? 0} bytes");
        }
        else
        {
            var error = result.Error ?? "no answer";
            leg.Outcome = error.Contains("refused", StringComparison.OrdinalIgnoreCase) ? Outcome.Reset
                : error.Contains("unreachable", StringComparison.OrdinalIgnoreCase) ? Outcome.Icmp
                : error.Contains("timed out", StringComparison.OrdinalIgnoreCase) || error.Contains("canceled", StringComparison.OrdinalIgnoreCase) ? Outcome.NoAnswer
                : Outcome.Incomplete;
            leg.Detail = $"GET /{file}: {error}";
        }

        return leg;
    }

    /// <summary>
    /// SNMP: a v2c GET of sysDescr and, with --snmp-user, a v3 GET as that user beside it (discovery, then the user's
    /// level). A v3 Report (unknown user, wrong digest, ...) proves the path both ways: the leg names the credential.
    /// </summary>
    public static async Task<List<LegResult>> SnmpAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        const string sysDescr = "1.3.6.1.2.1.1.1.0";
        var endPoint = context.EndPoint(target.Dial);
        var v2 = SnmpClient.GetAsync(endPoint, context.SnmpCommunity, [sysDescr], timeout: context.Total, attempts: context.Retries + 1, cancellationToken: cancellationToken);
        var v3 = context.SnmpUser is { } user
            ? SnmpV3Client.GetAsync(endPoint, user, [sysDescr], context.Total, context.Retries + 1, cancellationToken)
            : null;

        var leg = new LegResult { Name = "snmp-get", Listener = target.Listener, Role = "primary", Target = Format(endPoint) };
        var result = await v2.ConfigureAwait(false);
        leg.ElapsedMs = result.Elapsed.TotalMilliseconds;
        if (result.Error is null)
        {
            leg.Outcome = Outcome.Answered;
            leg.Detail = $"v2c GET sysDescr ({context.SnmpCommunity}): {result[sysDescr]?.ToString() ?? result.ErrorStatus.ToString()}";
        }
        else
        {
            leg.Outcome = OutcomeOf(result.Error);
            leg.Detail = "v2c GET sysDescr: " + result.Error;
        }

        if (v3 is null)
        {
            return [leg];
        }

        var secure = new LegResult { Name = "snmp-v3-get", Listener = target.Listener, Role = "primary", Target = leg.Target };
        var answer = await v3.ConfigureAwait(false);
        secure.ElapsedMs = answer.Elapsed.TotalMilliseconds;
        var engine = answer.EngineId is null ? string.Empty : $", engine {answer.EngineId}";
        if (answer.Error is null)
        {
            secure.Outcome = Outcome.Answered;
            secure.Detail = $"v3 GET sysDescr as {context.SnmpUser}{engine}: {answer[sysDescr]?.ToString() ?? answer.ErrorStatus.ToString()}";
            if (answer.Resynchronised)
            {
                secure.Evidence.Add("the agent reported notInTimeWindow once; the request went again with its clock");
            }
        }
        else
        {
            // A Report came back: the path carries SNMPv3 both ways, the agent refused the credentials.
            secure.Outcome = answer.Report is null ? OutcomeOf(answer.Error) : Outcome.Incomplete;
            secure.Detail = $"v3 GET sysDescr{engine}: {answer.Error}"
                + (answer.Report is null ? string.Empty : "; the agent's Report came back, so the path carries SNMPv3: check the user on both sides")
                + (leg.Outcome == Outcome.Answered ? "; v2c on the same port was answered" : string.Empty);
        }

        return [leg, secure];
    }

    /// <summary>Where a client's error text says nothing came back, an ICMP error did, or something else went wrong.</summary>
    private static Outcome OutcomeOf(string error) =>
        error.StartsWith("timeout", StringComparison.Ordinal) ? Outcome.NoAnswer
        : error.StartsWith("port unreachable", StringComparison.Ordinal) ? Outcome.Icmp
        : error == "refused" ? Outcome.Reset
        : Outcome.Incomplete;

    /// <summary>IKE (a gateway starting IPsec): the first message of v1 or v2; any answer proves 500/udp both ways.</summary>
    public static async Task<LegResult> IkeAsync(ProbeContext context, ProbeTarget target, int version, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = version == 1 ? "ike-v1" : "ike-v2", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var result = await IkeClient.ProbeAsync(context.EndPoint(target.Dial), version, context.Total, context.Retries + 1, cancellationToken).ConfigureAwait(false);
        leg.ElapsedMs = result.Elapsed.TotalMilliseconds;
        leg.Outcome = result.Error is null ? Outcome.Answered : OutcomeOf(result.Error);
        leg.Detail = result.Error is null
            ? string.Create(CultureInfo.InvariantCulture, $"IKEv{version}: answered with notify {result.Notify?.ToString(CultureInfo.InvariantCulture) ?? "none"}{(result.NoProposalChosen ? " (NO_PROPOSAL_CHOSEN)" : string.Empty)}")
            : $"IKEv{version}: {result.Error}";
        return leg;
    }

    /// <summary>Java RMI: the JRMP handshake; the endpoint the server names is this client as it saw it (NAT shows).</summary>
    public static async Task<LegResult> RmiAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = "rmi-handshake", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var result = await RmiClient.HandshakeAsync(context.EndPoint(target.Dial), context.Total, cancellationToken).ConfigureAwait(false);
        leg.ElapsedMs = result.Elapsed.TotalMilliseconds;
        leg.Outcome = result.Error is null ? Outcome.Answered : OutcomeOf(result.Error);
        if (result.Error is null)
        {
            leg.PeerSeen = string.Create(CultureInfo.InvariantCulture, $"{result.SeenHost}:{result.SeenPort}");
            leg.Detail = $"ProtocolAck naming {leg.PeerSeen}; ping {(result.PingAnswered ? "answered" : "not answered")}";
        }
        else
        {
            leg.Detail = "JRMP handshake: " + result.Error;
        }

        return leg;
    }

    /// <summary>
    /// SSH (the publisher installing a subscriber, DRS and CDR to the SFTP server): identification and key exchange;
    /// the host key's signature is checked, its type and fingerprint are the evidence. Nobody logs in.
    /// </summary>
    public static async Task<LegResult> SshAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = "ssh-kex", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var result = await SshKeyScanClient.ScanAsync(context.EndPoint(target.Dial), context.Total, cancellationToken).ConfigureAwait(false);
        leg.ElapsedMs = result.Elapsed.TotalMilliseconds;
        if (result.Server is { } server)
        {
            leg.Evidence.Add("banner " + server.Line);
        }

        if (result.Fingerprint is not null)
        {
            leg.Evidence.Add($"host key {result.HostKeyAlgorithm} {result.Fingerprint}");
        }

        if (result.Error is null)
        {
            leg.Outcome = Outcome.Answered;
            leg.Detail = $"{result.Server!.Line}; {result.Kex} with host key {result.HostKeyAlgorithm} {result.Fingerprint} (signature verified)" +
                (result.Disconnect is { } bye ? $"; then disconnected ({bye.Reason}: {bye.Description})" : string.Empty);
        }
        else
        {
            // A server that answered at all (its banner) proves the path; what failed after is the server's, or the middle's.
            leg.Outcome = OutcomeOf(result.Error);
            leg.Detail = (result.Server is { } s ? s.Line + ": " : "SSH: ") + result.Error;
        }

        return leg;
    }

    /// <summary>
    /// LDAP as CUCM's directory sync starts: an anonymous simple bind, the root DSE for the naming context, a subtree
    /// search for people under it, unbind. Any bind answer proves the path; the detail says what the directory holds.
    /// </summary>
    public static async Task<LegResult> LdapAsync(ProbeContext context, ProbeTarget target, bool tls, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = "ldap-bind-search", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var started = Stopwatch.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(context.Total);
        try
        {
            await using var ldap = await LdapConnection.ConnectAsync(context.EndPoint(target.Dial), tls, context.Source, cts.Token).ConfigureAwait(false);
            leg.Local = ldap.Local is { } local ? Format(local) : null;
            var bind = await ldap.BindAsync(string.Empty, string.Empty, cts.Token).ConfigureAwait(false);
            leg.Outcome = Outcome.Answered;
            if (bind.Code != LdapResultCode.Success)
            {
                leg.Detail = $"anonymous bind answered {bind.Code} ({(int)bind.Code}): {bind.Diagnostic}";
                return leg;
            }

            var root = await ldap.SearchAsync(string.Empty, LdapScope.BaseObject, new LdapPresent("objectClass"), ["namingContexts", "supportedLDAPVersion"], cancellationToken: cts.Token).ConfigureAwait(false);
            var naming = root.Entries.FirstOrDefault()?.Get("namingContexts").FirstOrDefault();
            var people = naming is null
                ? null
                : await ldap.SearchAsync(naming, LdapScope.WholeSubtree, LdapFilter.Parse("(objectClass=person)"), ["sAMAccountName", "telephoneNumber"], 100, cancellationToken: cts.Token).ConfigureAwait(false);
            await ldap.UnbindAsync(cts.Token).ConfigureAwait(false);
            leg.Detail = string.Create(CultureInfo.InvariantCulture,
                $"bind success; root DSE naming context {naming ?? "none"}; {people?.Entries.Count ?? 0} people ({people?.Done.Code.ToString() ?? "not searched"}){(ldap.TlsDetail is null ? string.Empty : "; " + ldap.TlsDetail)}");
        }
        catch (Exception ex)
        {
            Classify(leg, ex, cancellationToken);
        }
        finally
        {
            leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        return leg;
    }

    /// <summary>MGCP (a gateway restarting): RSIP answered, then the call agent's AUEP to the gateway (the secondary leg).</summary>
    public static async Task<List<LegResult>> MgcpAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var endpoint = $"aaln/1@{context.DeviceName.ToLowerInvariant()}";
        var rsip = new LegResult { Name = "mgcp-rsip", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var audit = new LegResult { Name = "mgcp-auep", Listener = target.Listener, Role = "secondary", Target = rsip.Target, Outcome = Outcome.NotRun };
        var result = await MgcpClient.RestartAsync(context.EndPoint(target.Dial), endpoint, context.Total, cancellationToken).ConfigureAwait(false);
        rsip.ElapsedMs = result.Restart.Elapsed.TotalMilliseconds;
        if (result.Restart.Error is null)
        {
            rsip.Outcome = Outcome.Answered;
            rsip.Detail = string.Create(CultureInfo.InvariantCulture, $"RSIP for {endpoint} answered {result.Restart.Response?.Code}");
            audit.Outcome = result.Audit is null ? Outcome.NoAnswer : Outcome.Answered;
            audit.Detail = result.Audit is null ? $"no AUEP from the call agent: {result.AuditError}" : $"AUEP {result.Audit.Endpoint} came back to this gateway, answered 200";
        }
        else
        {
            rsip.Outcome = OutcomeOf(result.Restart.Error);
            rsip.Detail = "RSIP: " + result.Restart.Error;
        }

        return [rsip, audit];
    }

    /// <summary>
    /// H.323 RAS (a gateway or gatekeeper towards CUCM): GRQ, RRQ, LRQ for the test number and URQ, one leg each; any
    /// answer (a reject included) proves 1719/udp both ways. A step that gets nothing stops the rest.
    /// </summary>
    public static async Task<List<LegResult>> RasAsync(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var endPoint = context.EndPoint(target.Dial);
        var where = Format(endPoint);
        var names = new[] { "ras-grq", "ras-rrq", "ras-lrq", "ras-urq" };
        var legs = names.Select(n => new LegResult { Name = n, Listener = target.Listener, Role = "primary", Target = where, Outcome = Outcome.NotRun }).ToList();
        string? endpointId = null;
        for (var i = 0; i < legs.Count; i++)
        {
            var result = i switch
            {
                0 => await H323Client.DiscoverAsync(endPoint, context.Total, context.Retries + 1, cancellationToken: cancellationToken).ConfigureAwait(false),
                1 => await H323Client.RegisterAsync(endPoint, [H225Alias.H323Id(context.DeviceName)], context.Total, context.Retries + 1, cancellationToken).ConfigureAwait(false),
                2 => await H323Client.LocateAsync(endPoint, context.SipNumber, context.Total, context.Retries + 1, cancellationToken).ConfigureAwait(false),
                _ => await H323Client.UnregisterAsync(endPoint, endpointId, context.Total, context.Retries + 1, cancellationToken).ConfigureAwait(false),
            };
            var leg = legs[i];
            leg.ElapsedMs = result.Elapsed.TotalMilliseconds;
            leg.Local = result.Local is null ? null : Format(result.Local);
            if (result.Answer is not { } answer)
            {
                leg.Outcome = OutcomeOf(result.Error!);
                leg.Detail = $"{names[i][4..].ToUpperInvariant()}: {result.Error}";
                break;
            }

            leg.Outcome = Outcome.Answered;
            endpointId ??= answer.EndpointIdentifier;
            leg.Detail = answer.Type switch
            {
                RasKind.GatekeeperConfirm => $"GCF from gatekeeper {answer.GatekeeperIdentifier}, RAS address {answer.RasAddress}",
                RasKind.RegistrationConfirm => $"RCF: endpoint {answer.EndpointIdentifier}, call signalling at {string.Join(", ", answer.CallSignalAddresses)}",
                RasKind.LocationConfirm => $"LCF for {context.SipNumber}: call signalling at {answer.CallSignalAddress}",
                _ => string.Create(CultureInfo.InvariantCulture, $"{answer.Name}{(answer.Reason is { } reason ? $" (reason {reason})" : string.Empty)}"),
            };
        }

        return legs;
    }

    /// <summary>
    /// H.225 call signalling (a gateway or trunk calling CUCM): Setup to the test number answered up to Connect (or
    /// ReleaseComplete), then the secondary leg: a TCP connection to the H.245 address the Connect names, the pinhole
    /// an inspecting firewall opens from it. ReleaseComplete ends the call.
    /// </summary>
    public static async Task<List<LegResult>> H225Async(ProbeContext context, ProbeTarget target, CancellationToken cancellationToken)
    {
        var endPoint = context.EndPoint(target.Dial);
        var setup = new LegResult { Name = "h225-setup", Listener = target.Listener, Role = "primary", Target = Format(endPoint) };
        var h245 = new LegResult { Name = "h245", Listener = target.Listener, Role = "secondary", Outcome = Outcome.NotRun };
        var result = await H323Client.CallAsync(endPoint, context.SipNumber, new H225CallOptions
        {
            Timeout = context.Total * 2,
            Source = context.Source is null ? null : new IPEndPoint(context.Source, 0),
            StatusEnquiry = true,
        }, cancellationToken).ConfigureAwait(false);
        setup.ElapsedMs = result.Elapsed.TotalMilliseconds;
        setup.Local = result.Local is null ? null : Format(result.Local);
        var answers = string.Join(", ", result.Answers.Select(a => a.Name));
        if (result.Answers.Count == 0)
        {
            setup.Outcome = OutcomeOf(result.Error ?? "timeout");
            setup.Detail = "Setup: " + result.Error;
            return [setup, h245];
        }

        setup.Outcome = Outcome.Answered;
        setup.Detail = result.Connected
            ? $"Setup to {context.SipNumber} answered {answers}; H.245 address {result.H245Address}"
            : $"Setup to {context.SipNumber} answered {answers} (cause {result.Release?.Cause?.ToString(CultureInfo.InvariantCulture) ?? "none"})";
        if (result.H245Reached is { } reached)
        {
            h245.Target = result.H245Address is null ? null : Format(result.H245Address);
            h245.ElapsedMs = setup.ElapsedMs;
            h245.Outcome = reached ? Outcome.Answered : result.H245Error!.StartsWith("refused", StringComparison.Ordinal) ? Outcome.Reset : Outcome.NoAnswer;
            h245.Detail = reached ? $"TCP to the H.245 address {h245.Target} connected" : result.H245Error;
        }

        return [setup, h245];
    }

    /// <summary>SCCP: register, a call to the test number with RTP both ways through the negotiated ports, unregister.</summary>
    public static async Task<List<LegResult>> SccpAsync(ProbeContext context, ProbeTarget target, bool tls, CancellationToken cancellationToken)
    {
        var leg = new LegResult { Name = "sccp-register", Listener = target.Listener, Role = "primary", Target = Format(context.EndPoint(target.Dial)) };
        var call = new LegResult { Name = "sccp-call", Listener = target.Listener, Role = "primary", Target = leg.Target, Outcome = Outcome.NotRun };
        var media = new LegResult { Name = "sccp-rtp", Listener = target.Listener, Role = "secondary", Outcome = Outcome.NotRun };
        var current = leg;
        var started = Stopwatch.GetTimestamp();
        var phone = new SccpPhone(new SccpPhoneOptions
        {
            DeviceName = context.DeviceName,
            Source = context.Source,
            Tls = tls,
            Timeout = context.Total,
        });
        SccpPlacedCall? placed = null;
        var handedOn = false;
        try
        {
            await phone.ConnectAsync(context.EndPoint(target.Dial), cancellationToken).ConfigureAwait(false);
            leg.Local = phone.LocalEndPoint is null ? null : Format(phone.LocalEndPoint);
            var registration = await phone.RegisterAsync(cancellationToken).ConfigureAwait(false);
            leg.Outcome = Outcome.Answered;
            leg.Detail = registration.Accepted
                ? string.Create(CultureInfo.InvariantCulture, $"{context.DeviceName} registered (RegisterAck, protocol version {registration.NegotiatedVersion})")
                : $"{context.DeviceName} rejected: {registration.RejectText}";
            if (registration.Accepted)
            {
                current = call;
                placed = await phone.PlaceCallAsync(context.SipNumber, rtpPackets: 10, cancellationToken).ConfigureAwait(false);
                call.Outcome = Outcome.Answered;
                call.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (placed.Media is { } channel)
                {
                    call.Detail = $"call to {context.SipNumber}: media to {channel.Target}, the phone's media at {channel.Local}";
                    media.Target = Format(channel.Target);
                    media.Outcome = placed.RtpEchoed > 0 ? Outcome.Answered : Outcome.NoAnswer;
                    media.Detail = string.Create(CultureInfo.InvariantCulture, $"RTP to {media.Target}: {placed.RtpSent} sent, {placed.RtpEchoed} came back");
                    media.ElapsedMs = call.ElapsedMs;
                }
                else
                {
                    call.Detail = $"call to {context.SipNumber} not connected: {placed.Error}";
                }

                Mirror(leg, phone);
                if (context.IdleSeconds > 0 && placed is { Media: { } held, RtpEchoed: > 0 }
                    && await CallEchoAsync(context, media, held.Rtp, held.Target, cancellationToken).ConfigureAwait(false) is { } echo)
                {
                    // The call stays up through the silence, the phone keeping alive; on hook after it, outside the flow's turn.
                    media.Later = HoldSccpAsync(context, phone, placed, media, echo, cancellationToken);
                    handedOn = true;
                    leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    return [leg, call, media];
                }

                await phone.EndCallAsync(placed, cancellationToken).ConfigureAwait(false);
                current = leg;
                await phone.UnregisterAsync(cancellationToken).ConfigureAwait(false);
            }

            Mirror(leg, phone);
        }
        catch (Exception ex)
        {
            Classify(current, ex, cancellationToken);
        }
        finally
        {
            if (!handedOn)
            {
                placed?.Dispose();
                await phone.DisposeAsync().ConfigureAwait(false);
            }
        }

        leg.ElapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return [leg, call, media];
    }

    /// <summary>What the server saw of the phone's registration against what it sent (the DisplayNotify mirror).</summary>
    private static void Mirror(LegResult leg, SccpPhone phone)
    {
        var mirror = phone.Mirror();
        leg.PeerSeen = mirror.SignallingSeen;
        leg.Diffs.RemoveAll(d => d.Field == "RegisterReq station address");
        if (mirror.EmbeddedRewritten)
        {
            leg.Diffs.Add(new FieldDiff(leg.Name, "RegisterReq station address", mirror.EmbeddedSent, mirror.EmbeddedSeen!));
        }
    }

    /// <summary>The echo probe with idle=S from a call's RTP socket to its media port; null (and the media leg told why) without an answer.</summary>
    private static async Task<EchoResult?> CallEchoAsync(ProbeContext context, LegResult media, Socket rtp, IPEndPoint mediaTarget, CancellationToken cancellationToken)
    {
        var nonce = EchoClient.NewNonce();
        media.Nonces.Add(nonce);
        var attempts = context.Retries + 1;
        var echo = await EchoClient.UdpFromAsync(rtp, mediaTarget, new EchoOptions { Timeout = context.Timeout * attempts, Attempts = attempts, IdleSeconds = context.IdleSeconds }, nonce, cancellationToken).ConfigureAwait(false);
        if (echo.Reply is not { } reply)
        {
            media.Evidence.Add("the idle check did not run: the call's media port did not answer the echo probe sent on the call's media path");
            return null;
        }

        media.PeerSeen = Format(reply.PeerAsSeen);
        return echo;
    }

    /// <summary>The SCCP call held through the silence (keepalives going on), its idle leg, then on hook and unregister.</summary>
    private static Task<LegResult> HoldSccpAsync(ProbeContext context, SccpPhone phone, SccpPlacedCall placed, LegResult media, EchoResult echo, CancellationToken cancellationToken)
    {
        var stopHolding = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var hold = phone.HoldAsync(TimeSpan.FromSeconds(context.IdleSeconds) + context.Timeout, stopHolding.Token);
        return HeldCallAsync(
            async () =>
            {
                var idle = await IdleAsync(media, context.IdleSeconds, echo.Callback).ConfigureAwait(false);
                await stopHolding.CancelAsync().ConfigureAwait(false);
                return idle;
            },
            async idle =>
            {
                await hold.ConfigureAwait(false);
                var ended = await phone.EndCallAsync(placed, cancellationToken).ConfigureAwait(false);
                idle.Evidence.Add(ended.Stopped && ended.Closed
                    ? "on hook after the silence: the server stopped and closed the call's media"
                    : "on hook after the silence: the server did not stop the call's media");
                await phone.UnregisterAsync(cancellationToken).ConfigureAwait(false);
            },
            async () =>
            {
                // The hold ends before its phone: stopped if still going, its failure (seen by the end already) observed.
                await stopHolding.CancelAsync().ConfigureAwait(false);
                await Task.WhenAny(hold).ConfigureAwait(false);
                _ = hold.Exception;
                stopHolding.Dispose();
                placed.Dispose();
                await phone.DisposeAsync().ConfigureAwait(false);
            },
            cancellationToken);
    }

    public static async Task<List<LegResult>> RtpAsync(ProbeContext context, IReadOnlyList<ProbeTarget> targets, CancellationToken cancellationToken)
    {
        using var gate = new SemaphoreSlim(64);
        var tasks = targets.Select(async t =>
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await EchoAsync(context, t, cancellationToken, "rtp-echo", "primary").ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        return [.. await Task.WhenAll(tasks).ConfigureAwait(false)];
    }

    private static void Classify(LegResult leg, Exception ex, CancellationToken cancellationToken)
    {
        switch (ex)
        {
            case OperationCanceledException when !cancellationToken.IsCancellationRequested:
            case TimeoutException:
                leg.Outcome = Outcome.NoAnswer;
                leg.Detail = "timeout: " + ex.Message;
                break;
            case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                leg.Outcome = Outcome.Reset;
                leg.Detail = "connection refused: a TCP RST answered the SYN";
                break;
            case SocketException { SocketErrorCode: SocketError.HostUnreachable or SocketError.NetworkUnreachable } s:
                leg.Outcome = Outcome.Icmp;
                leg.Detail = s.Message;
                break;
            case SocketException { SocketErrorCode: SocketError.TimedOut }:
                leg.Outcome = Outcome.NoAnswer;
                leg.Detail = ex.Message;
                break;
            case AuthenticationException or IOException or InvalidDataException or SocketException or InvalidCastException:
                leg.Outcome = Outcome.Incomplete;
                leg.Detail = $"{ex.GetType().Name}: {ex.Message}";
                break;
            default:
                leg.Outcome = Outcome.ProbeError;
                leg.Detail = $"{ex.GetType().Name}: {ex.Message}";
                break;
        }
    }

    public static string Format(IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? string.Create(CultureInfo.InvariantCulture, $"[{address}]:{endPoint.Port}")
            : string.Create(CultureInfo.InvariantCulture, $"{address}:{endPoint.Port}");
    }
}

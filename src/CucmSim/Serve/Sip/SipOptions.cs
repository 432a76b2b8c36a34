using System.Net;

namespace CucmSim.Serve.Sip;

/// <summary>How the SIP listeners (sip, sip-tls) answer. One record on <see cref="ServeOptions"/>.</summary>
public sealed record SipOptions
{
    /// <summary>Digest realm of the challenges (REGISTER and a new INVITE); CUCM's default Enterprise Parameter "SIP Realm".</summary>
    public string Realm { get; init; } = "ccmsipline";

    /// <summary>Digest users (name → password). With none and no <see cref="Password"/>, nothing is challenged; with any, REGISTER and a new INVITE are, as CUCM challenges a phone with digest authentication.</summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>();

    /// <summary>A password every user name may register with (digest on when set).</summary>
    public string? Password { get; init; }

    /// <summary>
    /// Answer requests from peers that are neither trunk peers nor registered devices the way CUCM does:
    /// 503 with "Unable to find a device handler" (what nmap identifies as CUCM).
    /// </summary>
    public bool UnknownPeer503 { get; init; }

    /// <summary>Peers treated as configured trunks when <see cref="UnknownPeer503"/> is on; their INVITEs are never challenged.</summary>
    public IReadOnlyList<IPAddress> TrunkPeers { get; init; } = [];

    /// <summary>Server header; null gives Cisco-CUCM&lt;major.minor&gt; of the identity's version; empty sends none.</summary>
    public string? ServerHeader { get; init; }

    /// <summary>Put the mirror of what arrived (base64) in every response.</summary>
    public bool Mirror { get; init; } = true;

    /// <summary>
    /// Answers over UDP to a peer that is neither registered nor a trunk take at most this many times the request's
    /// bytes, or <see cref="AmplificationFloor"/>, whichever is more: retransmissions included (0 = no bound).
    /// </summary>
    public int MaxAmplification { get; init; } = 3;

    /// <summary>Bytes such an answer may always take (a minimal OPTIONS answer fits).</summary>
    public int AmplificationFloor { get; init; } = 512;

    public int MaxMessageSize { get; init; } = 64 * 1024;
    public int MaxHeaders { get; init; } = 128;

    /// <summary>Time between 180 Ringing and 200 OK (a CANCEL in between gets 487 on the INVITE).</summary>
    public TimeSpan RingDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Registration expiry when the request names none, and the bounds applied (RFC 3261 §10.3 step 7).</summary>
    public int DefaultExpires { get; init; } = 3600;
    public int MaxExpires { get; init; } = 7200;

    /// <summary>A call without BYE ends (and frees its media port) after this long.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>RFC 3261 §17.1.1.1 timer values.</summary>
    public TimeSpan T1 { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan T2 { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// UDP responses go to the packet's source port (works through NAT). False follows RFC 3261 §18.2.2
    /// (the Via sent-by port) unless the request asked for rport (RFC 3581).
    /// </summary>
    public bool ReplyToSourcePort { get; init; } = true;

    /// <summary>
    /// Relay an INVITE whose Request-URI (or To) user is registered to that phone (phone to phone, a B2BUA);
    /// off: every INVITE is answered by the server itself, as without routing.
    /// </summary>
    public bool Route { get; init; } = true;

    /// <summary>A routed call the callee does not answer within this time gets 480 (CANCEL to the callee).</summary>
    public TimeSpan RouteRing { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most concurrent calls and registrations kept (further ones get 503).</summary>
    public int MaxCalls { get; init; } = 20_000;
    public int MaxRegistrations { get; init; } = 100_000;
}

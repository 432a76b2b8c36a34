using System.Net;

namespace CucmSim.Clients.Load;

/// <summary>
/// What a load phone tells the run, always on its signalling loop's thread. Times are Stopwatch ticks. Reasons are
/// short words that group well: "sip-486", "sccp-register-reject", "timeout-register", "timeout-setup", "closed".
/// </summary>
public interface ILoadObserver
{
    void RegisterAttempted(int phone);

    void Registered(int phone, long delayTicks);

    void RegisterFailed(int phone, string reason);

    /// <summary>A registered phone is no longer (its connection closed, a refresh failed).</summary>
    void Unregistered(int phone, string reason);

    /// <summary>A SIP re-REGISTER or an SCCP keepalive, answered or not.</summary>
    void Refreshed(int phone, bool ok, string? reason);

    void CallAttempted(int phone);

    void CallEstablished(int phone, long setupTicks);

    void CallFailed(int phone, string reason);

    /// <summary>An established call released cleanly (the caller's side only counts it).</summary>
    void CallCompleted(int phone);

    /// <summary>A call ended after it was established, but not cleanly.</summary>
    void CallDropped(int phone, string reason);

    /// <summary>A phone was called (phone to phone) and answered.</summary>
    void CallAnswered(int phone);
}

/// <summary>Where calls go: the server answers (and echoes media), or it puts them through to another phone.</summary>
public enum LoadCallMode
{
    PhoneToServer,
    PhoneToPhone,
}

/// <summary>What every load phone shares: its loop, the media, the observer and the timeouts.</summary>
public sealed class LoadPhoneContext
{
    public required LoadLoop Loop { get; init; }

    /// <summary>Null with --no-media: signalling only.</summary>
    public LoadMedia? Media { get; init; }

    public required ILoadObserver Observer { get; init; }

    public LoadCallMode Mode { get; init; } = LoadCallMode.PhoneToServer;

    /// <summary>How long a transaction (register, setup, release) may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>SIP: re-REGISTER this often (Expires is twice it). SCCP: null keeps the interval RegisterAck gives.</summary>
    public TimeSpan? Refresh { get; init; }

    /// <summary>The SIP domain of the To, From and Request-URI (the target's address when null).</summary>
    public string? Domain { get; init; }

    /// <summary>The digest password of every SIP phone (its user is its own number): a REGISTER, INVITE or BYE challenged with 401 (an INVITE or BYE also with 407) is sent again with credentials.</summary>
    public string? SipPassword { get; init; }

    /// <summary>Where phones send their signalling: the target's ports from the profile.</summary>
    public IPEndPoint? SccpServer { get; init; }

    public IPEndPoint? SipUdpServer { get; init; }

    public IPEndPoint? SipTcpServer { get; init; }

    public IPEndPoint? SipTlsServer { get; init; }
}

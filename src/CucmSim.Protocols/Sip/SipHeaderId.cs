namespace CucmSim.Protocols.Sip;

/// <summary>Headers the codec recognises by name (long or compact form, any case; RFC 3261 §7.3.3, §20).</summary>
public enum SipHeaderId : byte
{
    Other = 0,
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentLength,
    ContentType,
    MaxForwards,
    Authorization,
    Expires,
    Supported,
    Require,
    Route,
    RecordRoute,
    UserAgent,
    Server,
    Allow,
    Accept,
    WwwAuthenticate,
    ContentEncoding,
    Subject,
    Event,
    Count,
}

/// <summary>Request methods with a fast path; anything else is <see cref="Other"/> (RFC 3261 §7.1 extension-method).</summary>
public enum SipMethod : byte
{
    Other = 0,
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Prack,
    Update,
    Refer,
    Subscribe,
    Notify,
    Message,
    Publish,
}

public static class SipNames
{
    /// <summary>Identifies a header name, case-insensitively, including the compact forms of RFC 3261 §7.3.3 and its extensions.</summary>
    public static SipHeaderId Identify(ReadOnlySpan<byte> name)
    {
        if (name.Length == 1)
        {
            return (name[0] | 0x20) switch
            {
                'v' => SipHeaderId.Via,
                'f' => SipHeaderId.From,
                't' => SipHeaderId.To,
                'i' => SipHeaderId.CallId,
                'm' => SipHeaderId.Contact,
                'l' => SipHeaderId.ContentLength,
                'c' => SipHeaderId.ContentType,
                'k' => SipHeaderId.Supported,
                's' => SipHeaderId.Subject,
                'e' => SipHeaderId.ContentEncoding,
                'o' => SipHeaderId.Event,
                _ => SipHeaderId.Other,
            };
        }

        switch (name.Length)
        {
            case 2 when Eq(name, "to"u8): return SipHeaderId.To;
            case 3 when Eq(name, "via"u8): return SipHeaderId.Via;
            case 4 when Eq(name, "from"u8): return SipHeaderId.From;
            case 4 when Eq(name, "cseq"u8): return SipHeaderId.CSeq;
            case 5 when Eq(name, "route"u8): return SipHeaderId.Route;
            case 5 when Eq(name, "allow"u8): return SipHeaderId.Allow;
            case 5 when Eq(name, "event"u8): return SipHeaderId.Event;
            case 6 when Eq(name, "server"u8): return SipHeaderId.Server;
            case 6 when Eq(name, "accept"u8): return SipHeaderId.Accept;
            case 7 when Eq(name, "call-id"u8): return SipHeaderId.CallId;
            case 7 when Eq(name, "contact"u8): return SipHeaderId.Contact;
            case 7 when Eq(name, "expires"u8): return SipHeaderId.Expires;
            case 7 when Eq(name, "require"u8): return SipHeaderId.Require;
            case 7 when Eq(name, "subject"u8): return SipHeaderId.Subject;
            case 9 when Eq(name, "supported"u8): return SipHeaderId.Supported;
            case 10 when Eq(name, "user-agent"u8): return SipHeaderId.UserAgent;
            case 12 when Eq(name, "content-type"u8): return SipHeaderId.ContentType;
            case 12 when Eq(name, "max-forwards"u8): return SipHeaderId.MaxForwards;
            case 12 when Eq(name, "record-route"u8): return SipHeaderId.RecordRoute;
            case 13 when Eq(name, "authorization"u8): return SipHeaderId.Authorization;
            case 14 when Eq(name, "content-length"u8): return SipHeaderId.ContentLength;
            case 16 when Eq(name, "www-authenticate"u8): return SipHeaderId.WwwAuthenticate;
            case 16 when Eq(name, "content-encoding"u8): return SipHeaderId.ContentEncoding;
            default: return SipHeaderId.Other;
        }
    }

    /// <summary>Method tokens are case-sensitive (RFC 3261 §7.1).</summary>
    public static SipMethod IdentifyMethod(ReadOnlySpan<byte> method) => method switch
    {
        _ when method.SequenceEqual("INVITE"u8) => SipMethod.Invite,
        _ when method.SequenceEqual("ACK"u8) => SipMethod.Ack,
        _ when method.SequenceEqual("BYE"u8) => SipMethod.Bye,
        _ when method.SequenceEqual("CANCEL"u8) => SipMethod.Cancel,
        _ when method.SequenceEqual("OPTIONS"u8) => SipMethod.Options,
        _ when method.SequenceEqual("REGISTER"u8) => SipMethod.Register,
        _ when method.SequenceEqual("INFO"u8) => SipMethod.Info,
        _ when method.SequenceEqual("PRACK"u8) => SipMethod.Prack,
        _ when method.SequenceEqual("UPDATE"u8) => SipMethod.Update,
        _ when method.SequenceEqual("REFER"u8) => SipMethod.Refer,
        _ when method.SequenceEqual("SUBSCRIBE"u8) => SipMethod.Subscribe,
        _ when method.SequenceEqual("NOTIFY"u8) => SipMethod.Notify,
        _ when method.SequenceEqual("MESSAGE"u8) => SipMethod.Message,
        _ when method.SequenceEqual("PUBLISH"u8) => SipMethod.Publish,
        _ => SipMethod.Other,
    };

    /// <summary>ASCII case-insensitive comparison of a name with a lower-case literal.</summary>
    public static bool Eq(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lower)
    {
        if (value.Length != lower.Length)
        {
            return false;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is >= (byte)'A' and <= (byte)'Z')
            {
                c |= 0x20;
            }

            if (c != lower[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>token characters (RFC 3261 §25.1).</summary>
    public static bool IsToken(byte c) =>
        c is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
            or (byte)'-' or (byte)'.' or (byte)'!' or (byte)'%' or (byte)'*' or (byte)'_' or (byte)'+' or (byte)'`' or (byte)'\'' or (byte)'~';
}

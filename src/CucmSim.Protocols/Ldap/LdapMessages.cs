namespace CucmSim.Protocols.Ldap;

/// <summary>LDAP result codes (RFC 4511 §4.1.9, Appendix A) that this codec's users send or recognise.</summary>
public enum LdapResultCode
{
    Success = 0,
    OperationsError = 1,
    ProtocolError = 2,
    TimeLimitExceeded = 3,
    SizeLimitExceeded = 4,
    AuthMethodNotSupported = 7,
    UnavailableCriticalExtension = 12,
    NoSuchObject = 32,
    InvalidDnSyntax = 34,
    InappropriateAuthentication = 48,
    InvalidCredentials = 49,
    Busy = 51,
    Unavailable = 52,
    UnwillingToPerform = 53,
    Other = 80,
}

/// <summary>The protocolOp application tag numbers (RFC 4511 §4.2 to §4.14).</summary>
public enum LdapOperation
{
    BindRequest = 0,
    BindResponse = 1,
    UnbindRequest = 2,
    SearchRequest = 3,
    SearchResultEntry = 4,
    SearchResultDone = 5,
    ModifyRequest = 6,
    ModifyResponse = 7,
    AddRequest = 8,
    AddResponse = 9,
    DelRequest = 10,
    DelResponse = 11,
    ModifyDnRequest = 12,
    ModifyDnResponse = 13,
    CompareRequest = 14,
    CompareResponse = 15,
    AbandonRequest = 16,
    SearchResultReference = 19,
    ExtendedRequest = 23,
    ExtendedResponse = 24,
    IntermediateResponse = 25,
}

/// <summary>Search scope (RFC 4511 §4.5.1.2).</summary>
public enum LdapScope
{
    BaseObject = 0,
    SingleLevel = 1,
    WholeSubtree = 2,
}

/// <summary>Well-known object identifiers of extended operations and controls.</summary>
public static class LdapOids
{
    /// <summary>StartTLS (RFC 4511 §4.14).</summary>
    public const string StartTls = "1.3.6.1.4.1.1466.20037";

    /// <summary>Notice of Disconnection (RFC 4511 §4.4.1).</summary>
    public const string NoticeOfDisconnection = "1.3.6.1.4.1.1466.20036";

    /// <summary>"Who am I?" (RFC 4532).</summary>
    public const string WhoAmI = "1.3.6.1.4.1.4203.1.11.3";

    /// <summary>Simple paged results (RFC 2696), which Active Directory clients (CUCM's sync among them) send.</summary>
    public const string PagedResults = "1.2.840.113556.1.4.319";
}

/// <summary>A control of a request (RFC 4511 §4.1.11).</summary>
public sealed record LdapControl(string Type, bool Criticality, byte[]? Value);

/// <summary>One attribute of an entry: its description and values (text; this codec's directory holds no binary values).</summary>
public sealed record LdapAttribute(string Type, IReadOnlyList<string> Values);

/// <summary>A decoded LDAP request (the protocolOp of an LDAPMessage from a client).</summary>
public abstract record LdapRequest
{
    public int MessageId { get; init; }

    public IReadOnlyList<LdapControl> Controls { get; init; } = [];
}

/// <summary>BindRequest; <see cref="Password"/> is null for SASL (then <see cref="SaslMechanism"/> is set).</summary>
public sealed record LdapBindRequest(int Version, string Name, string? Password, string? SaslMechanism) : LdapRequest;

public sealed record LdapSearchRequest(
    string BaseObject,
    LdapScope Scope,
    int DerefAliases,
    int SizeLimit,
    int TimeLimit,
    bool TypesOnly,
    LdapFilter Filter,
    IReadOnlyList<string> Attributes) : LdapRequest;

public sealed record LdapUnbindRequest : LdapRequest;

public sealed record LdapAbandonRequest(int AbandonId) : LdapRequest;

public sealed record LdapExtendedRequest(string Name, byte[]? Value) : LdapRequest;

/// <summary>A well-formed operation this codec does not decode further (modify, add, delete, modDN, compare).</summary>
public sealed record LdapOtherRequest(LdapOperation Operation) : LdapRequest;

/// <summary>A decoded LDAP response (what a client reads).</summary>
public abstract record LdapResponse
{
    public int MessageId { get; init; }
}

/// <summary>An LDAPResult-shaped response: BindResponse, SearchResultDone, ExtendedResponse and the write operations' responses.</summary>
public sealed record LdapResult(LdapOperation Operation, LdapResultCode Code, string MatchedDn, string Diagnostic) : LdapResponse
{
    /// <summary>ExtendedResponse's responseName (the Notice of Disconnection carries its OID here).</summary>
    public string? ResponseName { get; init; }

    /// <summary>ExtendedResponse's responseValue.</summary>
    public byte[]? ResponseValue { get; init; }

    public IReadOnlyList<LdapControl> Controls { get; init; } = [];
}

public sealed record LdapSearchEntry(string Dn, IReadOnlyList<LdapAttribute> Attributes) : LdapResponse
{
    /// <summary>The values of an attribute (case-insensitive name), empty when absent.</summary>
    public IReadOnlyList<string> Get(string type) =>
        Attributes.FirstOrDefault(a => string.Equals(a.Type, type, StringComparison.OrdinalIgnoreCase))?.Values ?? [];
}

/// <summary>A response type this codec reads only as a tag (search references, intermediate responses).</summary>
public sealed record LdapOtherResponse(LdapOperation Operation) : LdapResponse;

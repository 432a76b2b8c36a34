using CucmSim.Protocols.Ldap;

namespace CucmSim.Serve.Ldap;

/// <summary>One entry of the directory: its DN and attributes (names as the directory spells them).</summary>
internal sealed record DirectoryEntry(string Dn, IReadOnlyList<LdapAttribute> Attributes)
{
    public string NormalizedDn { get; } = LdapDirectory.Normalize(Dn);

    public IReadOnlyList<string> Get(string type) =>
        Attributes.FirstOrDefault(a => string.Equals(a.Type, type, StringComparison.OrdinalIgnoreCase))?.Values ?? [];
}

/// <summary>What a search found: entries in directory order, or a result code that ends it.</summary>
internal sealed record SearchOutcome(IReadOnlyList<DirectoryEntry> Entries, LdapResultCode Code, string MatchedDn, string Diagnostic);

/// <summary>
/// The built-in, read-only directory of <c>serve --role ldap-directory</c> (docs/ldap.md): dc=cucmsim,dc=example
/// with ou=Users holding a handful of users shaped like Active Directory's (CUCM's directory sync reads
/// sAMAccountName, givenName, sn, mail, telephoneNumber), and the root DSE. Matching is case-insensitive
/// (caseIgnoreMatch) on every attribute, which is what CUCM's searches need.
/// </summary>
internal sealed class LdapDirectory
{
    public const string Suffix = "dc=cucmsim,dc=example";
    public const string UsersDn = "ou=Users," + Suffix;

    /// <summary>The manager DN CUCM would be configured with, and its password.</summary>
    public const string AdminDn = "cn=admin," + Suffix;
    public const string AdminPassword = "cucmsim";

    /// <summary>Entries one search returns at most, whatever the client's sizeLimit.</summary>
    public const int ServerSizeLimit = 1000;

    private readonly List<DirectoryEntry> _entries;
    private readonly DirectoryEntry _rootDse;

    private LdapDirectory()
    {
        _rootDse = new DirectoryEntry(string.Empty,
        [
            new("objectClass", ["top"]),
            new("namingContexts", [Suffix]),
            new("defaultNamingContext", [Suffix]),
            new("supportedLDAPVersion", ["3"]),
            new("supportedExtension", [LdapOids.WhoAmI]),
            new("supportedControl", [LdapOids.PagedResults]),
            new("supportedSASLMechanisms", []),
            new("vendorName", ["CucmSim"]),
            new("dnsHostName", ["directory.cucmsim.example"]),
        ]);
        _entries =
        [
            new(Suffix, [new("objectClass", ["top", "domain", "dcObject"]), new("dc", ["cucmsim"])]),
            new(UsersDn, [new("objectClass", ["top", "organizationalUnit"]), new("ou", ["Users"])]),
            new(AdminDn, [new("objectClass", ["top", "person"]), new("cn", ["admin"]), new("sn", ["admin"]), new("description", ["the directory manager CUCM binds as"])]),
            User("jdoe", "John", "Doe", "1001"),
            User("asmith", "Alice", "Smith", "1002"),
            User("bwilson", "Bob", "Wilson", "1003"),
            User("cjones", "Carol", "Jones", "1004"),
            User("dlee", "David", "Lee", "1005"),
        ];
    }

    public static LdapDirectory Instance { get; } = new();

    public IReadOnlyList<DirectoryEntry> Entries => _entries;

    private static DirectoryEntry User(string account, string given, string surname, string extension) => new(
        $"cn={given} {surname},{UsersDn}",
        [
            new("objectClass", ["top", "person", "organizationalPerson", "user"]),
            new("cn", [$"{given} {surname}"]),
            new("givenName", [given]),
            new("sn", [surname]),
            new("displayName", [$"{given} {surname}"]),
            new("sAMAccountName", [account]),
            new("uid", [account]),
            new("userPrincipalName", [$"{account}@cucmsim.example"]),
            new("mail", [$"{account}@cucmsim.example"]),
            new("telephoneNumber", [extension]),
            new("ipPhone", [extension]),
            new("department", ["Voice"]),
        ]);

    /// <summary>A DN compared as text: lower case, no blanks around the separators.</summary>
    public static string Normalize(string dn)
    {
        var parts = dn.Split(',', StringSplitOptions.TrimEntries);
        return string.Join(',', parts.Select(p =>
        {
            var eq = p.IndexOf('=', StringComparison.Ordinal);
            return (eq < 0 ? p : p[..eq].Trim() + "=" + p[(eq + 1)..].Trim()).ToLowerInvariant();
        }));
    }

    /// <summary>The search of RFC 4511 §4.5: the base must exist; entries in scope that match the filter, within the limits.</summary>
    public SearchOutcome Search(LdapSearchRequest request)
    {
        if (FindUnsupported(request.Filter) is { } unsupported)
        {
            return new SearchOutcome([], LdapResultCode.UnwillingToPerform, string.Empty, $"{unsupported.Kind} filters are not supported");
        }

        var baseDn = Normalize(request.BaseObject);
        if (baseDn.Length == 0)
        {
            // The root DSE answers a base search; one level below it is the naming context, and a subtree search of ""
            // covers the whole directory (AD's global catalog does the same).
            if (request.Scope == LdapScope.BaseObject)
            {
                return new SearchOutcome(Matches(_rootDse, request.Filter) ? [_rootDse] : [], LdapResultCode.Success, string.Empty, string.Empty);
            }

            return Collect(request, request.Scope == LdapScope.SingleLevel ? _entries.Where(e => e.NormalizedDn == Suffix) : _entries);
        }

        if (!_entries.Any(e => e.NormalizedDn == baseDn))
        {
            var matched = _entries.Where(e => baseDn.EndsWith("," + e.NormalizedDn, StringComparison.Ordinal)).MaxBy(e => e.NormalizedDn.Length);
            return new SearchOutcome([], LdapResultCode.NoSuchObject, matched?.Dn ?? string.Empty, $"no entry {request.BaseObject}");
        }

        var inScope = request.Scope switch
        {
            LdapScope.BaseObject => _entries.Where(e => e.NormalizedDn == baseDn),
            LdapScope.SingleLevel => _entries.Where(e => IsChild(e.NormalizedDn, baseDn)),
            _ => _entries.Where(e => e.NormalizedDn == baseDn || e.NormalizedDn.EndsWith("," + baseDn, StringComparison.Ordinal)),
        };
        return Collect(request, inScope);
    }

    private static SearchOutcome Collect(LdapSearchRequest request, IEnumerable<DirectoryEntry> inScope)
    {
        var limit = request.SizeLimit is > 0 and < ServerSizeLimit ? request.SizeLimit : ServerSizeLimit;
        var found = new List<DirectoryEntry>();
        foreach (var entry in inScope)
        {
            if (!Matches(entry, request.Filter))
            {
                continue;
            }

            if (found.Count == limit)
            {
                return new SearchOutcome(found, LdapResultCode.SizeLimitExceeded, string.Empty, $"more than {limit} entries match");
            }

            found.Add(entry);
        }

        return new SearchOutcome(found, LdapResultCode.Success, string.Empty, string.Empty);
    }

    private static bool IsChild(string dn, string parent) =>
        dn.EndsWith("," + parent, StringComparison.Ordinal) && !dn[..^(parent.Length + 1)].Contains(',', StringComparison.Ordinal);

    private static LdapUnsupportedFilter? FindUnsupported(LdapFilter filter) => filter switch
    {
        LdapUnsupportedFilter u => u,
        LdapAnd and => and.Items.Select(FindUnsupported).FirstOrDefault(u => u is not null),
        LdapOr or => or.Items.Select(FindUnsupported).FirstOrDefault(u => u is not null),
        LdapNot not => FindUnsupported(not.Item),
        _ => null,
    };

    /// <summary>Filter evaluation with caseIgnoreMatch everywhere (RFC 4511 §4.5.1.7; an empty AND is true, an empty OR false).</summary>
    public static bool Matches(DirectoryEntry entry, LdapFilter filter) => filter switch
    {
        LdapAnd and => and.Items.All(f => Matches(entry, f)),
        LdapOr or => or.Items.Any(f => Matches(entry, f)),
        LdapNot not => !Matches(entry, not.Item),
        LdapPresent p => string.Equals(p.Type, "objectClass", StringComparison.OrdinalIgnoreCase) || entry.Get(p.Type).Count > 0,
        LdapCompare c => entry.Get(c.Type).Any(v => c.Match switch
        {
            LdapMatch.GreaterOrEqual => string.Compare(v, c.Value, StringComparison.OrdinalIgnoreCase) >= 0,
            LdapMatch.LessOrEqual => string.Compare(v, c.Value, StringComparison.OrdinalIgnoreCase) <= 0,
            _ => string.Equals(v, c.Value, StringComparison.OrdinalIgnoreCase),
        }),
        LdapSubstrings s => entry.Get(s.Type).Any(v => SubstringsMatch(v, s)),
        _ => false,
    };

    private static bool SubstringsMatch(string value, LdapSubstrings s)
    {
        var at = 0;
        if (s.Initial is { } initial)
        {
            if (!value.StartsWith(initial, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            at = initial.Length;
        }

        foreach (var any in s.Any)
        {
            var found = value.IndexOf(any, at, StringComparison.OrdinalIgnoreCase);
            if (found < 0)
            {
                return false;
            }

            at = found + any.Length;
        }

        return s.Final is not { } final || (value.Length - at >= final.Length && value.EndsWith(final, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The attributes a search returns (RFC 4511 §4.5.1.8): all user attributes for an empty list or "*", none for
    /// "1.1", else those named (case-insensitive); "+" names operational attributes, of which this directory has none.
    /// </summary>
    public static IEnumerable<LdapAttribute> Select(DirectoryEntry entry, IReadOnlyList<string> requested)
    {
        if (requested.Count == 0 || requested.Contains("*"))
        {
            return entry.Attributes.Where(a => a.Values.Count > 0);
        }

        return entry.Attributes.Where(a => a.Values.Count > 0 && requested.Contains(a.Type, StringComparer.OrdinalIgnoreCase));
    }
}

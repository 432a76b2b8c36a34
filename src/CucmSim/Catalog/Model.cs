namespace CucmSim.Catalog;

public enum Transport
{
    Tcp,
    Udp,
    /// <summary>TCP and UDP on the same port.</summary>
    Both,
    /// <summary>An IP protocol of its own (ICMP 1, GRE 47, ESP 50, AH 51): the "ports" are protocol numbers.</summary>
    Ip,
}

/// <summary>Where a value came from: file (or embedded:NAME) and line.</summary>
public readonly record struct SourceLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

public sealed record Role(string Id, string Name, string? Address, PortRange? Ephemeral, SourceLocation Location);

/// <summary>The guide's own words where the profile normalises them.</summary>
public sealed record GuideText(string? From, string? To, string? Ports);

/// <summary>One direction of one row of the port guide: a sender reaches a listener on ports over a transport.</summary>
public sealed record Flow(
    string Id,
    int Table,
    int Row,
    string From,
    string To,
    string? Service,
    PortSet Ports,
    Transport Transport,
    string Protocol,
    string Purpose,
    string? Then,
    GuideText? Guide,
    string? Note,
    SourceLocation Location)
{
    /// <summary>True when the listener binds sockets for this flow (not ephemeral, not an IP protocol).</summary>
    public bool IsBindable => !Ports.IsEphemeral && Transport != Transport.Ip;

    public bool HasTcp => Transport is Transport.Tcp or Transport.Both;

    public bool HasUdp => Transport is Transport.Udp or Transport.Both;
}

public sealed class Profile
{
    public required string Name { get; init; }
    public string Title { get; init; } = string.Empty;
    public string Source { get; init; } = string.Empty;
    public required string Origin { get; init; }
    public required IReadOnlyDictionary<string, Role> Roles { get; init; }
    public required IReadOnlyList<Flow> Flows { get; init; }
    public string? Extends { get; init; }
}

/// <summary>A problem found in a profile, with its place.</summary>
public sealed record ProfileProblem(SourceLocation Location, string Message)
{
    public override string ToString() => $"{Location}: {Message}";
}

public sealed class ProfileException(IReadOnlyList<ProfileProblem> problems)
    : Exception($"profile has {problems.Count} problem(s):{Environment.NewLine}" + string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<ProfileProblem> Problems { get; } = problems;
}

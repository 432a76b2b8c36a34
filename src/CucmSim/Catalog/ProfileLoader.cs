using System.Globalization;
using System.Reflection;
using System.Text.Json;

namespace CucmSim.Catalog;

/// <summary>
/// Loads profiles: embedded ones by name, user ones from files. A user profile may extend another and
/// select, exclude or override its flows, roles and RTP ranges. Every problem is reported at once, with
/// file and line.
/// </summary>
public static class ProfileLoader
{
    public const string DefaultProfile = "cucm";
    private const int MaxExtendsDepth = 8;

    private static readonly string[] TopFields = ["name", "title", "source", "extends", "roles", "flows", "select", "exclude", "override", "rtp"];
    private static readonly string[] RoleFields = ["name", "address", "ephemeral"];
    private static readonly string[] FlowFields = ["id", "table", "row", "from", "to", "service", "ports", "then", "transport", "protocol", "purpose", "guide", "note"];
    private static readonly string[] OverrideFields = ["from", "to", "service", "ports", "transport", "protocol", "purpose", "note"];
    private static readonly string[] SelectorFields = ["roles", "tables", "flows", "protocols"];
    private static readonly string[] GuideFields = ["from", "to", "ports"];

    /// <summary>Names of the profiles built into the binary.</summary>
    public static IReadOnlyList<string> EmbeddedNames { get; } = typeof(ProfileLoader).Assembly
        .GetManifestResourceNames()
        .Where(n => n.StartsWith("profiles/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
        .Select(n => n["profiles/".Length..^".json".Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    public static string ReadEmbedded(string name)
    {
        using var stream = typeof(ProfileLoader).Assembly.GetManifestResourceStream($"profiles/{name}.json")
            ?? throw new ArgumentException($"no embedded profile named '{name}'", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Loads a profile by embedded name or file path; throws <see cref="ProfileException"/> with every problem.</summary>
    public static Profile Load(string nameOrPath)
    {
        var (profile, problems) = TryLoad(nameOrPath);
        if (profile is null || problems.Count > 0)
        {
            throw new ProfileException(problems);
        }

        return profile;
    }

    public static (Profile? Profile, IReadOnlyList<ProfileProblem> Problems) TryLoad(string nameOrPath)
    {
        var problems = new List<ProfileProblem>();
        if (!TryResolve(nameOrPath, null, out var text, out var origin, out var error))
        {
            problems.Add(new(new SourceLocation(nameOrPath, 0), error!));
            return (null, problems);
        }

        var profile = LoadText(text!, origin!, problems, 0);
        return (profile, problems);
    }

    /// <summary>Loads a profile from text (tests, or a profile given on standard input).</summary>
    public static (Profile? Profile, IReadOnlyList<ProfileProblem> Problems) TryLoadText(string text, string origin)
    {
        var problems = new List<ProfileProblem>();
        var profile = LoadText(text, origin, problems, 0);
        return (profile, problems);
    }

    private static bool TryResolve(string nameOrPath, string? relativeTo, out string? text, out string? origin, out string? error)
    {
        text = origin = error = null;
        var candidate = relativeTo is null || Path.IsPathRooted(nameOrPath)
            ? nameOrPath
            : Path.Combine(Path.GetDirectoryName(relativeTo) ?? ".", nameOrPath);
        if (File.Exists(candidate))
        {
            var info = new FileInfo(candidate);
            if (info.Length > JsonNode.MaxBytes)
            {
                error = $"profile file is larger than {JsonNode.MaxBytes / (1024 * 1024)} MiB";
                return false;
            }

            text = File.ReadAllText(candidate);
            origin = candidate;
            return true;
        }

        if (EmbeddedNames.Contains(nameOrPath))
        {
            text = ReadEmbedded(nameOrPath);
            origin = $"embedded:{nameOrPath}";
            return true;
        }

        error = $"no profile file '{candidate}' and no embedded profile named '{nameOrPath}' (embedded: {string.Join(", ", EmbeddedNames)})";
        return false;
    }

    private static Profile? LoadText(string text, string origin, List<ProfileProblem> problems, int depth)
    {
        var root = JsonNode.Parse(text, out var syntaxError, out var syntaxLine);
        if (root is null)
        {
            problems.Add(new(new SourceLocation(origin, syntaxLine), $"not valid JSON: {syntaxError}"));
            return null;
        }

        var ctx = new Context(origin, problems);
        if (root.Kind != JsonValueKind.Object)
        {
            ctx.Problem(root, "a profile is a JSON object");
            return null;
        }

        ctx.CheckFields(root, TopFields, "profile");
        var name = ctx.String(root, "name", required: true) ?? Path.GetFileNameWithoutExtension(origin);
        var extends = ctx.String(root, "extends", required: false);

        Dictionary<string, Role> roles;
        List<Flow> flows;
        string title = ctx.String(root, "title", false) ?? string.Empty;
        string source = ctx.String(root, "source", false) ?? string.Empty;
        var flowIds = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);

        if (extends is not null)
        {
            if (depth >= MaxExtendsDepth)
            {
                ctx.Problem(root["extends"]!, $"profiles extend each other more than {MaxExtendsDepth} deep (a cycle?)");
                return null;
            }

            if (!TryResolve(extends, origin.StartsWith("embedded:", StringComparison.Ordinal) ? null : origin, out var baseText, out var baseOrigin, out var error))
            {
                ctx.Problem(root["extends"]!, error!);
                return null;
            }

            var baseProblems = new List<ProfileProblem>();
            var baseProfile = LoadText(baseText!, baseOrigin!, baseProblems, depth + 1);
            problems.AddRange(baseProblems);
            if (baseProfile is null)
            {
                return null;
            }

            roles = new Dictionary<string, Role>(baseProfile.Roles, StringComparer.Ordinal);
            flows = [.. baseProfile.Flows];
            foreach (var f in flows)
            {
                flowIds[f.Id] = f.Location;
            }

            if (title.Length == 0)
            {
                title = baseProfile.Title;
            }

            if (source.Length == 0)
            {
                source = baseProfile.Source;
            }
        }
        else
        {
            roles = new Dictionary<string, Role>(StringComparer.Ordinal);
            flows = [];
            if (root["roles"] is null)
            {
                ctx.Problem(root, "a profile that extends no other needs 'roles'");
            }

            if (root["flows"] is null)
            {
                ctx.Problem(root, "a profile that extends no other needs 'flows'");
            }
        }

        ReadRoles(ctx, root["roles"], roles);
        ApplySelection(ctx, root, roles, flows);

        if (root["override"] is { } overrides)
        {
            ApplyOverrides(ctx, overrides, flows);
        }

        if (root["rtp"] is { } rtp)
        {
            ApplyRtp(ctx, rtp, roles, flows);
        }

        if (root["flows"] is { } flowArray)
        {
            if (flowArray.Kind != JsonValueKind.Array)
            {
                ctx.Problem(flowArray, "'flows' is a list");
            }
            else
            {
                foreach (var item in flowArray.Items!)
                {
                    var flow = ReadFlow(ctx, item);
                    if (flow is null)
                    {
                        continue;
                    }

                    if (flowIds.TryGetValue(flow.Id, out var first))
                    {
                        ctx.Problem(item, $"duplicate flow id '{flow.Id}' (first at {first})");
                        continue;
                    }

                    flowIds[flow.Id] = flow.Location;
                    flows.Add(flow);
                }
            }
        }

        var profile = new Profile
        {
            Name = name,
            Title = title,
            Source = source,
            Origin = origin,
            Roles = roles,
            Flows = flows,
            Extends = extends,
        };
        ProfileValidator.Validate(profile, problems);
        return profile;
    }

    private static void ReadRoles(Context ctx, JsonNode? node, Dictionary<string, Role> roles)
    {
        if (node is null)
        {
            return;
        }

        if (node.Kind != JsonValueKind.Object)
        {
            ctx.Problem(node, "'roles' maps role ids to objects");
            return;
        }

        foreach (var (id, value) in node.Properties!)
        {
            if (value.Kind != JsonValueKind.Object)
            {
                ctx.Problem(value, $"role '{id}' is an object");
                continue;
            }

            ctx.CheckFields(value, RoleFields, $"role '{id}'");
            roles.TryGetValue(id, out var existing);
            var roleName = ctx.String(value, "name", existing is null) ?? existing?.Name ?? id;
            var address = ctx.String(value, "address", false) ?? existing?.Address;
            if (address is not null && !System.Net.IPAddress.TryParse(address, out _))
            {
                ctx.Problem(value["address"]!, $"role '{id}': '{address}' is not an IP address");
            }

            var ephemeral = existing?.Ephemeral;
            if (ctx.String(value, "ephemeral", false) is { } eph)
            {
                if (PortRange.TryParse(eph, out var range, out var error) && range.Low >= 1 && range.High <= 65535)
                {
                    ephemeral = range;
                }
                else
                {
                    ctx.Problem(value["ephemeral"]!, $"role '{id}': {error ?? $"ephemeral range {eph} is out of range (1-65535)"}");
                }
            }

            roles[id] = new Role(id, roleName, address, ephemeral, ctx.At(value));
        }
    }

    private static void ApplySelection(Context ctx, JsonNode root, Dictionary<string, Role> roles, List<Flow> flows)
    {
        if (root["select"] is { } select && ReadSelector(ctx, select, "select", roles, flows) is { } keep)
        {
            flows.RemoveAll(f => !keep(f));
        }

        if (root["exclude"] is { } exclude && ReadSelector(ctx, exclude, "exclude", roles, flows) is { } drop)
        {
            flows.RemoveAll(f => drop(f));
        }
    }

    private static Func<Flow, bool>? ReadSelector(Context ctx, JsonNode node, string what, Dictionary<string, Role> roles, List<Flow> flows)
    {
        if (node.Kind != JsonValueKind.Object)
        {
            ctx.Problem(node, $"'{what}' is an object with roles, tables, flows or protocols");
            return null;
        }

        ctx.CheckFields(node, SelectorFields, $"'{what}'");
        var roleSet = new HashSet<string>(StringComparer.Ordinal);
        var tableSet = new HashSet<int>();
        var flowSet = new HashSet<string>(StringComparer.Ordinal);
        var protocolSet = new HashSet<string>(StringComparer.Ordinal);

        foreach (var item in ctx.Strings(node, "roles"))
        {
            if (!roles.ContainsKey(item.Value))
            {
                ctx.Problem(item.Node, $"{what}: unknown role '{item.Value}'");
            }

            roleSet.Add(item.Value);
        }

        if (node["tables"] is { } tables)
        {
            if (tables.Kind != JsonValueKind.Array)
            {
                ctx.Problem(tables, $"{what}: 'tables' is a list of table numbers");
            }
            else
            {
                foreach (var t in tables.Items!)
                {
                    if (!t.IsInteger || !flows.Any(f => f.Table == (int)t.Number))
                    {
                        ctx.Problem(t, $"{what}: no flows in table {(t.IsInteger ? ((int)t.Number).ToString(CultureInfo.InvariantCulture) : t.Describe())}");
                        continue;
                    }

                    tableSet.Add((int)t.Number);
                }
            }
        }

        foreach (var item in ctx.Strings(node, "flows"))
        {
            if (!flows.Any(f => f.Id == item.Value))
            {
                ctx.Problem(item.Node, $"{what}: unknown flow '{item.Value}'");
            }

            flowSet.Add(item.Value);
        }

        foreach (var item in ctx.Strings(node, "protocols"))
        {
            if (!ProtocolCatalog.TryGet(item.Value, out _))
            {
                ctx.Problem(item.Node, $"{what}: unknown protocol '{item.Value}'");
            }

            protocolSet.Add(item.Value);
        }

        return f => roleSet.Contains(f.From) || roleSet.Contains(f.To) || tableSet.Contains(f.Table) ||
                    flowSet.Contains(f.Id) || protocolSet.Contains(f.Protocol);
    }

    private static void ApplyOverrides(Context ctx, JsonNode node, List<Flow> flows)
    {
        if (node.Kind != JsonValueKind.Object)
        {
            ctx.Problem(node, "'override' maps flow ids to the fields to change");
            return;
        }

        foreach (var (id, value) in node.Properties!)
        {
            var index = flows.FindIndex(f => f.Id == id);
            if (index < 0)
            {
                ctx.Problem(value, $"override: unknown flow '{id}' (or not selected)");
                continue;
            }

            if (value.Kind != JsonValueKind.Object)
            {
                ctx.Problem(value, $"override of '{id}' is an object");
                continue;
            }

            ctx.CheckFields(value, OverrideFields, $"override of '{id}'");
            var flow = flows[index];
            var transport = flow.Transport;
            if (ctx.String(value, "transport", false) is { } t)
            {
                if (ParseTransport(t) is { } parsed)
                {
                    transport = parsed;
                }
                else
                {
                    ctx.Problem(value["transport"]!, $"override of '{id}': transport '{t}' is not tcp, udp, both or ip");
                }
            }

            var ports = flow.Ports;
            if (ctx.String(value, "ports", false) is { } p)
            {
                if (PortSet.TryParse(p, transport == Transport.Ip ? 255 : 65535, out var set, out var error))
                {
                    ports = set!;
                }
                else
                {
                    ctx.Problem(value["ports"]!, $"override of '{id}': {error}");
                }
            }

            flows[index] = flow with
            {
                From = ctx.String(value, "from", false) ?? flow.From,
                To = ctx.String(value, "to", false) ?? flow.To,
                Service = ctx.String(value, "service", false) ?? flow.Service,
                Protocol = ctx.String(value, "protocol", false) ?? flow.Protocol,
                Purpose = ctx.String(value, "purpose", false) ?? flow.Purpose,
                Note = ctx.String(value, "note", false) ?? flow.Note,
                Transport = transport,
                Ports = ports,
                Location = ctx.At(value),
            };
        }
    }

    private static void ApplyRtp(Context ctx, JsonNode node, Dictionary<string, Role> roles, List<Flow> flows)
    {
        if (node.Kind != JsonValueKind.Object)
        {
            ctx.Problem(node, "'rtp' maps role ids to a port range, e.g. { \"cucm\": \"30000-30999\" }");
            return;
        }

        foreach (var (roleId, value) in node.Properties!)
        {
            if (!roles.ContainsKey(roleId))
            {
                ctx.Problem(value, $"rtp: unknown role '{roleId}'");
                continue;
            }

            if (value.Kind != JsonValueKind.String)
            {
                ctx.Problem(value, $"rtp of '{roleId}': write the range as a string, e.g. \"30000-30999\"");
                continue;
            }

            if (!PortSet.TryParse(value.String!, 65535, out var set, out var error) || set!.IsEphemeral)
            {
                ctx.Problem(value, $"rtp of '{roleId}': {error ?? "ephemeral is not a media range"}");
                continue;
            }

            var any = false;
            for (var i = 0; i < flows.Count; i++)
            {
                if (flows[i].Protocol == "rtp" && flows[i].To == roleId)
                {
                    flows[i] = flows[i] with { Ports = set, Location = ctx.At(value) };
                    any = true;
                }
            }

            if (!any)
            {
                ctx.Problem(value, $"rtp: role '{roleId}' listens for no RTP flow");
            }
        }
    }

    private static Flow? ReadFlow(Context ctx, JsonNode node)
    {
        if (node.Kind != JsonValueKind.Object)
        {
            ctx.Problem(node, "a flow is an object");
            return null;
        }

        ctx.CheckFields(node, FlowFields, "flow");
        var id = ctx.String(node, "id", true);
        var label = id is null ? "flow" : $"flow '{id}'";
        var table = ctx.Int(node, "table", true, label) ?? 0;
        var row = ctx.Int(node, "row", false, label) ?? 0;
        var from = ctx.String(node, "from", true, label);
        var to = ctx.String(node, "to", true, label);
        var portsText = ctx.String(node, "ports", true, label);
        var transportText = ctx.String(node, "transport", true, label);
        var protocol = ctx.String(node, "protocol", true, label);
        var purpose = ctx.String(node, "purpose", true, label);

        Transport? transport = null;
        if (transportText is not null)
        {
            transport = ParseTransport(transportText);
            if (transport is null)
            {
                ctx.Problem(node["transport"]!, $"{label}: transport '{transportText}' is not tcp, udp, both or ip");
            }
        }

        PortSet? ports = null;
        if (portsText is not null && !PortSet.TryParse(portsText, transport == Transport.Ip ? 255 : 65535, out ports, out var portError))
        {
            ctx.Problem(node["ports"]!, $"{label}: {portError}");
        }

        GuideText? guide = null;
        if (node["guide"] is { } g)
        {
            if (g.Kind != JsonValueKind.Object)
            {
                ctx.Problem(g, $"{label}: 'guide' is an object with from, to or ports");
            }
            else
            {
                ctx.CheckFields(g, GuideFields, $"{label} guide");
                guide = new GuideText(ctx.String(g, "from", false), ctx.String(g, "to", false), ctx.String(g, "ports", false));
            }
        }

        if (id is null || from is null || to is null || ports is null || transport is null || protocol is null || purpose is null)
        {
            return null;
        }

        return new Flow(id, table, row, from, to, ctx.String(node, "service", false), ports, transport.Value, protocol, purpose,
            ctx.String(node, "then", false), guide, ctx.String(node, "note", false), ctx.At(node));
    }

    public static Transport? ParseTransport(string text) => text.ToLowerInvariant() switch
    {
        "tcp" => Transport.Tcp,
        "udp" => Transport.Udp,
        "both" => Transport.Both,
        "ip" => Transport.Ip,
        _ => null,
    };

    private sealed class Context(string origin, List<ProfileProblem> problems)
    {
        public SourceLocation At(JsonNode node) => new(origin, node.Line);

        public void Problem(JsonNode node, string message) => problems.Add(new(At(node), message));

        public void CheckFields(JsonNode obj, string[] allowed, string what)
        {
            foreach (var (name, line) in obj.PropertyLines!)
            {
                if (!allowed.Contains(name))
                {
                    problems.Add(new(new SourceLocation(origin, line), $"{what}: unknown field '{name}' (known: {string.Join(", ", allowed)})"));
                }
            }
        }

        public string? String(JsonNode obj, string name, bool required, string? label = null)
        {
            var value = obj[name];
            if (value is null)
            {
                if (required)
                {
                    Problem(obj, $"{label ?? "value"}: '{name}' is missing");
                }

                return null;
            }

            if (value.Kind != JsonValueKind.String)
            {
                Problem(value, $"{label ?? "value"}: '{name}' should be a string, not {value.Describe()}");
                return null;
            }

            return value.String;
        }

        public int? Int(JsonNode obj, string name, bool required, string label)
        {
            var value = obj[name];
            if (value is null)
            {
                if (required)
                {
                    Problem(obj, $"{label}: '{name}' is missing");
                }

                return null;
            }

            if (!value.IsInteger)
            {
                Problem(value, $"{label}: '{name}' should be a whole number, not {value.Describe()}");
                return null;
            }

            return (int)value.Number;
        }

        public IEnumerable<(string Value, JsonNode Node)> Strings(JsonNode obj, string name)
        {
            var value = obj[name];
            if (value is null)
            {
                yield break;
            }

            if (value.Kind != JsonValueKind.Array)
            {
                Problem(value, $"'{name}' is a list of strings");
                yield break;
            }

            foreach (var item in value.Items!)
            {
                if (item.Kind != JsonValueKind.String)
                {
                    Problem(item, $"'{name}' holds strings, not {item.Describe()}");
                    continue;
                }

                yield return (item.String!, item);
            }
        }
    }
}

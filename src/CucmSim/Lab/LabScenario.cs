using System.Text.Json;

namespace CucmSim.Lab;

/// <summary>
/// A training scenario: the firewall change made on top of the ACL that <c>cucmsim acl</c> writes for phones to
/// CUCM, and the verdict the probe must show for each flow it names (every other flow probed: <c>allowed</c>).
/// Scenarios are small JSON files (profiles/labs/*.json, built in); a file path works too.
/// </summary>
public sealed record LabScenario(string Name, string Title, string Story, string Fix)
{
    /// <summary>Largest scenario file read.</summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>Options to <c>cucmsim acl</c> besides format, roles and addresses (--inspect, --except ...).</summary>
    public IReadOnlyList<string> Acl { get; init; } = [];

    /// <summary>Phones translated to the firewall's address on the CUCM side (masquerade).</summary>
    public bool Nat { get; init; }

    /// <summary>
    /// Changes to the policy's forward chain, each "add RULE" (after the ACL) or "insert RULE" (before it), in nft
    /// syntax; {cucm}, {phones}, {firewall-phones} and {firewall-cucm} stand for the lab's addresses.
    /// </summary>
    public IReadOnlyList<string> Rules { get; init; } = [];

    /// <summary>Expected verdict (or allowed/denied) per selector of the probe's --expect; the rest are expected allowed.</summary>
    public IReadOnlyDictionary<string, string> Expect { get; init; } = new Dictionary<string, string>();

    public static IReadOnlyList<string> EmbeddedNames { get; } = typeof(LabScenario).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith("labs/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
        .Select(n => n["labs/".Length..^".json".Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    /// <summary>A built-in scenario by name, or a file; problems are added to <paramref name="errors"/>.</summary>
    public static LabScenario? Load(string nameOrPath, List<string> errors)
    {
        byte[] bytes;
        if (EmbeddedNames.Contains(nameOrPath))
        {
            using var stream = typeof(LabScenario).Assembly.GetManifestResourceStream($"labs/{nameOrPath}.json")!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            bytes = copy.ToArray();
        }
        else if (File.Exists(nameOrPath))
        {
            if (new FileInfo(nameOrPath).Length > MaxBytes)
            {
                errors.Add($"scenario {nameOrPath}: larger than {MaxBytes} bytes");
                return null;
            }

            bytes = File.ReadAllBytes(nameOrPath);
        }
        else
        {
            errors.Add($"no scenario '{nameOrPath}' (built in: {string.Join(", ", EmbeddedNames)}; or give a file)");
            return null;
        }

        return Parse(bytes, nameOrPath, errors);
    }

    public static LabScenario? Parse(ReadOnlySpan<byte> json, string origin, List<string> errors)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 8 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"scenario {origin}: an object is expected");
                return null;
            }

            var known = new[] { "name", "title", "story", "fix", "acl", "nat", "rules", "expect" };
            foreach (var p in root.EnumerateObject().Where(p => !known.Contains(p.Name)))
            {
                errors.Add($"scenario {origin}: unknown field '{p.Name}' (fields: {string.Join(", ", known)})");
            }

            string Text(string field, bool required)
            {
                if (root.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String)
                {
                    return v.GetString()!;
                }

                if (required || root.TryGetProperty(field, out _))
                {
                    errors.Add($"scenario {origin}: '{field}' must be a string");
                }

                return string.Empty;
            }

            List<string> Strings(string field)
            {
                if (!root.TryGetProperty(field, out var v))
                {
                    return [];
                }

                if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                {
                    errors.Add($"scenario {origin}: '{field}' must be a list of strings");
                    return [];
                }

                return [.. v.EnumerateArray().Select(e => e.GetString()!)];
            }

            var rules = Strings("rules");
            foreach (var rule in rules.Where(r => !r.StartsWith("add ", StringComparison.Ordinal) && !r.StartsWith("insert ", StringComparison.Ordinal)))
            {
                errors.Add($"scenario {origin}: rule '{rule}' must start with 'add' or 'insert'");
            }

            var expect = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("expect", out var e))
            {
                if (e.ValueKind != JsonValueKind.Object || e.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
                {
                    errors.Add($"scenario {origin}: 'expect' maps selectors to verdicts");
                }
                else
                {
                    foreach (var p in e.EnumerateObject())
                    {
                        expect[p.Name] = p.Value.GetString()!;
                    }
                }
            }

            var nat = root.TryGetProperty("nat", out var n) && n.ValueKind == JsonValueKind.True;
            return new LabScenario(Text("name", true), Text("title", true), Text("story", true), Text("fix", false))
            {
                Acl = Strings("acl"),
                Nat = nat,
                Rules = rules,
                Expect = expect,
            };
        }
        catch (JsonException ex)
        {
            errors.Add($"scenario {origin}: {ex.Message}");
            return null;
        }
    }
}

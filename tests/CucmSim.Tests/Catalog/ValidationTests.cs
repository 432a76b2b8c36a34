using CucmSim.Catalog;

namespace CucmSim.Tests.Catalog;

public sealed class ValidationTests
{
    /// <summary>Line number (1-based) of the first line containing the marker.</summary>
    private static int LineOf(string text, string marker) =>
        text.Split('\n').Select((l, i) => (l, i)).First(x => x.l.Contains(marker, StringComparison.Ordinal)).i + 1;

    private const string Broken = """
        {
          "name": "broken",
          "roles": { "cucm": { "name": "node" }, "phone": { "name": "phone" } },
          "flows": [
            { "id": "ok", "table": 6, "from": "phone", "to": "cucm", "ports": "2000", "transport": "tcp", "protocol": "sccp", "purpose": "fine" },
            { "id": "ok", "table": 6, "from": "phone", "to": "cucm", "ports": "2001", "transport": "tcp", "protocol": "opaque", "purpose": "DUPLICATE-ID" },
            { "id": "who", "table": 6, "from": "printer", "to": "cucm", "ports": "2002", "transport": "tcp", "protocol": "opaque", "purpose": "UNKNOWN-ROLE" },
            { "id": "what", "table": 6, "from": "phone", "to": "cucm", "ports": "2003", "transport": "tcp", "protocol": "gopher", "purpose": "UNKNOWN-PROTOCOL" },
            { "id": "tftp-tcp", "table": 6, "from": "phone", "to": "cucm", "ports": "69", "transport": "tcp", "protocol": "tftp", "purpose": "BAD-TRANSPORT" },
            { "id": "big", "table": 6, "from": "phone", "to": "cucm", "ports": "70000", "transport": "tcp", "protocol": "opaque", "purpose": "OUT-OF-RANGE" },
            { "id": "clash", "table": 6, "from": "phone", "to": "cucm", "ports": "2000", "transport": "tcp", "protocol": "http", "purpose": "DUPLICATE-LISTENER" },
            { "id": "wide", "table": 6, "from": "phone", "to": "cucm", "ports": "1990-2010", "transport": "tcp", "protocol": "rmi", "purpose": "OVERLAP" },
            { "id": "typo", "table": 6, "from": "phone", "to": "cucm", "ports": "3000", "transport": "tcp", "protocol": "opaque", "purpose": "x", "protcol": "UNKNOWN-FIELD" },
            { "id": "nothing", "table": 6, "from": "phone", "to": "cucm", "transport": "tcp", "protocol": "opaque", "purpose": "MISSING-PORTS" },
            { "id": "syntax", "table": 6, "from": "phone", "to": "cucm", "ports": "2x", "transport": "tcp", "protocol": "opaque", "purpose": "BAD-SYNTAX" },
          ],
        }
        """;

    [Fact]
    public void Every_class_of_problem_is_reported_in_one_run_with_its_line()
    {
        var (_, problems) = ProfileLoader.TryLoadText(Broken, "lab.json");
        var expected = new (string Marker, string Text)[]
        {
            ("DUPLICATE-ID", "duplicate flow id 'ok'"),
            ("UNKNOWN-ROLE", "unknown role 'printer'"),
            ("UNKNOWN-PROTOCOL", "unknown protocol 'gopher'"),
            ("BAD-TRANSPORT", "protocol 'tftp' cannot use transport 'tcp'"),
            ("OUT-OF-RANGE", "port 70000 is out of range"),
            ("DUPLICATE-LISTENER", "duplicate listener tcp/2000"),
            ("OVERLAP", "overlapping ranges"),
            ("UNKNOWN-FIELD", "unknown field 'protcol'"),
            ("MISSING-PORTS", "'ports' is missing"),
            ("BAD-SYNTAX", "'2x' is not a port"),
        };
        foreach (var (marker, text) in expected)
        {
            var line = LineOf(Broken, marker);
            Assert.True(problems.Any(p => p.Location.File == "lab.json" && p.Location.Line == line && p.Message.Contains(text, StringComparison.Ordinal)),
                $"expected '{text}' at lab.json:{line}; got:\n{string.Join("\n", problems)}");
        }
    }

    [Fact]
    public void A_syntax_error_names_its_line()
    {
        var text = "{\n  \"name\": \"x\",\n  \"roles\": {}\n  \"flows\": []\n}";
        var (profile, problems) = ProfileLoader.TryLoadText(text, "bad.json");
        Assert.Null(profile);
        var problem = Assert.Single(problems);
        Assert.Equal(4, problem.Location.Line);
        Assert.Contains("not valid JSON", problem.Message);
    }

    [Fact]
    public void Derived_profile_selects_excludes_and_overrides()
    {
        var text = """
            {
              "name": "lab",
              "extends": "cucm",
              "select": { "tables": [6] },
              "exclude": { "flows": ["t6.dns"] },
              "roles": { "cucm": { "address": "192.0.2.10" } },
              "override": { "t6.sccp": { "ports": "12000" } },
              "rtp": { "cucm": "30000-30099" },
              "flows": [
                { "id": "lab.extra", "table": 6, "from": "phone", "to": "cucm", "ports": "12001", "transport": "udp", "protocol": "opaque", "purpose": "lab only" }
              ]
            }
            """;
        var (profile, problems) = ProfileLoader.TryLoadText(text, "lab.json");
        Assert.Empty(problems);
        Assert.All(profile!.Flows, f => Assert.True(f.Table == 6));
        Assert.DoesNotContain(profile.Flows, f => f.Id == "t6.dns");
        Assert.Equal("192.0.2.10", profile.Roles["cucm"].Address);
        var plan = ListenerPlan.Build(profile, "cucm");
        Assert.Contains(plan.Listeners, l => l.Id == "tcp/12000" && l.Protocol == "sccp");
        Assert.DoesNotContain(plan.Listeners, l => l.Id == "tcp/2000");
        Assert.Contains(plan.Listeners, l => l.Id == "udp/12001");
        Assert.Equal(100, plan.Rtp!.Count);
        Assert.Equal("lab.json", profile.Flows.Single(f => f.Id == "t6.sccp").Location.File);
    }

    [Fact]
    public void Derived_profile_problems_point_at_the_derived_file()
    {
        var text = """
            {
              "name": "lab",
              "extends": "cucm",
              "select": { "flows": ["t6.nope"], "tables": [6] },
              "override": { "t6.sccp": { "ports": "99999" } },
              "rtp": { "printer": "1-2" }
            }
            """;
        var (_, problems) = ProfileLoader.TryLoadText(text, "lab.json");
        Assert.Contains(problems, p => p.Location.Line == 4 && p.Message.Contains("unknown flow 't6.nope'"));
        Assert.Contains(problems, p => p.Location.Line == 5 && p.Message.Contains("out of range"));
        Assert.Contains(problems, p => p.Location.Line == 6 && p.Message.Contains("unknown role 'printer'"));
    }

    [Fact]
    public void Unknown_base_and_cycles_are_reported()
    {
        var (_, problems) = ProfileLoader.TryLoadText("""{ "name": "x", "extends": "nowhere" }""", "x.json");
        Assert.Contains(problems, p => p.Message.Contains("no embedded profile named 'nowhere'"));

        var dir = Infrastructure.SimHost.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "a.json"), """{ "name": "a", "extends": "b.json" }""");
        File.WriteAllText(Path.Combine(dir, "b.json"), """{ "name": "b", "extends": "a.json" }""");
        var (_, cycle) = ProfileLoader.TryLoad(Path.Combine(dir, "a.json"));
        Assert.Contains(cycle, p => p.Message.Contains("cycle"));
    }

    [Fact]
    public void Oversized_and_deeply_nested_input_is_refused_cleanly()
    {
        var deep = new string('[', 200) + new string(']', 200);
        var (_, problems) = ProfileLoader.TryLoadText(deep, "deep.json");
        Assert.Contains(problems, p => p.Message.Contains("not valid JSON"));

        var random = new Random(99);
        for (var i = 0; i < 300; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            _ = ProfileLoader.TryLoadText(System.Text.Encoding.Latin1.GetString(bytes), "random.json");
        }
    }
}

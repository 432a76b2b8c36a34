using System.Text.RegularExpressions;
using CucmSim.Catalog;

namespace CucmSim.Tests.Catalog;

/// <summary>The README's protocol table names every protocol id of the embedded profile, and only those the catalogue knows.</summary>
public sealed partial class ReadmeProtocolTableTests
{
    [Fact]
    public void Every_protocol_of_the_profile_has_a_row_that_says_what_answers_it()
    {
        var readme = File.ReadAllText(Path.Combine(CucmSim.Tests.Infrastructure.Repository.Root(), "README.md"));
        var section = readme[readme.IndexOf("## Protocols", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 5, StringComparison.Ordinal)];
        var named = section.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal))
            .SelectMany(l => Words().Split(l.Split('|')[1]))
            .Where(w => w.Length > 0)
            .ToHashSet(StringComparer.Ordinal);

        var profile = ProfileLoader.Load(ProfileLoader.DefaultProfile);
        var missing = profile.Flows.Select(f => f.Protocol).Distinct().Where(p => !named.Contains(p)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "README's protocol table has no row for: " + string.Join(", ", missing));
    }

    [GeneratedRegex(@"[\s,()]+")]
    private static partial Regex Words();
}

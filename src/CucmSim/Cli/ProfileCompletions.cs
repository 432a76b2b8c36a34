using System.CommandLine;
using System.CommandLine.Completions;
using System.Globalization;
using CucmSim.Catalog;

namespace CucmSim.Cli;

/// <summary>
/// Completions that come from a profile: its roles, and the selectors of --only and --except (tables, protocols,
/// flow ids). The profile is the one --profile names on the line being completed, else the embedded one.
/// </summary>
internal static class ProfileCompletions
{
    /// <summary>Roles that listen on some port (what serve can play, what probe can target).</summary>
    public static Option<T> ListeningRoles<T>(Option<T> option, Option<string> profile) =>
        Add(option, profile, p => p.Roles.Keys.Where(r => p.Flows.Any(f => f.To == r && f.IsBindable)));

    /// <summary>Roles that send some flow (what probe can play).</summary>
    public static Option<T> SendingRoles<T>(Option<T> option, Option<string> profile) =>
        Add(option, profile, p => p.Roles.Keys.Where(r => p.Flows.Any(f => f.From == r)));

    /// <summary>Selectors; after a comma, the words already typed stay in front.</summary>
    public static Option<T> Selectors<T>(Option<T> option, Option<string> profile)
    {
        option.CompletionSources.Add(context =>
        {
            var word = context.WordToComplete;
            var before = word[..(word.LastIndexOf(',') + 1)];
            return Selectors(Load(context, profile))
                .Select(s => before + s)
                .Where(s => s.StartsWith(word, StringComparison.Ordinal))
                .Select(s => new CompletionItem(s));
        });
        return option;
    }

    private static IEnumerable<string> Selectors(Profile? profile) => profile is null
        ? []
        : profile.Flows.Select(f => f.Table).Distinct().Order().Select(t => t.ToString(CultureInfo.InvariantCulture))
            .Concat(profile.Flows.Select(f => f.Protocol).Distinct().Order(StringComparer.Ordinal))
            .Concat(profile.Flows.Select(f => f.Id));

    private static Option<T> Add<T>(Option<T> option, Option<string> profile, Func<Profile, IEnumerable<string>> roles)
    {
        option.CompletionSources.Add(context => Load(context, profile) is { } p
            ? roles(p).Order(StringComparer.Ordinal).Where(r => r.StartsWith(context.WordToComplete, StringComparison.Ordinal)).Select(r => new CompletionItem(r))
            : []);
        return option;
    }

    private static Profile? Load(CompletionContext context, Option<string> option)
    {
        string? name;
        try
        {
            name = context.ParseResult.GetValue(option);
        }
        catch (InvalidOperationException)
        {
            name = null;
        }

        var (profile, _) = ProfileLoader.TryLoad(name ?? ProfileLoader.DefaultProfile);
        return profile ?? ProfileLoader.TryLoad(ProfileLoader.DefaultProfile).Profile;
    }
}

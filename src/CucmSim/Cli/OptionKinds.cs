using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;

namespace CucmSim.Cli;

/// <summary>Reads an option's text into a value; returns what is wrong with the text, or null when it is good.</summary>
internal delegate string? ValueReader<T>(string text, out T value);

/// <summary>
/// The kinds of option the commands declare, on System.CommandLine: every value is checked while the command line is
/// parsed, so every problem of a command line is reported at once, each as "--name value: what is expected".
/// </summary>
internal static class OptionKinds
{
    /// <summary>A single value; given more than once, the last counts (a script may append an override).</summary>
    public static Option<T> LastWins<T>(this Option<T> option, ValueReader<T> read)
    {
        option.Arity = ArgumentArity.OneOrMore;
        option.AllowMultipleArgumentsPerToken = false;
        option.CustomParser = r => Read(option, r, r.Tokens[^1].Value, read);
        return option;
    }

    /// <summary>A single text value; the last counts.</summary>
    public static Option<string> LastWins(this Option<string> option) => option.LastWins(Text);

    /// <summary>A single text value that may be absent; the last counts.</summary>
    public static Option<string?> Optional(this Option<string?> option) => option.LastWins((string text, out string? value) =>
    {
        value = text;
        return null;
    });

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; the last counts.</summary>
    public static Option<int> Whole(this Option<int> option, int min, int max) => option.LastWins((string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"a whole number from {min} to {max}"));

    /// <summary>One of a few words (any case); they are offered as completions too.</summary>
    public static Option<string> OneOf(this Option<string> option, params string[] words)
    {
        option.CompletionSources.Add(words);
        return option.LastWins((string text, out string value) =>
        {
            value = words.FirstOrDefault(w => string.Equals(w, text, StringComparison.OrdinalIgnoreCase)) ?? text;
            return words.Contains(value, StringComparer.Ordinal) ? null : words.Length == 2 ? $"{words[0]} or {words[1]}" : "one of " + string.Join(", ", words);
        });
    }

    /// <summary>A value given as often as needed (--name a --name b); each is read and each problem reported.</summary>
    /// <param name="shown">how a bad value is quoted back (a secret in it left out)</param>
    public static Option<T[]> Repeatable<T>(this Option<T[]> option, ValueReader<T> read, Func<string, string>? shown = null)
    {
        option.Arity = ArgumentArity.OneOrMore;
        option.AllowMultipleArgumentsPerToken = false;
        option.CustomParser = r =>
        {
            var values = new List<T>();
            foreach (var token in r.Tokens)
            {
                values.Add(Read(option, r, token.Value, read, shown)!);
            }

            return [.. values];
        };
        option.DefaultValueFactory ??= _ => [];
        return option;
    }

    /// <summary>A text value given as often as needed.</summary>
    public static Option<string[]> Repeatable(this Option<string[]> option) => option.Repeatable<string>(Text);

    public static string? Text(string text, out string value)
    {
        value = text;
        return null;
    }

    public static string? Address(string text, out IPAddress value) =>
        IPAddress.TryParse(text, out value!) ? null : "not an IP address";

    public static string? OptionalAddress(string text, out IPAddress? value)
    {
        var problem = Address(text, out IPAddress address);
        value = problem is null ? address : null;
        return problem;
    }

    public static string? ExistingFile(string text, out string? value)
    {
        value = text;
        return File.Exists(text) ? null : "no such file";
    }

    public static string? ExistingDirectory(string text, out string? value)
    {
        value = text;
        return Directory.Exists(text) ? null : "no such directory";
    }

    /// <summary>
    /// Every problem of a parsed command line in words: a word that looks like an option and is none is an unknown
    /// option, any other word left over an unexpected argument; the rest as System.CommandLine says it. A command
    /// that passes the words it does not know on (TreatUnmatchedTokensAsErrors off: lab probe, lab exec) has none of
    /// the first two.
    /// </summary>
    public static List<string> Problems(ParseResult parsed, string unexpected = "unexpected argument")
    {
        var unmatched = parsed.UnmatchedTokens;
        if (!parsed.CommandResult.Command.TreatUnmatchedTokensAsErrors)
        {
            return [.. parsed.Errors.Where(e => !(e.SymbolResult is CommandResult && unmatched.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal)))).Select(e => e.Message)];
        }

        var problems = parsed.Errors
            .Where(e => !(e.SymbolResult is CommandResult && unmatched.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))))
            .Select(e => e.Message)
            .ToList();
        problems.InsertRange(0, unmatched.Select(t => t.Length > 1 && t[0] == '-' ? $"unknown option {t.Split('=')[0]}" : $"{unexpected} '{t}'"));
        return problems;
    }

    private static T? Read<T>(Option option, ArgumentResult result, string text, ValueReader<T> read, Func<string, string>? shown = null)
    {
        if (read(text, out var value) is { } problem)
        {
            result.AddError($"{option.Name} {(shown is null ? text : shown(text))}: {problem}");
        }

        return value;
    }
}

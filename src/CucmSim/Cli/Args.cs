namespace CucmSim.Cli;

/// <summary>
/// The options of a command read by System.CommandLine from plain lists of names: "--name value" and "--name=value",
/// repeatable value options, flags and positionals. Every problem (an unknown option, a missing value) is reported
/// at once. Commands whose options are declared one by one (probe, profiles) use System.CommandLine directly.
/// </summary>
internal sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public List<string> Errors { get; } = [];

    public static Args Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flagOptions)
    {
        var command = new System.CommandLine.Command("command");
        var positionals = new System.CommandLine.Argument<string[]>("ARGS") { Arity = System.CommandLine.ArgumentArity.ZeroOrMore };
        command.Arguments.Add(positionals);
        var values = valueOptions.Distinct().Select(name => new System.CommandLine.Option<string[]>("--" + name)
        {
            Arity = System.CommandLine.ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        }).ToList();
        var flags = flagOptions.Distinct().Select(name => new System.CommandLine.Option<bool>("--" + name) { Arity = System.CommandLine.ArgumentArity.Zero }).ToList();
        foreach (var option in values.Cast<System.CommandLine.Option>().Concat(flags))
        {
            command.Options.Add(option);
        }

        var parsed = command.Parse(args);
        var result = new Args();
        result.Errors.AddRange(parsed.Errors.Select(e => e.Message));
        // A word that looks like an option and is none (before any "--") is an unknown option, not an argument.
        var end = args.ToList().IndexOf("--");
        var before = end < 0 ? args : args.Take(end).ToList();
        foreach (var word in parsed.GetValue(positionals) ?? [])
        {
            if (word.StartsWith("--", StringComparison.Ordinal) && word.Length > 2 && before.Contains(word))
            {
                result.Errors.Add($"unknown option {word.Split('=')[0]}");
            }
            else
            {
                result.Positionals.Add(word);
            }
        }
        foreach (var option in values)
        {
            if (parsed.GetResult(option) is { Implicit: false, Tokens.Count: > 0 } r)
            {
                result._values[option.Name[2..]] = [.. r.Tokens.Select(t => t.Value)];
            }
        }

        foreach (var option in flags.Where(f => parsed.GetResult(f) is { Implicit: false }))
        {
            result._flags.Add(option.Name[2..]);
        }

        return result;
    }

    public bool Flag(string name) => _flags.Contains(name);

    public string? Value(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var list) ? list : [];

    /// <summary>A whole number option within bounds; a problem goes to <paramref name="errors"/> and the fallback is used.</summary>
    public int Int(string name, int fallback, int min, int max, List<string> errors)
    {
        var text = Value(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"--{name} {text}: a whole number from {min} to {max}");
            return fallback;
        }

        return value;
    }
}

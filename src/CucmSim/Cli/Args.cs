namespace CucmSim.Cli;

/// <summary>
/// A small GNU-style argument reader: "--name value", "--name=value", repeatable options, flags and
/// positionals. Unknown options are errors, reported all at once.
/// </summary>
internal sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public List<string> Errors { get; } = [];

    public static Args Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flagOptions)
    {
        var result = new Args();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                result.Positionals.AddRange(args.Skip(i + 1));
                break;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                result.Positionals.Add(arg);
                continue;
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg[2..] : arg[2..eq];
            if (flagOptions.Contains(name))
            {
                if (eq >= 0)
                {
                    result.Errors.Add($"--{name} takes no value");
                }

                result._flags.Add(name);
            }
            else if (valueOptions.Contains(name))
            {
                string? value = eq >= 0 ? arg[(eq + 1)..] : i + 1 < args.Count ? args[++i] : null;
                if (value is null)
                {
                    result.Errors.Add($"--{name} needs a value");
                    continue;
                }

                if (!result._values.TryGetValue(name, out var list))
                {
                    result._values[name] = list = [];
                }

                list.Add(value);
            }
            else
            {
                result.Errors.Add($"unknown option --{name}");
            }
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

using System.CommandLine;

namespace CucmSim.Cli;

/// <summary>
/// The options of a command, each declared once with what it sets in a settings record: <see cref="Add{T}"/> puts
/// the option on the command (its help, default, checks and completions come from the declaration) and remembers how
/// its value changes the settings. An option that was not given leaves the record's default alone.
/// </summary>
internal sealed class Declared<TSettings>
{
    private readonly Command _command;
    private readonly List<Func<ParseResult, TSettings, TSettings>> _setters = [];

    public Declared(Command command) => _command = command;

    public Option<T> Add<T>(Option<T> option, Func<TSettings, T, TSettings> set)
    {
        _command.Options.Add(option);
        _setters.Add((parsed, settings) => parsed.GetResult(option) is { Implicit: false } ? set(settings, parsed.GetValue(option)!) : settings);
        return option;
    }

    /// <summary>Options that set a part of the settings (one protocol's record, for example).</summary>
    public Declared<TPart> Part<TPart>(Func<TSettings, TPart> get, Func<TSettings, TPart, TSettings> set)
    {
        var part = new Declared<TPart>(_command);
        _setters.Add((parsed, settings) => set(settings, part.Bind(parsed, get(settings))));
        return part;
    }

    /// <summary>The settings the command line asks for, starting from <paramref name="settings"/>.</summary>
    public TSettings Bind(ParseResult parsed, TSettings settings) => _setters.Aggregate(settings, (s, set) => set(parsed, s));
}

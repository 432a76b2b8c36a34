using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace CucmSim.Cli;

/// <summary>
/// The command line's tables, drawn by Spectre.Console. On a terminal: bold headers, cells wrapped to the terminal's
/// width. Into a file or a pipe: plain text, no escape sequence, one line per row however long, no trailing blanks;
/// the header is underlined with dashes in both.
/// </summary>
internal static class Tables
{
    /// <summary>True when <paramref name="output"/> is the process's own standard output and that is a terminal.</summary>
    public static bool IsTerminal(TextWriter output) => ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;

    /// <summary>A console on <paramref name="output"/>: colours on a terminal, plain text otherwise.</summary>
    public static IAnsiConsole ConsoleOn(TextWriter output, bool terminal, int plainWidth)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        if (!terminal)
        {
            console.Profile.Width = plainWidth;
        }

        return console;
    }

    public static Table Create(params string[] headers)
    {
        var table = new Table { Border = new DashBorder() };
        foreach (var h in headers)
        {
            table.AddColumn(new TableColumn(new Markup($"[bold]{Markup.Escape(h)}[/]")).PadLeft(0).PadRight(1));
        }

        return table;
    }

    /// <summary>A row of plain cells (no markup is read in them); a cell longer than <paramref name="max"/> is cut with an ellipsis.</summary>
    public static Table Row(this Table table, int max, params object?[] cells)
    {
        table.AddRow(cells.Select(c => (IRenderable)new Text(Shorten(c?.ToString() ?? string.Empty, max))).ToArray());
        return table;
    }

    public static void Write(TextWriter output, Table table)
    {
        if (IsTerminal(output))
        {
            ConsoleOn(output, terminal: true, 0).Write(table);
            return;
        }

        // Rendered at a width nothing reaches, then stripped of the padding at the ends of lines.
        var text = new StringWriter();
        ConsoleOn(text, terminal: false, 100_000).Write(table);
        var sb = new StringBuilder();
        foreach (var line in text.ToString().Split('\n'))
        {
            if (line.TrimEnd().Length > 0)
            {
                sb.Append(line.TrimEnd()).Append('\n');
            }
        }

        output.Write(sb.ToString());
    }

    public static string Shorten(string text, int max) => text.Length <= max ? text : string.Concat(text.AsSpan(0, max - 1), "…");

    /// <summary>No frame, columns two spaces apart, a rule of dashes under the header.</summary>
    private sealed class DashBorder : TableBorder
    {
        public override string GetPart(TableBorderPart part) => part switch
        {
            TableBorderPart.HeaderBottom => "-",
            TableBorderPart.HeaderSeparator or TableBorderPart.CellSeparator or TableBorderPart.HeaderBottomSeparator => " ",
            _ => string.Empty,
        };
    }
}

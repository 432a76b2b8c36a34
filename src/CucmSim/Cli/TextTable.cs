using System.Text;

namespace CucmSim.Cli;

/// <summary>Plain-text tables for terminals: left-aligned columns, a header rule, optional width cap per column.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public int MaxCellWidth { get; init; } = 60;

    public TextTable Add(params object?[] cells)
    {
        _rows.Add(cells.Select(c => c?.ToString() ?? string.Empty).ToArray());
        return this;
    }

    public override string ToString()
    {
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in _rows)
        {
            for (var i = 0; i < row.Length && i < widths.Length; i++)
            {
                widths[i] = Math.Max(widths[i], Math.Min(row[i].Length, MaxCellWidth));
            }
        }

        var sb = new StringBuilder();
        Line(sb, headers, widths);
        Line(sb, widths.Select(w => new string('-', w)).ToArray(), widths);
        foreach (var row in _rows)
        {
            Line(sb, row, widths);
        }

        return sb.ToString();
    }

    private void Line(StringBuilder sb, string[] cells, int[] widths)
    {
        for (var i = 0; i < widths.Length; i++)
        {
            var cell = i < cells.Length ? cells[i] : string.Empty;
            if (cell.Length > MaxCellWidth)
            {
                cell = string.Concat(cell.AsSpan(0, MaxCellWidth - 1), "…");
            }

            sb.Append(i == widths.Length - 1 ? cell : cell.PadRight(widths[i] + 2));
        }

        sb.Append('\n');
    }
}

using System.Globalization;
using System.Text.Json;

namespace CucmSim.Load;

/// <summary>
/// <c>cucmsim load merge shard*.json</c>: the shards' reports of one run made one report, counters summed and
/// histograms added. The files must be shards of one run: the same plan, the same shard count, each shard once.
/// </summary>
internal static class LoadMerge
{
    /// <summary>The largest report read: an hour of one-second intervals is a few megabytes.</summary>
    public const long MaxBytes = 256L * 1024 * 1024;

    /// <summary>
    /// Reads and merges the reports at <paramref name="paths"/>. Problems (a file unreadable, two runs, a shard twice)
    /// make it null; a shard that is missing is a warning, and the merge is of the shards there are.
    /// </summary>
    public static LoadReport? Merge(IReadOnlyList<string> paths, List<string> problems, List<string> warnings)
    {
        var reports = new List<(string Path, LoadReport Report)>();
        foreach (var path in paths)
        {
            if (Read(path, problems) is { } report)
            {
                reports.Add((path, report));
            }
        }

        if (problems.Count > 0)
        {
            return null;
        }

        if (reports.Count == 0)
        {
            problems.Add("no report to merge: give the shards' --json files");
            return null;
        }

        return Merge(reports, problems, warnings);
    }

    public static LoadReport? Merge(IReadOnlyList<(string Path, LoadReport Report)> reports, List<string> problems, List<string> warnings)
    {
        var before = problems.Count;
        var shards = new Dictionary<int, string>();
        int? count = null;
        foreach (var (path, report) in reports)
        {
            if (!ShardSpec.TryParse(report.Shard, out var shard, out _))
            {
                problems.Add($"{path}: shard '{report.Shard}' is not i/n (a report merged already cannot be merged again)");
                continue;
            }

            if (count is { } n && n != shard.Count)
            {
                problems.Add($"{path}: shard {shard} is of {shard.Count} shards; {reports[0].Path} of {n}");
                continue;
            }

            count = shard.Count;
            if (shards.TryGetValue(shard.Index, out var other))
            {
                problems.Add($"{path}: shard {shard} is in {other} too");
                continue;
            }

            shards[shard.Index] = path;
            if (!SamePlan(reports[0].Report.Plan, report.Plan, out var difference))
            {
                problems.Add($"{path}: not the run of {reports[0].Path}: {difference}");
            }
        }

        if (problems.Count > before || count is not { } total)
        {
            return null;
        }

        var missing = Enumerable.Range(0, total).Where(i => !shards.ContainsKey(i)).ToList();
        if (missing.Count > 0)
        {
            warnings.Add($"shard {string.Join(", ", missing.Select(i => i.ToString(CultureInfo.InvariantCulture)))} of {total.ToString(CultureInfo.InvariantCulture)} missing: the report is of {shards.Count.ToString(CultureInfo.InvariantCulture)} shards");
        }

        return LoadReport.Merge(reports.OrderBy(r => ShardIndex(r.Report)).Select(r => r.Report).ToList());
    }

    private static int ShardIndex(LoadReport report) => ShardSpec.TryParse(report.Shard, out var s, out _) ? s.Index : int.MaxValue;

    private static bool SamePlan(Dictionary<string, string> a, Dictionary<string, string> b, out string? difference)
    {
        // "faults" is a shard's own (work its loops could not do), not the plan's.
        foreach (var key in a.Keys.Union(b.Keys).Where(k => k != "faults").Order(StringComparer.Ordinal))
        {
            var x = a.GetValueOrDefault(key);
            var y = b.GetValueOrDefault(key);
            if (!string.Equals(x, y, StringComparison.Ordinal))
            {
                difference = $"its {key} is {y ?? "not given"}, there {x ?? "not given"}";
                return false;
            }
        }

        difference = null;
        return true;
    }

    private static LoadReport? Read(string path, List<string> problems)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                problems.Add($"{path}: no such file");
                return null;
            }

            if (info.Length > MaxBytes)
            {
                problems.Add($"{path}: {info.Length.ToString(CultureInfo.InvariantCulture)} bytes; a report has at most {MaxBytes.ToString(CultureInfo.InvariantCulture)}");
                return null;
            }

            var report = LoadReport.FromJson(File.ReadAllText(path));
            var histogram = "";
            try
            {
                foreach (var (name, encoded) in report.Histograms)
                {
                    histogram = name;
                    _ = LoadHistograms.Decode(encoded);
                }

                foreach (var interval in report.Timeline.Where(i => i.Setup is not null))
                {
                    histogram = "setup of the interval at " + interval.StartMs.ToString(CultureInfo.InvariantCulture);
                    _ = LoadHistograms.Decode(interval.Setup!);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The decoder's exceptions for bad input are of many kinds (base64, zlib, bounds): all mean the same here.
                problems.Add($"{path}: histogram {histogram} does not decode ({e.Message})");
                return null;
            }

            return report;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: {e.Message}");
        }
        catch (JsonException e)
        {
            problems.Add($"{path}: not a load report ({e.Message})");
        }

        return null;
    }
}

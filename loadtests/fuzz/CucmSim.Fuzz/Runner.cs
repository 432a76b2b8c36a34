using System.Diagnostics;

namespace CucmSim.Fuzzing;

/// <summary>Runs one input through a harness and turns a hang or an unbounded allocation into a finding.</summary>
public static class Runner
{
    /// <summary>Most a harness may allocate for one input: a fixed allowance plus a multiple of its length.</summary>
    public static long AllocationBudget(int inputLength) => (4L << 20) + 512L * inputLength;

    public static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(2);

    public static void Run(string codec, byte[] input)
    {
        var harness = Harnesses.All[codec];
        var before = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        harness(input);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationBudget(input.Length))
        {
            throw new FuzzFindingException($"{codec}: {allocated} bytes allocated for an input of {input.Length} bytes");
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        if (elapsed > TimeBudget)
        {
            throw new FuzzFindingException($"{codec}: {elapsed.TotalMilliseconds:F0} ms for an input of {input.Length} bytes");
        }
    }
}

public sealed class FuzzFindingException(string message) : Exception(message);

/// <summary>What the smoke of one harness did.</summary>
public sealed record SmokeResult(string Codec, int Seeds, int Executions, TimeSpan Elapsed, IReadOnlyList<string> Findings);

public static class Smoke
{
    /// <summary>The harness over its seeds (built in, plus any files under corpus/CODEC) and <paramref name="mutations"/> mutations of them.</summary>
    public static SmokeResult Run(string codec, int mutations, string? corpusDirectory = null)
    {
        var seeds = new List<byte[]>(Seeds.For(codec));
        var dir = corpusDirectory is null ? null : Path.Combine(corpusDirectory, codec);
        if (dir is not null && Directory.Exists(dir))
        {
            seeds.AddRange(Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(File.ReadAllBytes));
            seeds = seeds.DistinctBy(Convert.ToHexString).ToList();
        }

        var findings = new List<string>();
        var started = Stopwatch.GetTimestamp();
        var executions = 0;
        var mutator = new Mutator(Mutator.SeedOf(codec));
        foreach (var input in seeds.Concat(Enumerable.Range(0, mutations).Select(_ => mutator.Next(seeds))))
        {
            executions++;
            try
            {
                Runner.Run(codec, input);
            }
            catch (Exception e)
            {
                if (findings.Count < 5)
                {
                    findings.Add($"{e.GetType().Name}: {e.Message} on input {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 256)))}\n{e.StackTrace}");
                }
            }
        }

        return new SmokeResult(codec, seeds.Count, executions, Stopwatch.GetElapsedTime(started), findings);
    }
}

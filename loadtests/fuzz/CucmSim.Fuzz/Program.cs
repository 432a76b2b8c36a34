using System.Globalization;
using CucmSim.Fuzzing;
using SharpFuzz;

// cucmsim-fuzz: the fuzzing harnesses of CucmSim.Protocols (loadtests/fuzz/README.md).
//   list                                 the harnesses
//   afl CODEC                            the AFL++ target (run by run.sh under afl-fuzz)
//   smoke [--mutations N] [--corpus DIR] [CODEC...]   in-process, deterministic; exit 1 on a finding
//   corpus DIR                           writes the built-in seeds to DIR/CODEC/
//   replay CODEC FILE...                 one input each, an exception is printed with its stack
var command = args.Length > 0 ? args[0] : "list";
switch (command)
{
    case "list":
        foreach (var name in Harnesses.All.Keys)
        {
            Console.WriteLine(name);
        }

        return 0;
    case "afl" when args.Length == 2 && Harnesses.All.ContainsKey(args[1]):
        var codec = args[1];
        Fuzzer.Run(stream =>
        {
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            Runner.Run(codec, memory.ToArray());
        });
        return 0;
    case "smoke":
        return RunSmoke(args[1..]);
    case "corpus" when args.Length == 2:
        foreach (var name in Harnesses.All.Keys)
        {
            var dir = Directory.CreateDirectory(Path.Combine(args[1], name));
            var seeds = Seeds.For(name);
            for (var i = 0; i < seeds.Count; i++)
            {
                File.WriteAllBytes(Path.Combine(dir.FullName, $"seed-{i:D2}"), seeds[i]);
            }
        }

        return 0;
    case "replay" when args.Length >= 3 && Harnesses.All.ContainsKey(args[1]):
        var failed = 0;
        foreach (var file in args[2..])
        {
            try
            {
                Runner.Run(args[1], File.ReadAllBytes(file));
                Console.WriteLine($"{file}: ok");
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine($"{file}: {e}");
            }
        }

        return failed == 0 ? 0 : 1;
    default:
        Console.Error.WriteLine("usage: cucmsim-fuzz list | afl CODEC | smoke [--mutations N] [--corpus DIR] [CODEC...] | corpus DIR | replay CODEC FILE...");
        return 2;
}

static int RunSmoke(string[] args)
{
    var mutations = 3000;
    string? corpus = null;
    var codecs = new List<string>();
    for (var i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--mutations" when i + 1 < args.Length:
                mutations = int.Parse(args[++i], CultureInfo.InvariantCulture);
                break;
            case "--corpus" when i + 1 < args.Length:
                corpus = args[++i];
                break;
            default:
                if (!Harnesses.All.ContainsKey(args[i]))
                {
                    Console.Error.WriteLine($"smoke: no harness {args[i]}");
                    return 2;
                }

                codecs.Add(args[i]);
                break;
        }
    }

    var failed = false;
    foreach (var codec in codecs.Count > 0 ? codecs : Harnesses.All.Keys)
    {
        var result = Smoke.Run(codec, mutations, corpus);
        Console.WriteLine($"{codec,-8} {result.Seeds,4} seeds {result.Executions,7} executions {result.Elapsed.TotalSeconds,6:F2} s {result.Findings.Count} findings");
        foreach (var finding in result.Findings)
        {
            Console.WriteLine("  " + finding);
        }

        failed |= result.Findings.Count > 0;
    }

    return failed ? 1 : 0;
}

namespace CucmSim.Fuzzing;

/// <summary>
/// Deterministic mutations for the in-process smoke (no AFL): bit flips, interesting values, insertions,
/// deletions, duplicated ranges, splices of two seeds and pure random bytes. The same seed list and count
/// always give the same inputs.
/// </summary>
public sealed class Mutator(ulong seed)
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0D, 0x0A, 0x20, 0x3A, 0x30, 0x39, 0x81, 0x84];
    private ulong _state = seed | 1;

    public static ulong SeedOf(string name)
    {
        var h = 14695981039346656037UL;
        foreach (var c in name)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return h;
    }

    public byte[] Next(IReadOnlyList<byte[]> seeds)
    {
        var input = seeds.Count == 0 || Below(16) == 0 ? Random(Below(512)) : (byte[])seeds[Below(seeds.Count)].Clone();
        var rounds = 1 + Below(4);
        for (var i = 0; i < rounds; i++)
        {
            input = Mutate(input, seeds);
        }

        return input;
    }

    private byte[] Mutate(byte[] input, IReadOnlyList<byte[]> seeds)
    {
        if (input.Length == 0)
        {
            return Random(1 + Below(64));
        }

        var at = Below(input.Length);
        switch (Below(9))
        {
            case 0:
                input[at] ^= (byte)(1 << Below(8));
                return input;
            case 1:
                input[at] = Interesting[Below(Interesting.Length)];
                return input;
            case 2:
                input[at] = (byte)Below(256);
                return input;
            case 3:
                // A length field pushed to its extremes: four bytes of 0xFF or 0x00.
                var fill = Below(2) == 0 ? (byte)0xFF : (byte)0x00;
                for (var i = at; i < Math.Min(input.Length, at + 4); i++)
                {
                    input[i] = fill;
                }

                return input;
            case 4:
                return [.. input.AsSpan(0, at), .. Random(1 + Below(16)), .. input.AsSpan(at)];
            case 5:
                var cut = Math.Min(input.Length - at, 1 + Below(32));
                return [.. input.AsSpan(0, at), .. input.AsSpan(at + cut)];
            case 6:
                var length = Math.Min(input.Length - at, 1 + Below(64));
                var copies = 1 + Below(8);
                var result = new List<byte>(input.AsSpan(0, at + length).ToArray());
                for (var i = 0; i < copies; i++)
                {
                    result.AddRange(input.AsSpan(at, length).ToArray());
                }

                result.AddRange(input.AsSpan(at + length).ToArray());
                return result.ToArray();
            case 7:
                if (seeds.Count == 0)
                {
                    return input;
                }

                var other = seeds[Below(seeds.Count)];
                var from = other.Length == 0 ? 0 : Below(other.Length);
                return [.. input.AsSpan(0, at), .. other.AsSpan(from)];
            default:
                return input[..at];
        }
    }

    private byte[] Random(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)Step();
        }

        return bytes;
    }

    private int Below(int n) => n <= 0 ? 0 : (int)((Step() >> 11) % (ulong)n);

    private ulong Step()
    {
        var x = _state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        _state = x;
        return x;
    }
}

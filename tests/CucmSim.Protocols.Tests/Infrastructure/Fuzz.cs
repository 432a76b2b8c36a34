namespace CucmSim.Protocols.Tests.Infrastructure;

/// <summary>Reproducible hostile input for parsers: random bytes alternating with valid messages with one byte changed.</summary>
public static class Fuzz
{
    public static IEnumerable<byte[]> RandomAndMutated(int seed, int count, int maxRandomLength, params byte[][] valid)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            if (i % 2 == 0 || valid.Length == 0)
            {
                var bytes = new byte[random.Next(0, maxRandomLength)];
                random.NextBytes(bytes);
                yield return bytes;
            }
            else
            {
                var bytes = (byte[])valid[random.Next(valid.Length)].Clone();
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                yield return bytes;
            }
        }
    }
}

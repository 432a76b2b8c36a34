using System.Buffers;
using CucmSim.Fuzzing;

namespace CucmSim.Protocols.Tests.Infrastructure;

/// <summary>Builds multi-segment sequences so codecs are tested across every segment boundary.</summary>
public static class Segments
{
    public static ReadOnlySequence<byte> Of(params byte[][] parts) => Feed.Of(parts.Select(p => (ReadOnlyMemory<byte>)p).ToArray());

    /// <summary>Every way of splitting the bytes in two (including empty halves).</summary>
    public static IEnumerable<ReadOnlySequence<byte>> AllSplits(byte[] bytes)
    {
        for (var i = 0; i <= bytes.Length; i++)
        {
            yield return Of(bytes[..i], bytes[i..]);
        }
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> ByteAtATime(byte[] bytes) => Of(bytes.Select(b => new[] { b }).ToArray());
}

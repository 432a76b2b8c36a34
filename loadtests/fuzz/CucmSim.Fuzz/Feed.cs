using System.Buffers;

namespace CucmSim.Fuzzing;

/// <summary>
/// Hands a harness its input the way a socket hands it to the server: a stream arrives in reads of
/// input-derived sizes, each read a separate buffer segment, and whatever a parser leaves unconsumed stays
/// in front of the next read; a datagram arrives whole, as one buffer or (where the codec reads a
/// sequence) split into segments.
/// </summary>
public static class Feed
{
    /// <summary>Read sizes derived from the input: the same input always arrives the same way.</summary>
    public static int[] ReadSizes(ReadOnlySpan<byte> data, int maxRead = 64)
    {
        var state = Seed(data);
        var sizes = new List<int>();
        for (var left = data.Length; left > 0;)
        {
            state = Next(state);
            // Mostly small reads (1..16) so boundaries fall inside fields; now and then one large read.
            var size = (state & 7) == 0 ? 1 + (int)((state >> 8) % (ulong)maxRead * 16) : 1 + (int)((state >> 8) % 16);
            size = Math.Min(size, left);
            sizes.Add(size);
            left -= size;
        }

        return sizes.ToArray();
    }

    /// <summary>The bytes as one sequence of segments at input-derived points.</summary>
    public static ReadOnlySequence<byte> Segmented(ReadOnlyMemory<byte> data) => Sequence(data, ReadSizes(data.Span));

    /// <summary>
    /// Runs a stream parser over the input: <paramref name="step"/> sees everything received and not yet
    /// consumed as a multi-segment sequence (one segment per read), returns how far it consumed and whether it
    /// closes the connection, as the server's read loops do. At the end of input the stream completes.
    /// </summary>
    public static void Stream(ReadOnlyMemory<byte> data, StreamStep step)
    {
        var sizes = ReadSizes(data.Span);
        var consumed = 0;
        var received = 0;
        var reads = new List<int>();
        for (var i = 0; i < sizes.Length; i++)
        {
            received += sizes[i];
            reads.Add(sizes[i]);
            var buffer = Sequence(data[consumed..received], Pending(reads, received - consumed));
            var position = step(buffer, completed: i == sizes.Length - 1, out var close);
            var used = (int)buffer.Slice(0, position).Length;
            consumed += used;
            if (close)
            {
                return;
            }
        }
    }

    /// <summary>The last reads that together make up <paramref name="pending"/> bytes (the first one cut short).</summary>
    private static int[] Pending(List<int> reads, int pending)
    {
        var result = new List<int>();
        for (var i = reads.Count - 1; i >= 0 && pending > 0; i--)
        {
            var n = Math.Min(reads[i], pending);
            result.Add(n);
            pending -= n;
        }

        result.Reverse();
        return result.ToArray();
    }

    private static ReadOnlySequence<byte> Sequence(ReadOnlyMemory<byte> data, int[] sizes)
    {
        // Each segment in its own array: a parser that reads past a segment's end fails here as it would on
        // the server's pipe buffers.
        var parts = new List<ReadOnlyMemory<byte>>(sizes.Length);
        var offset = 0;
        foreach (var size in sizes)
        {
            parts.Add(data.Slice(offset, size).ToArray());
            offset += size;
        }

        return Of(parts);
    }

    /// <summary>One sequence made of the given parts, one segment each (empty parts included).</summary>
    public static ReadOnlySequence<byte> Of(IReadOnlyList<ReadOnlyMemory<byte>> parts)
    {
        if (parts.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(parts[0], 0);
        var last = first;
        for (var i = 1; i < parts.Count; i++)
        {
            last = last.Append(parts[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static ulong Seed(ReadOnlySpan<byte> data)
    {
        // FNV-1a.
        var h = 14695981039346656037UL;
        foreach (var b in data)
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return h | 1;
    }

    private static ulong Next(ulong x)
    {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

/// <summary>One read of a stream protocol's loop: how far the buffer was consumed, and whether to close.</summary>
public delegate SequencePosition StreamStep(ReadOnlySequence<byte> buffer, bool completed, out bool close);

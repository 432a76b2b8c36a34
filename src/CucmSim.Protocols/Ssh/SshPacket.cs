using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CucmSim.Protocols.Ssh;

/// <summary>
/// The binary packet of RFC 4253 §6 before any key is in use (cipher "none", no MAC): uint32 packet_length,
/// byte padding_length, the payload, at least 4 bytes of random padding, the whole a multiple of 8 bytes.
/// </summary>
public static class SshPacket
{
    /// <summary>The largest packet every implementation must take (RFC 4253 §6.1); larger ones are refused.</summary>
    public const int MaxPacketLength = 35000;

    public const int BlockSize = 8;

    public const int MinPadding = 4;

    /// <summary>
    /// Reads one packet and copies its payload out. NeedMoreData consumes nothing; InvalidData (with the reason)
    /// as soon as the length or the padding is impossible.
    /// </summary>
    public static OperationStatus TryRead(ref SequenceReader<byte> reader, out byte[] payload, out string? error)
    {
        payload = [];
        error = null;
        Span<byte> head = stackalloc byte[5];
        if (reader.Remaining < head.Length)
        {
            // A length that is already impossible need not wait for the rest.
            if (reader.Remaining >= 4 && reader.TryCopyTo(head[..4]) && !ValidLength(BinaryPrimitives.ReadUInt32BigEndian(head), out error))
            {
                return OperationStatus.InvalidData;
            }

            return OperationStatus.NeedMoreData;
        }

        reader.TryCopyTo(head);
        var length = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (!ValidLength(length, out error))
        {
            return OperationStatus.InvalidData;
        }

        var padding = head[4];
        if (padding < MinPadding || padding > length - 2)
        {
            error = $"padding length {padding} in a packet of {length}";
            return OperationStatus.InvalidData;
        }

        if (reader.Remaining < 4 + length)
        {
            return OperationStatus.NeedMoreData;
        }

        payload = new byte[length - 1 - padding];
        var r = reader;
        r.Advance(5);
        r.TryCopyTo(payload);
        reader.Advance(4 + length);
        return OperationStatus.Done;
    }

    private static bool ValidLength(uint length, out string? error)
    {
        error = null;
        if (length is < 1 + MinPadding + 1 or > MaxPacketLength)
        {
            error = $"packet length {length}";
            return false;
        }

        if ((4 + length) % BlockSize != 0)
        {
            error = $"packet length {length} is not a whole number of {BlockSize}-byte blocks";
            return false;
        }

        return true;
    }

    /// <summary>Frames a payload with random padding; returns the bytes written.</summary>
    public static int Write(IBufferWriter<byte> output, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payload.Length, MaxPacketLength - 1 - 2 * BlockSize, nameof(payload));
        var padding = BlockSize - ((5 + payload.Length) % BlockSize);
        if (padding < MinPadding)
        {
            padding += BlockSize;
        }

        var length = 1 + payload.Length + padding;
        var span = output.GetSpan(4 + length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)length);
        span[4] = (byte)padding;
        payload.CopyTo(span[5..]);
        RandomNumberGenerator.Fill(span.Slice(5 + payload.Length, padding));
        output.Advance(4 + length);
        return 4 + length;
    }
}

using System.Buffers;

namespace CucmSim.Protocols.Sip;

/// <summary>
/// Message framing on stream transports (RFC 3261 §18.3): the header section ends at the first empty line and
/// the body is exactly Content-Length bytes. A CRLFCRLF keep-alive ping between messages (RFC 5626 §3.5.1) is
/// framed as a message of its own (<see cref="IsKeepAlive"/>); a lone CRLF is skipped.
/// </summary>
public static class SipFraming
{
    private static ReadOnlySpan<byte> HeaderEnd => "\r\n\r\n"u8;

    /// <summary>
    /// Done: <paramref name="message"/> is one whole message (or a keep-alive) and the reader is past it.
    /// NeedMoreData: nothing consumed. InvalidData: the header section or the declared body exceeds
    /// <paramref name="maxSize"/>, or Content-Length is unreadable; the stream cannot be resynchronised.
    /// </summary>
    public static OperationStatus TryRead(ref SequenceReader<byte> reader, int maxSize, out ReadOnlySequence<byte> message)
    {
        message = default;

        // RFC 5626 §3.5.1: a CRLFCRLF ping; RFC 3261 §7.5: stray CRLFs between messages are ignored.
        while (reader.Remaining >= 2 && reader.IsNext("\r\n"u8))
        {
            if (reader.IsNext(HeaderEnd))
            {
                message = reader.Sequence.Slice(reader.Position, 4);
                reader.Advance(4);
                return OperationStatus.Done;
            }

            if (reader.Remaining < 4)
            {
                return OperationStatus.NeedMoreData;
            }

            reader.Advance(2);
        }

        // Not SIP at all (binary, another protocol): refuse at once instead of waiting for an empty line.
        if (!LooksLikeStartLine(reader.UnreadSequence, maxSize))
        {
            return OperationStatus.InvalidData;
        }

        var start = reader.Position;
        var probe = reader;
        if (!probe.TryReadTo(out ReadOnlySequence<byte> headers, HeaderEnd, advancePastDelimiter: true))
        {
            return reader.Remaining > maxSize ? OperationStatus.InvalidData : OperationStatus.NeedMoreData;
        }

        var headerLength = headers.Length + 4;
        if (headerLength > maxSize)
        {
            return OperationStatus.InvalidData;
        }

        int contentLength;
        if (headers.IsSingleSegment)
        {
            contentLength = FindContentLength(headers.FirstSpan);
        }
        else
        {
            var rented = ArrayPool<byte>.Shared.Rent((int)headers.Length);
            headers.CopyTo(rented);
            contentLength = FindContentLength(rented.AsSpan(0, (int)headers.Length));
            ArrayPool<byte>.Shared.Return(rented);
        }

        if (contentLength < 0 || headerLength + contentLength > maxSize)
        {
            return OperationStatus.InvalidData;
        }

        var total = headerLength + contentLength;
        if (reader.Remaining < total)
        {
            return OperationStatus.NeedMoreData;
        }

        message = reader.Sequence.Slice(start, total);
        reader.Advance(total);
        return OperationStatus.Done;
    }

    /// <summary>
    /// False when the bytes cannot begin a SIP message: a first byte that is no upper-case letter, or a whole
    /// first line that is neither "METHOD URI SIP/x.y" nor "SIP/x.y CODE ..." (RFC 3261 §7.1, §7.2).
    /// </summary>
    public static bool LooksLikeStartLine(in ReadOnlySequence<byte> data, int maxSize)
    {
        if (data.IsEmpty)
        {
            return true;
        }

        Span<byte> head = stackalloc byte[512];
        var n = (int)Math.Min(data.Length, head.Length);
        data.Slice(0, n).CopyTo(head);
        head = head[..n];
        if (n == 1 && head[0] == '\r')
        {
            return true;
        }

        if (head[0] is < (byte)'A' or > (byte)'Z')
        {
            return false;
        }

        var eol = head.IndexOf("\r\n"u8);
        if (eol < 0)
        {
            // A start line longer than the sample is allowed (long Request-URIs), not beyond the size limit.
            return n < head.Length || data.Length < maxSize;
        }

        var line = head[..eol];
        if (line.StartsWith("SIP/"u8))
        {
            return true;
        }

        var last = line.LastIndexOf((byte)' ');
        return last > 0 && line[(last + 1)..].StartsWith("SIP/"u8);
    }

    public static bool IsKeepAlive(in ReadOnlySequence<byte> message) => message.Length == 4 && message.FirstSpan.Length >= 2 && message.FirstSpan[0] == '\r';

    /// <summary>Content-Length (or its compact form l) in a header section; 0 when absent, -1 when unreadable.</summary>
    public static int FindContentLength(ReadOnlySpan<byte> headers)
    {
        var pos = 0;
        while (pos < headers.Length)
        {
            var end = headers[pos..].IndexOf("\r\n"u8);
            var line = end < 0 ? headers[pos..] : headers.Slice(pos, end);
            pos = end < 0 ? headers.Length : pos + end + 2;
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].TrimEnd(" \t"u8);
            if (SipNames.Identify(name) != SipHeaderId.ContentLength)
            {
                continue;
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!SipMessage.TryParseUInt(value, out var cl) || cl > int.MaxValue)
            {
                return -1;
            }

            return (int)cl;
        }

        return 0;
    }
}

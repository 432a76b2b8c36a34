using System.Buffers;
using System.Net;
using System.Text;

namespace CucmSim.Protocols.Echo;

/// <summary>
/// The universal echo that every CucmSim listener answers, whatever its native protocol.
/// A client sends <c>CUCMSIM-PROBE &lt;nonce&gt;</c> (TCP: one line ending in LF or CRLF; UDP: one datagram,
/// the line ending optional) and the listener answers
/// <c>CUCMSIM-ECHO &lt;nonce&gt; &lt;listener-id&gt; &lt;local ip:port&gt; &lt;peer ip:port as seen&gt;</c> and LF.
/// The peer as seen is what proves (or disproves) NAT between the two ends.
/// <para>
/// Over UDP a probe may ask for a second, delayed answer: <c>CUCMSIM-PROBE &lt;nonce&gt; idle=&lt;S&gt;</c>. The
/// listener answers at once as above, with <c> idle=&lt;S&gt;</c> before the LF when it scheduled the callback, and
/// after S seconds sends <c>CUCMSIM-IDLE</c> with the same fields (exactly as long as the plain echo) from the same
/// local address and port to the peer as seen: a path whose UDP mapping expired in between loses it.
/// </para>
/// </summary>
public static class EchoProbe
{
    public const int MaxNonceLength = 64;

    /// <summary>Longest probe line accepted, line ending included.</summary>
    public const int MaxLineLength = 14 + MaxNonceLength + 2;

    /// <summary>Longest idle request suffix: " idle=" and four digits.</summary>
    public const int MaxIdleSuffixLength = 10;

    /// <summary>Longest probe datagram: the line and an idle request.</summary>
    public const int MaxDatagramLength = MaxLineLength + MaxIdleSuffixLength;

    /// <summary>Longest idle a listener accepts (a longer one is answered at once, with no callback).</summary>
    public const int MaxIdleSeconds = 900;

    /// <summary>Longest answer line: prefix, nonce, listener id, two bracketed IPv6 endpoints and the idle acknowledgement.</summary>
    public const int MaxEchoLength = 13 + MaxNonceLength + 1 + MaxListenerIdLength + 1 + 2 * 56 + MaxIdleSuffixLength + 1;

    public const int MaxListenerIdLength = 64;

    public static ReadOnlySpan<byte> ProbePrefix => "CUCMSIM-PROBE "u8;

    public static ReadOnlySpan<byte> EchoPrefix => "CUCMSIM-ECHO "u8;

    /// <summary>The delayed answer's prefix: as long as the echo's, so the callback is never larger than the echo.</summary>
    public static ReadOnlySpan<byte> CallbackPrefix => "CUCMSIM-IDLE "u8;

    private static ReadOnlySpan<byte> IdleToken => " idle="u8;

    /// <summary>
    /// Decides from the first bytes of a stream whether it opens with a probe.
    /// Done: a whole probe line was read (reader advanced past it) and <paramref name="nonce"/> holds it.
    /// NeedMoreData: the bytes so far are a prefix of a probe; reader unchanged.
    /// InvalidData: this is not a probe (or the line is malformed or too long); reader unchanged.
    /// </summary>
    public static OperationStatus TryReadProbeLine(ref SequenceReader<byte> reader, Span<byte> nonceBuffer, out int nonceLength)
    {
        nonceLength = 0;
        var start = reader.Position;
        var prefix = ProbePrefix;
        for (var i = 0; i < prefix.Length; i++)
        {
            if (!reader.TryRead(out var b))
            {
                reader.Rewind(i);
                return OperationStatus.NeedMoreData;
            }

            if (b != prefix[i])
            {
                reader.Rewind(i + 1);
                return OperationStatus.InvalidData;
            }
        }

        var count = 0;
        while (true)
        {
            if (!reader.TryRead(out var b))
            {
                reader.Rewind(prefix.Length + count);
                return OperationStatus.NeedMoreData;
            }

            if (b == (byte)'\n' || b == (byte)'\r')
            {
                if (b == (byte)'\r')
                {
                    if (!reader.TryPeek(out var next))
                    {
                        reader.Rewind(prefix.Length + count + 1);
                        return OperationStatus.NeedMoreData;
                    }

                    if (next != (byte)'\n')
                    {
                        reader.Rewind(prefix.Length + count + 1);
                        return OperationStatus.InvalidData;
                    }

                    reader.Advance(1);
                }

                if (count == 0)
                {
                    reader = RewindTo(reader, start);
                    return OperationStatus.InvalidData;
                }

                nonceLength = count;
                return OperationStatus.Done;
            }

            if (!IsNonceByte(b) || count >= MaxNonceLength || count >= nonceBuffer.Length)
            {
                reader.Rewind(prefix.Length + count + 1);
                return OperationStatus.InvalidData;
            }

            nonceBuffer[count++] = b;
        }
    }

    private static SequenceReader<byte> RewindTo(SequenceReader<byte> reader, SequencePosition position)
    {
        var fresh = new SequenceReader<byte>(reader.Sequence);
        fresh.Advance(reader.Sequence.Slice(reader.Sequence.Start, position).Length);
        return fresh;
    }

    /// <summary>Parses a probe datagram. Returns false when the datagram is not a probe.</summary>
    public static bool TryParseDatagram(ReadOnlySpan<byte> datagram, out Range nonce) => TryParseDatagram(datagram, out nonce, out _);

    /// <summary>
    /// Parses a probe datagram and its idle request (<paramref name="idleSeconds"/> 0 when there is none; it may be
    /// past <see cref="MaxIdleSeconds"/>, which the listener refuses). Returns false when the datagram is not a probe.
    /// </summary>
    public static bool TryParseDatagram(ReadOnlySpan<byte> datagram, out Range nonce, out int idleSeconds)
    {
        nonce = default;
        idleSeconds = 0;
        if (datagram.Length > MaxDatagramLength || !datagram.StartsWith(ProbePrefix))
        {
            return false;
        }

        var rest = datagram[ProbePrefix.Length..];
        if (rest.EndsWith("\r\n"u8))
        {
            rest = rest[..^2];
        }
        else if (rest.EndsWith("\n"u8))
        {
            rest = rest[..^1];
        }

        var space = rest.IndexOf((byte)' ');
        if (space >= 0)
        {
            var idle = rest[space..];
            if (!idle.StartsWith(IdleToken) || idle.Length == IdleToken.Length || idle.Length > MaxIdleSuffixLength)
            {
                return false;
            }

            foreach (var b in idle[IdleToken.Length..])
            {
                if (b is < (byte)'0' or > (byte)'9')
                {
                    idleSeconds = 0;
                    return false;
                }

                idleSeconds = (idleSeconds * 10) + (b - '0');
            }

            rest = rest[..space];
        }

        if (rest.IsEmpty || rest.Length > MaxNonceLength)
        {
            idleSeconds = 0;
            return false;
        }

        foreach (var b in rest)
        {
            if (!IsNonceByte(b))
            {
                idleSeconds = 0;
                return false;
            }
        }

        nonce = new Range(ProbePrefix.Length, ProbePrefix.Length + rest.Length);
        return true;
    }

    /// <summary>True when <paramref name="data"/> could still turn out to be a probe (a prefix of the probe keyword).</summary>
    public static bool MayBeProbe(ReadOnlySpan<byte> data)
    {
        var n = Math.Min(data.Length, ProbePrefix.Length);
        return data[..n].SequenceEqual(ProbePrefix[..n]);
    }

    public static bool IsNonceByte(byte b) => b is > 0x20 and < 0x7F;

    /// <summary>
    /// Writes the answer line (with its LF) and returns its length: the echo, acknowledging a scheduled callback
    /// when <paramref name="idleScheduled"/> is past 0, or with <paramref name="callback"/> the delayed answer.
    /// </summary>
    public static int FormatEcho(Span<byte> destination, ReadOnlySpan<byte> nonce, ReadOnlySpan<char> listenerId, IPEndPoint local, IPEndPoint peer, int idleScheduled = 0, bool callback = false)
    {
        var written = 0;
        Append(destination, ref written, callback ? CallbackPrefix : EchoPrefix);
        Append(destination, ref written, nonce);
        Append(destination, ref written, " "u8);
        written += Encoding.ASCII.GetBytes(listenerId, destination[written..]);
        Append(destination, ref written, " "u8);
        written += FormatEndPoint(destination[written..], local);
        Append(destination, ref written, " "u8);
        written += FormatEndPoint(destination[written..], peer);
        if (idleScheduled > 0 && !callback)
        {
            Append(destination, ref written, IdleToken);
            idleScheduled.TryFormat(destination[written..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
            written += digits;
        }

        Append(destination, ref written, "\n"u8);
        return written;
    }

    /// <summary>Formats <c>a.b.c.d:port</c> or <c>[v6]:port</c>; IPv4-mapped IPv6 addresses are shown as IPv4.</summary>
    public static int FormatEndPoint(Span<byte> destination, IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        Span<char> chars = stackalloc char[64];
        var n = 0;
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            chars[n++] = '[';
            address.TryFormat(chars[n..], out var w);
            n += w;
            chars[n++] = ']';
        }
        else
        {
            address.TryFormat(chars, out var w);
            n += w;
        }

        chars[n++] = ':';
        endPoint.Port.TryFormat(chars[n..], out var pw);
        n += pw;
        return Encoding.ASCII.GetBytes(chars[..n], destination);
    }

    /// <summary>Parses an answer line (without or with its LF): the echo (with its idle acknowledgement) or the callback.</summary>
    public static bool TryParseEcho(ReadOnlySpan<byte> line, out EchoReply reply)
    {
        reply = default;
        var text = Encoding.ASCII.GetString(line).TrimEnd('\r', '\n');
        var parts = text.Split(' ');
        var callback = parts[0] == "CUCMSIM-IDLE";
        if (parts.Length is not (5 or 6) || !(callback || parts[0] == "CUCMSIM-ECHO") || (callback && parts.Length != 5))
        {
            return false;
        }

        var idle = 0;
        if (parts.Length == 6 && !(parts[5].StartsWith("idle=", StringComparison.Ordinal)
            && int.TryParse(parts[5].AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out idle)))
        {
            return false;
        }

        if (!IPEndPoint.TryParse(parts[3], out var local) || !IPEndPoint.TryParse(parts[4], out var peer))
        {
            return false;
        }

        reply = new EchoReply(parts[1], parts[2], local, peer) { IdleScheduled = idle, IsCallback = callback };
        return true;
    }

    private static void Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(destination[written..]);
        written += bytes.Length;
    }
}

/// <summary>A parsed <c>CUCMSIM-ECHO</c> answer, or <c>CUCMSIM-IDLE</c> callback.</summary>
public readonly record struct EchoReply(string Nonce, string ListenerId, IPEndPoint Local, IPEndPoint PeerAsSeen)
{
    /// <summary>The idle seconds after which the listener will send its callback; 0 when it scheduled none.</summary>
    public int IdleScheduled { get; init; }

    /// <summary>The delayed answer to an idle request, not the echo.</summary>
    public bool IsCallback { get; init; }
}

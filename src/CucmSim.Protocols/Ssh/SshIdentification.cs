using System.Buffers;
using System.Text;

namespace CucmSim.Protocols.Ssh;

/// <summary>An identification string "SSH-protoversion-softwareversion SP comments" (RFC 4253 §4.2), without its CR LF.</summary>
public sealed record SshVersion(string Line, string ProtocolVersion, string Software, string? Comments)
{
    /// <summary>SSH 2.0, or 1.99 (a server that also speaks 1.x, compatible with 2.0).</summary>
    public bool IsVersion2 => ProtocolVersion is "2.0" or "1.99";
}

/// <summary>
/// The identification exchange of RFC 4253 §4.2: one line of at most 255 bytes with its CR LF, starting "SSH-".
/// A server may send other lines before its own (a client skips them, within limits); a client may not.
/// </summary>
public static class SshIdentification
{
    /// <summary>The identification line with its CR LF (RFC 4253 §4.2).</summary>
    public const int MaxLineLength = 255;

    /// <summary>A line a server sends before its identification (client side only).</summary>
    public const int MaxPreambleLineLength = 1024;

    public const int MaxPreambleLines = 64;

    private static ReadOnlySpan<byte> Prefix => "SSH-"u8;

    /// <summary>
    /// Reads the peer's identification. <paramref name="skipPreamble"/> (reading a server) skips lines that do
    /// not start with "SSH-", up to <see cref="MaxPreambleLines"/>; reading a client, anything but "SSH-" is
    /// invalid as soon as it shows. NeedMoreData consumes nothing; Done consumes the preamble and the line.
    /// </summary>
    public static OperationStatus TryRead(ref SequenceReader<byte> reader, bool skipPreamble, out SshVersion? version, out string? error)
    {
        version = null;
        error = null;
        var r = reader;
        Span<byte> head = stackalloc byte[4];
        for (var lines = 0; ; lines++)
        {
            var available = (int)Math.Min(r.Remaining, Prefix.Length);
            r.TryCopyTo(head[..available]);
            var isIdentification = head[..available].SequenceEqual(Prefix[..available]);
            if (!isIdentification && !skipPreamble)
            {
                error = "not an SSH identification string";
                return OperationStatus.InvalidData;
            }

            var limit = available == Prefix.Length && isIdentification ? MaxLineLength : MaxPreambleLineLength;
            var scan = r;
            var found = scan.TryAdvanceTo((byte)'\n', advancePastDelimiter: true);
            if (found ? scan.Consumed - r.Consumed > limit : r.Remaining >= limit)
            {
                error = limit == MaxLineLength ? "identification line longer than 255 bytes" : "server line before the identification longer than 1024 bytes";
                return OperationStatus.InvalidData;
            }

            if (!found)
            {
                return OperationStatus.NeedMoreData;
            }

            var length = (int)(scan.Consumed - r.Consumed);
            if (available == Prefix.Length && isIdentification)
            {
                var bytes = new byte[length];
                r.TryCopyTo(bytes);
                if (!TryParse(bytes, out version, out error))
                {
                    return OperationStatus.InvalidData;
                }

                reader = scan;
                return OperationStatus.Done;
            }

            if (!skipPreamble || lines == MaxPreambleLines)
            {
                error = skipPreamble ? "more than 64 lines before the identification" : "not an SSH identification string";
                return OperationStatus.InvalidData;
            }

            r = scan;
        }
    }

    private static bool TryParse(ReadOnlySpan<byte> bytes, out SshVersion? version, out string? error)
    {
        version = null;
        error = null;
        var line = bytes[..^1];
        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        foreach (var b in line)
        {
            if (b is < 0x20 or >= 0x7F)
            {
                error = "identification string with a control or non-ASCII character";
                return false;
            }
        }

        var text = Encoding.ASCII.GetString(line);
        var dash = text.IndexOf('-', Prefix.Length);
        if (dash < 0)
        {
            error = "identification string without a software version";
            return false;
        }

        var protocol = text[Prefix.Length..dash];
        var rest = text[(dash + 1)..];
        var space = rest.IndexOf(' ', StringComparison.Ordinal);
        var software = space < 0 ? rest : rest[..space];
        if (protocol.Length == 0 || software.Length == 0 || protocol.Contains(' ', StringComparison.Ordinal))
        {
            error = "identification string without a protocol or software version";
            return false;
        }

        version = new SshVersion(text, protocol, software, space < 0 ? null : rest[(space + 1)..]);
        return true;
    }

    /// <summary>This side's identification line with its CR LF.</summary>
    public static byte[] Format(string software, string? comments = null)
    {
        var line = "SSH-2.0-" + software + (comments is null ? string.Empty : " " + comments);
        var bytes = Encoding.ASCII.GetBytes(line + "\r\n");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes.Length, MaxLineLength, nameof(software));
        return bytes;
    }
}

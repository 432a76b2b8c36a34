using System.Buffers;
using System.Net;
using System.Text;

namespace CucmSim.Serve;

internal static class Text
{
    public const int MaxFirstBytes = 64;

    /// <summary>Renders the first bytes that arrived as printable ASCII with \xNN escapes, capped.</summary>
    public static string Escape(ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder(Math.Min(data.Length, MaxFirstBytes) * 2);
        foreach (var b in data[..Math.Min(data.Length, MaxFirstBytes)])
        {
            if (b is >= 0x20 and < 0x7F && b != (byte)'\\')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append(b switch
                {
                    (byte)'\r' => "\\r",
                    (byte)'\n' => "\\n",
                    (byte)'\t' => "\\t",
                    (byte)'\\' => "\\\\",
                    _ => $"\\x{b:x2}",
                });
            }
        }

        return sb.ToString();
    }

    public static string Escape(in ReadOnlySequence<byte> data)
    {
        var n = (int)Math.Min(data.Length, MaxFirstBytes);
        Span<byte> head = stackalloc byte[n];
        data.Slice(0, n).CopyTo(head);
        return Escape(head);
    }

    public static string EndPoint(EndPoint? endPoint)
    {
        if (endPoint is not IPEndPoint ip)
        {
            return endPoint?.ToString() ?? "?";
        }

        Span<byte> buffer = stackalloc byte[64];
        var n = CucmSim.Protocols.Echo.EchoProbe.FormatEndPoint(buffer, ip);
        return Encoding.ASCII.GetString(buffer[..n]);
    }
}

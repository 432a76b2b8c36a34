using System.Security.Cryptography;
using System.Text;

namespace CucmSim.Protocols.Sip;

/// <summary>HTTP digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617 §3.2.2, MD5).</summary>
public static class SipDigest
{
    public const int MaxParameters = 32;

    /// <summary>The request-digest: MD5(HA1:nonce:HA2), or with qop=auth MD5(HA1:nonce:nc:cnonce:qop:HA2).</summary>
    public static string Response(string user, string realm, string password, string method, string uri, string nonce, string? qop = null, string? nc = null, string? cnonce = null)
    {
        var ha1 = Md5Hex($"{user}:{realm}:{password}");
        var ha2 = Md5Hex($"{method}:{uri}");
        return string.IsNullOrEmpty(qop) ? Md5Hex($"{ha1}:{nonce}:{ha2}") : Md5Hex($"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}");
    }

    /// <summary>
    /// The value of an Authorization header that answers <paramref name="challenge"/> (parsed WWW-Authenticate): qop=auth
    /// with <paramref name="nc"/> and <paramref name="cnonce"/> when the challenge offers it, else the RFC 2069 form;
    /// the challenge's opaque returned unchanged (RFC 2617 §3.2.2).
    /// </summary>
    public static string Authorization(IReadOnlyDictionary<string, string> challenge, string user, string password, string method, string uri, string nc, string cnonce)
    {
        var realm = challenge.GetValueOrDefault("realm", string.Empty);
        var nonce = challenge.GetValueOrDefault("nonce", string.Empty);
        var qop = challenge.TryGetValue("qop", out var q) && q.Split(',').Any(x => x.Trim() == "auth") ? "auth" : null;
        var response = Response(user, realm, password, method, uri, nonce, qop, nc, cnonce);
        return $"Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5"
               + (qop is null ? string.Empty : $", qop={qop}, nc={nc}, cnonce=\"{cnonce}\"")
               + (challenge.TryGetValue("opaque", out var opaque) ? $", opaque=\"{opaque}\"" : string.Empty);
    }

    /// <summary>The header a 401 (WWW-Authenticate) or a 407 (Proxy-Authenticate) carries its challenge in; null for another status.</summary>
    public static string? ChallengeHeader(int status) => status switch
    {
        401 => "WWW-Authenticate",
        407 => "Proxy-Authenticate",
        _ => null,
    };

    /// <summary>
    /// The header line, CRLF-ended, that answers the challenge <paramref name="challenge"/> of a 401 (Authorization)
    /// or a 407 (Proxy-Authorization), RFC 3261 §22.2-22.3, with nonce count 1; null for another status or a value
    /// that is not a digest challenge.
    /// </summary>
    public static string? AnswerLine(int status, ReadOnlySpan<byte> challenge, string user, string password, string method, string uri, string cnonce)
    {
        if (ChallengeHeader(status) is null || ParseChallengeOrCredentials(challenge) is not { } parsed)
        {
            return null;
        }

        return (status == 407 ? "Proxy-Authorization: " : "Authorization: ") + Authorization(parsed, user, password, method, uri, "00000001", cnonce) + "\r\n";
    }

    public static string Md5Hex(string text)
    {
        Span<byte> hash = stackalloc byte[16];
#pragma warning disable CA5351 // MD5 is what the digest scheme of RFC 2617 specifies.
        MD5.HashData(Encoding.UTF8.GetBytes(text), hash);
#pragma warning restore CA5351
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Parses `Digest k=v, k="v", ...` (Authorization or WWW-Authenticate); null when not a digest credential.</summary>
    public static Dictionary<string, string>? ParseChallengeOrCredentials(ReadOnlySpan<byte> value)
    {
        var text = Encoding.UTF8.GetString(value).Trim();
        if (!text.StartsWith("Digest", StringComparison.OrdinalIgnoreCase) || text.Length < 7 || !char.IsWhiteSpace(text[6]))
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 7;
        while (i < text.Length)
        {
            while (i < text.Length && (char.IsWhiteSpace(text[i]) || text[i] == ','))
            {
                i++;
            }

            var eq = text.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var name = text[i..eq].Trim();
            i = eq + 1;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            string val;
            if (i < text.Length && text[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    sb.Append(text[i++]);
                }

                i++;
                val = sb.ToString();
            }
            else
            {
                var comma = text.IndexOf(',', i);
                val = (comma < 0 ? text[i..] : text[i..comma]).Trim();
                i = comma < 0 ? text.Length : comma;
            }

            if (result.Count == MaxParameters)
            {
                return null;
            }

            result[name] = val;
        }

        return result;
    }
}

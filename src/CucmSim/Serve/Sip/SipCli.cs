using System.Globalization;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Serve.Sip;

/// <summary>The serve command's SIP options (kept here so the command itself only names them).</summary>
internal static class SipCli
{
    public static readonly string[] ValueOptions = ["sip-realm", "sip-user", "sip-password", "sip-trunk-peer", "sip-server-header", "sip-ring-ms", "sip-max-size"];
    public static readonly string[] FlagOptions = ["sip-cucm-503", "sip-no-mirror", "sip-reply-to-via"];

    public const string Usage = """
  --sip-realm REALM     digest realm of REGISTER challenges (default ccmsipline)
  --sip-user USER:PW    a digest user, repeatable (REGISTER is challenged once any is set)
  --sip-password PW     a password any user name may register with
  --sip-cucm-503        answer peers that are neither trunks nor registered like CUCM: 503 "Unable to find
                        a device handler" (what nmap -sV identifies as Cisco Unified Communications Manager)
  --sip-trunk-peer A    an address treated as a configured trunk with --sip-cucm-503, repeatable
  --sip-server-header S Server header (default Cisco-CUCM<major.minor>; '' for none)
  --sip-no-mirror       leave the X-CucmSim-Mirror header out of responses
  --sip-ring-ms N       wait N ms between 180 Ringing and 200 OK (default 0)
  --sip-max-size BYTES  largest SIP message accepted (default 65536)
  --sip-reply-to-via    UDP responses to the Via sent-by port unless rport (RFC 3261 §18.2.2); default: source port
""";

    public static SipOptions Parse(Args args, List<string> errors)
    {
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var u in args.Values("sip-user"))
        {
            var colon = u.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                errors.Add($"--sip-user {u}: write USER:PASSWORD");
                continue;
            }

            users[u[..colon]] = u[(colon + 1)..];
        }

        var trunks = new List<IPAddress>();
        foreach (var t in args.Values("sip-trunk-peer"))
        {
            if (IPAddress.TryParse(t, out var a))
            {
                trunks.Add(a);
            }
            else
            {
                errors.Add($"--sip-trunk-peer {t}: not an IP address");
            }
        }

        var defaults = new SipOptions();
        return new SipOptions
        {
            Realm = args.Value("sip-realm") ?? defaults.Realm,
            Users = users,
            Password = args.Value("sip-password"),
            UnknownPeer503 = args.Flag("sip-cucm-503"),
            TrunkPeers = trunks,
            ServerHeader = args.Value("sip-server-header"),
            Mirror = !args.Flag("sip-no-mirror"),
            RingDelay = TimeSpan.FromMilliseconds(Int(args, "sip-ring-ms", 0, 0, 600_000, errors)),
            MaxMessageSize = Int(args, "sip-max-size", defaults.MaxMessageSize, 1024, 1 << 20, errors),
            ReplyToSourcePort = !args.Flag("sip-reply-to-via"),
        };
    }

    private static int Int(Args args, string name, int fallback, int min, int max, List<string> errors)
    {
        if (args.Value(name) is not { } text)
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add($"--{name} {text}: a number from {min} to {max}");
        return fallback;
    }
}

using System.Globalization;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Serve.Snmp;

/// <summary>The serve command's SNMP options, parsed into one <see cref="SnmpOptions"/>.</summary>
internal static class SnmpCli
{
    public const string Usage = """
          --snmp-community C    read-only v1/v2c community, repeatable (default public; 'none' answers no community)
          --snmp-sys-descr T    sysDescr (default: a CUCM-shaped 'Hardware:..., Software:UCOS ...')
          --snmp-sys-contact T  sysContact     --snmp-sys-name T  sysName (default: host name)
          --snmp-sys-location T sysLocation    --snmp-sys-services N  sysServices (default 72)
          --snmp-user U         SNMPv3 user NAME | NAME:SHA|SHA-256:AUTHPASS | NAME:SHA|SHA-256:AUTHPASS:AES:PRIVPASS, repeatable
          --snmp-engine-id HEX  snmpEngineID (default: Cisco enterprise MAC format derived from the host name)
          --snmp-trap HOST[:P]  send traps (v2c) to this receiver, repeatable (port 162 unless given)
          --snmp-trap-community C   community of the traps (default public)
          --snmp-phone-traps    send ccmPhoneStatusUpdate when devices register or unregister
          --snmp-no-coldstart   do not send coldStart at start
          --snmp-max-amplification N  unauthenticated answers at most N times the request or the floor (default 3; 0 = off)
          --snmp-amplification-floor B  bytes an unauthenticated answer may always use (default 256; 0 = strictly N times)
        """;

    public static readonly string[] ValueOptions =
        ["snmp-community", "snmp-sys-descr", "snmp-sys-contact", "snmp-sys-name", "snmp-sys-location", "snmp-sys-services", "snmp-user",
         "snmp-engine-id", "snmp-trap", "snmp-trap-community", "snmp-max-amplification", "snmp-amplification-floor"];

    public static readonly string[] FlagOptions = ["snmp-phone-traps", "snmp-no-coldstart"];

    public static SnmpOptions Parse(Args args, List<string> errors)
    {
        var d = new SnmpOptions();
        var users = new List<SnmpUser>();
        foreach (var u in args.Values("snmp-user"))
        {
            try
            {
                users.Add(SnmpUser.Parse(u));
            }
            catch (FormatException ex)
            {
                errors.Add($"--snmp-user {u.Split(':')[0]}:...: {ex.Message}");
            }
        }

        if (args.Value("snmp-engine-id") is { } hex && (hex.Length is < 10 or > 64 || hex.Length % 2 != 0 || !hex.All(Uri.IsHexDigit)))
        {
            errors.Add($"--snmp-engine-id {hex}: 5 to 32 bytes in hex (RFC 3411 SnmpEngineID)");
        }

        foreach (var t in args.Values("snmp-trap"))
        {
            var colon = t.LastIndexOf(':');
            var portText = colon > 0 && !IPAddress.TryParse(t, out _) ? t[(colon + 1)..] : null;
            if (t.Length == 0 || (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)))
            {
                errors.Add($"--snmp-trap {t}: write HOST or HOST:PORT");
            }
        }

        var communities = args.Values("snmp-community");
        return d with
        {
            Communities = communities.Count == 0 ? d.Communities : communities.Where(c => c != "none").ToList(),
            SysDescr = args.Value("snmp-sys-descr") ?? d.SysDescr,
            SysContact = args.Value("snmp-sys-contact") ?? d.SysContact,
            SysName = args.Value("snmp-sys-name"),
            SysLocation = args.Value("snmp-sys-location") ?? d.SysLocation,
            SysServices = Int(args, "snmp-sys-services", d.SysServices, 0, 127, errors),
            Users = users,
            EngineId = args.Value("snmp-engine-id"),
            TrapReceivers = args.Values("snmp-trap"),
            TrapCommunity = args.Value("snmp-trap-community") ?? d.TrapCommunity,
            PhoneStatusTraps = args.Flag("snmp-phone-traps"),
            ColdStartTrap = !args.Flag("snmp-no-coldstart"),
            MaxAmplification = Int(args, "snmp-max-amplification", d.MaxAmplification, 0, 1000, errors),
            AmplificationFloor = Int(args, "snmp-amplification-floor", d.AmplificationFloor, 0, 65507, errors),
        };
    }

    private static int Int(Args args, string name, int fallback, int min, int max, List<string> errors)
    {
        if (args.Value(name) is not { } text)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
        {
            errors.Add($"--{name} {text}: a whole number from {min} to {max}");
            return fallback;
        }

        return v;
    }
}

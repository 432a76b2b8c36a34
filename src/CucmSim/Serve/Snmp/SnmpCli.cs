using System.CommandLine;
using System.Globalization;
using System.Net;
using CucmSim.Cli;

namespace CucmSim.Serve.Snmp;

/// <summary>The serve command's SNMP options, each declared once with what it sets in <see cref="SnmpOptions"/>.</summary>
internal static class SnmpCli
{
    public static void Declare(Declared<SnmpOptions> o)
    {
        var d = new SnmpOptions();
        o.Add(new Option<string[]>("--snmp-community") { HelpName = "C", Description = "read-only v1/v2c community, repeatable ('none' answers no community)", DefaultValueFactory = _ => [.. d.Communities] }.Repeatable(),
            (s, v) => s with { Communities = v.Where(c => c != "none").ToList() });
        o.Add(new Option<string>("--snmp-sys-descr") { HelpName = "TEXT", Description = "sysDescr (default: a CUCM-shaped 'Hardware:..., Software:UCOS ...')" }.LastWins(),
            (s, v) => s with { SysDescr = v });
        o.Add(new Option<string>("--snmp-sys-contact") { HelpName = "TEXT", Description = "sysContact" }.LastWins(),
            (s, v) => s with { SysContact = v });
        o.Add(new Option<string?>("--snmp-sys-name") { HelpName = "TEXT", Description = "sysName (default: the host name)" }.Optional(),
            (s, v) => s with { SysName = v });
        o.Add(new Option<string>("--snmp-sys-location") { HelpName = "TEXT", Description = "sysLocation" }.LastWins(),
            (s, v) => s with { SysLocation = v });
        o.Add(new Option<int>("--snmp-sys-services") { HelpName = "N", Description = "sysServices", DefaultValueFactory = _ => d.SysServices }.Whole(0, 127),
            (s, v) => s with { SysServices = v });
        o.Add(new Option<SnmpUser[]>("--snmp-user") { HelpName = "USER", Description = "SNMPv3 user NAME | NAME:SHA|SHA-256:AUTHPASS | NAME:SHA|SHA-256:AUTHPASS:AES:PRIVPASS, repeatable" }.Repeatable<SnmpUser>(User, text => text.Split(':')[0] + ":..."),
            (s, v) => s with { Users = v });
        o.Add(new Option<string?>("--snmp-engine-id") { HelpName = "HEX", Description = "snmpEngineID (default: Cisco enterprise MAC format derived from the host name)" }.LastWins(EngineId),
            (s, v) => s with { EngineId = v });
        o.Add(new Option<string[]>("--snmp-trap") { HelpName = "HOST[:PORT]", Description = "send traps (v2c) to this receiver, repeatable (port 162 unless given)" }.Repeatable<string>(Receiver),
            (s, v) => s with { TrapReceivers = v });
        o.Add(new Option<string>("--snmp-trap-community") { HelpName = "C", Description = "community of the traps", DefaultValueFactory = _ => d.TrapCommunity }.LastWins(),
            (s, v) => s with { TrapCommunity = v });
        o.Add(new Option<bool>("--snmp-phone-traps") { Description = "send ccmPhoneStatusUpdate when devices register or unregister" },
            (s, v) => s with { PhoneStatusTraps = v });
        o.Add(new Option<bool>("--snmp-no-coldstart") { Description = "do not send coldStart at start" },
            (s, v) => s with { ColdStartTrap = !v });
        o.Add(new Option<int>("--snmp-max-amplification") { HelpName = "N", Description = "unauthenticated answers at most N times the request or the floor (0 = off)", DefaultValueFactory = _ => d.MaxAmplification }.Whole(0, 1000),
            (s, v) => s with { MaxAmplification = v });
        o.Add(new Option<int>("--snmp-amplification-floor") { HelpName = "BYTES", Description = "bytes an unauthenticated answer may always use (0 = strictly N times)", DefaultValueFactory = _ => d.AmplificationFloor }.Whole(0, 65507),
            (s, v) => s with { AmplificationFloor = v });
    }

    private static string? User(string text, out SnmpUser value)
    {
        try
        {
            value = SnmpUser.Parse(text);
            return null;
        }
        catch (FormatException ex)
        {
            value = new SnmpUser(string.Empty);
            return ex.Message;
        }
    }

    private static string? EngineId(string text, out string? value)
    {
        value = text;
        return text.Length is < 10 or > 64 || text.Length % 2 != 0 || !text.All(Uri.IsHexDigit) ? "5 to 32 bytes in hex (RFC 3411 SnmpEngineID)" : null;
    }

    private static string? Receiver(string text, out string value)
    {
        value = text;
        var colon = text.LastIndexOf(':');
        var portText = colon > 0 && !IPAddress.TryParse(text, out _) ? text[(colon + 1)..] : null;
        return text.Length == 0 || (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535))
            ? "write HOST or HOST:PORT"
            : null;
    }
}

using System.Globalization;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Serve.Snmp;

/// <summary>Settings of the SNMP agent (udp/161) and of the traps it sends (udp/162).</summary>
public sealed record SnmpOptions
{
    /// <summary>A real CUCM's sysDescr shape (UCOS agent): inventory tools key on "Software:UCOS".</summary>
    public const string DefaultSysDescr = "Hardware:VMware, 2 Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz, 8192 MB Memory: Software:UCOS 14.0.0.0-1";

    /// <summary>ciscoUCVirtualMachine, what LibreNMS and Observium match for CUCM.</summary>
    public const string DefaultSysObjectId = "1.3.6.1.4.1.9.1.1348";

    /// <summary>Read-only communities (v1, v2c). Empty: v1 and v2c get no answer at all.</summary>
    public IReadOnlyList<string> Communities { get; init; } = ["public"];

    public string SysDescr { get; init; } = DefaultSysDescr;
    public string SysObjectId { get; init; } = DefaultSysObjectId;
    public string SysContact { get; init; } = string.Empty;

    /// <summary>Null: the node's host name.</summary>
    public string? SysName { get; init; }

    public string SysLocation { get; init; } = string.Empty;

    /// <summary>RFC 3418 sysServices: 72 = application (64) + end-to-end (8), what hosts report.</summary>
    public int SysServices { get; init; } = 72;

    /// <summary>SNMPv3 USM users.</summary>
    public IReadOnlyList<SnmpUser> Users { get; init; } = [];

    /// <summary>snmpEngineID as hex; null derives one in the Cisco enterprise MAC format (80 00 00 09 03 + 6 bytes) from the host name.</summary>
    public string? EngineId { get; init; }

    /// <summary>snmpEngineBoots reported (RFC 3414 §2.2.1).</summary>
    public int EngineBoots { get; init; } = 1;

    /// <summary>Trap receivers, host or host:port (port 162 when omitted).</summary>
    public IReadOnlyList<string> TrapReceivers { get; init; } = [];

    public string TrapCommunity { get; init; } = "public";

    /// <summary>Send coldStart to the receivers when the agent starts.</summary>
    public bool ColdStartTrap { get; init; } = true;

    /// <summary>Send ccmPhoneStatusUpdate when a device registers or unregisters.</summary>
    public bool PhoneStatusTraps { get; init; }

    /// <summary>An unauthenticated response is at most this many times its request (0: no limit)...</summary>
    public int MaxAmplification { get; init; } = 3;

    /// <summary>...or this many bytes, whichever is larger (a sysDescr answer must fit a minimal request).</summary>
    public int AmplificationFloor { get; init; } = 256;

    /// <summary>GetBulk max-repetitions is capped here (RFC 3416 §4.2.3 lets an agent return fewer).</summary>
    public int MaxRepetitions { get; init; } = 64;

    /// <summary>Largest response the agent sends, whatever the request allows.</summary>
    public int MaxResponseSize { get; init; } = 65507;
}

/// <summary>A USM user (RFC 3414): level noAuthNoPriv, authNoPriv or authPriv by which protocols are set.</summary>
public sealed record SnmpUser(string Name, SnmpAuth Auth = SnmpAuth.None, string? AuthPassword = null, SnmpPriv Priv = SnmpPriv.None, string? PrivPassword = null)
{
    /// <summary>Parses NAME, NAME:SHA|SHA-256:AUTHPASS or NAME:SHA|SHA-256:AUTHPASS:AES:PRIVPASS.</summary>
    public static SnmpUser Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts[0].Length is 0 or > SnmpLimits.MaxUserNameLength)
        {
            throw new FormatException($"user name of 1 to {SnmpLimits.MaxUserNameLength} characters expected");
        }

        if (parts.Length == 1)
        {
            return new SnmpUser(parts[0]);
        }

        if (parts.Length is not (3 or 5))
        {
            throw new FormatException("write NAME, NAME:SHA:AUTHPASS or NAME:SHA:AUTHPASS:AES:PRIVPASS");
        }

        var auth = parts[1].ToUpperInvariant() switch
        {
            "SHA" or "SHA1" or "SHA-1" => SnmpAuth.Sha1,
            "SHA256" or "SHA-256" => SnmpAuth.Sha256,
            _ => throw new FormatException($"authentication protocol {parts[1]}: SHA or SHA-256"),
        };
        CheckPassword(parts[2]);
        if (parts.Length == 3)
        {
            return new SnmpUser(parts[0], auth, parts[2]);
        }

        if (!parts[3].Equals("AES", StringComparison.OrdinalIgnoreCase) && !parts[3].Equals("AES128", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"privacy protocol {parts[3]}: AES");
        }

        CheckPassword(parts[4]);
        return new SnmpUser(parts[0], auth, parts[2], SnmpPriv.Aes128, parts[4]);
    }

    private static void CheckPassword(string password)
    {
        // RFC 3414 §11.2: passwords shorter than 8 characters are rejected (net-snmp does the same).
        if (password.Length < 8)
        {
            throw new FormatException("passwords need at least 8 characters");
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({Auth}/{Priv})");
}

using System.Buffers.Binary;
using System.Globalization;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Serve.Snmp;

/// <summary>The objects the agent serves: SNMPv2-MIB system and snmp groups, the snmpEngine group, USM stats, IF-MIB and a CISCO-CCM-MIB subset.</summary>
internal static class SnmpMibBuilder
{
    public static readonly uint[] SysUpTime0 = Ber.ParseOid("1.3.6.1.2.1.1.3.0");
    public static readonly uint[] SnmpTrapOid0 = Ber.ParseOid("1.3.6.1.6.3.1.1.4.1.0");
    public static readonly uint[] ColdStart = Ber.ParseOid("1.3.6.1.6.3.1.1.5.1");

    /// <summary>CISCO-CCM-MIB ccmPhoneStatusUpdate notification (ciscoCcmMIB.2.0.3).</summary>
    public static readonly uint[] CcmPhoneStatusUpdate = Ber.ParseOid("1.3.6.1.4.1.9.9.156.2.0.3");

    public const string CcmMib = "1.3.6.1.4.1.9.9.156";
    public const string CcmPhoneEntry = CcmMib + ".1.2.1.1";

    // RFC 3414 §5 usmStats
    public static readonly uint[] UsmStatsUnsupportedSecLevels = Ber.ParseOid("1.3.6.1.6.3.15.1.1.1.0");
    public static readonly uint[] UsmStatsNotInTimeWindows = Ber.ParseOid("1.3.6.1.6.3.15.1.1.2.0");
    public static readonly uint[] UsmStatsUnknownUserNames = Ber.ParseOid("1.3.6.1.6.3.15.1.1.3.0");
    public static readonly uint[] UsmStatsUnknownEngineIds = Ber.ParseOid("1.3.6.1.6.3.15.1.1.4.0");
    public static readonly uint[] UsmStatsWrongDigests = Ber.ParseOid("1.3.6.1.6.3.15.1.1.5.0");
    public static readonly uint[] UsmStatsDecryptionErrors = Ber.ParseOid("1.3.6.1.6.3.15.1.1.6.0");

    /// <summary>Objects that do not depend on registered devices.</summary>
    public static List<MibEntry> Base(SnmpAgent agent, SnmpOptions options, ServeContext context)
    {
        var e = new List<MibEntry>();
        void Add(string oid, SnmpValue value) => e.Add(new MibEntry(Ber.ParseOid(oid), value));
        void Live(string oid, byte type, Func<SnmpValue> get) => e.Add(new MibEntry(Ber.ParseOid(oid), type, get));

        // SNMPv2-MIB system group (RFC 3418 §2).
        Add("1.3.6.1.2.1.1.1.0", SnmpValue.OctetString(options.SysDescr));
        Add("1.3.6.1.2.1.1.2.0", SnmpValue.ObjectId(Ber.ParseOid(options.SysObjectId)));
        Live("1.3.6.1.2.1.1.3.0", BerTag.TimeTicks, () => SnmpValue.TimeTicks(agent.UpTimeTicks));
        Add("1.3.6.1.2.1.1.4.0", SnmpValue.OctetString(options.SysContact));
        Add("1.3.6.1.2.1.1.5.0", SnmpValue.OctetString(options.SysName ?? context.Identity.HostName));
        Add("1.3.6.1.2.1.1.6.0", SnmpValue.OctetString(options.SysLocation));
        Add("1.3.6.1.2.1.1.7.0", SnmpValue.Integer(options.SysServices));
        Add("1.3.6.1.2.1.1.8.0", SnmpValue.TimeTicks(0));

        // sysORTable (RFC 3418 §2): the MIB modules this agent implements.
        (string Id, string Descr)[] modules =
        [
            ("1.3.6.1.6.3.1", "The MIB module for SNMP entities (SNMPv2-MIB)"),
            ("1.3.6.1.2.1.31", "The MIB module to describe generic objects for network interface sub-layers (IF-MIB)"),
            ("1.3.6.1.6.3.10.3.1.1", "The SNMP Management Architecture MIB (SNMP-FRAMEWORK-MIB)"),
            ("1.3.6.1.6.3.15.2.1.1", "The management information definitions for the SNMP User-based Security Model"),
            ("1.3.6.1.4.1.9.9.156", "The MIB module for Cisco Unified Communications Manager (CISCO-CCM-MIB)"),
        ];
        for (var i = 0; i < modules.Length; i++)
        {
            var row = (i + 1).ToString(CultureInfo.InvariantCulture);
            Add("1.3.6.1.2.1.1.9.1.2." + row, SnmpValue.ObjectId(Ber.ParseOid(modules[i].Id)));
            Add("1.3.6.1.2.1.1.9.1.3." + row, SnmpValue.OctetString(modules[i].Descr));
            Add("1.3.6.1.2.1.1.9.1.4." + row, SnmpValue.TimeTicks(0));
        }

        AddInterfaces(e);

        // SNMPv2-MIB snmp group (RFC 3418 §2): the agent's own counters.
        var c = agent.Counters;
        Live("1.3.6.1.2.1.11.1.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.InPkts)));
        Live("1.3.6.1.2.1.11.2.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.OutPkts)));
        Live("1.3.6.1.2.1.11.3.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.InBadVersions)));
        Live("1.3.6.1.2.1.11.4.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.InBadCommunityNames)));
        Live("1.3.6.1.2.1.11.5.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.InBadCommunityUses)));
        Live("1.3.6.1.2.1.11.6.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.InAsnParseErrs)));
        Add("1.3.6.1.2.1.11.30.0", SnmpValue.Integer(2));
        Live("1.3.6.1.2.1.11.31.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.SilentDrops)));
        Add("1.3.6.1.2.1.11.32.0", SnmpValue.Counter32(0));

        // SNMP-FRAMEWORK-MIB snmpEngine group (RFC 3411 §5).
        Add("1.3.6.1.6.3.10.2.1.1.0", SnmpValue.OctetString(agent.EngineId));
        Add("1.3.6.1.6.3.10.2.1.2.0", SnmpValue.Integer(agent.EngineBoots));
        Live("1.3.6.1.6.3.10.2.1.3.0", BerTag.Integer, () => SnmpValue.Integer(agent.EngineTime));
        Add("1.3.6.1.6.3.10.2.1.4.0", SnmpValue.Integer(options.MaxResponseSize));

        // SNMP-USER-BASED-SM-MIB usmStats (RFC 3414 §5).
        Live("1.3.6.1.6.3.15.1.1.1.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.UnsupportedSecLevels)));
        Live("1.3.6.1.6.3.15.1.1.2.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.NotInTimeWindows)));
        Live("1.3.6.1.6.3.15.1.1.3.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.UnknownUserNames)));
        Live("1.3.6.1.6.3.15.1.1.4.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.UnknownEngineIds)));
        Live("1.3.6.1.6.3.15.1.1.5.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.WrongDigests)));
        Live("1.3.6.1.6.3.15.1.1.6.0", BerTag.Counter32, () => SnmpValue.Counter32((uint)Interlocked.Read(ref c.DecryptionErrors)));

        // CISCO-CCM-MIB ccmTable: this node, index 1.
        var node = CcmMib + ".1.1.2.1";
        Add(node + ".2.1", SnmpValue.OctetString(context.Identity.HostName));
        Add(node + ".3.1", SnmpValue.OctetString("CM_" + context.Identity.HostName));
        Add(node + ".4.1", SnmpValue.OctetString(Truncate(context.Identity.Version, 24)));
        Add(node + ".5.1", SnmpValue.Integer(2));
        var address = context.ExternalAddress;
        Add(node + ".6.1", SnmpValue.Integer(address.AddressFamily == AddressFamily.InterNetworkV6 ? 2 : 1));
        Add(node + ".7.1", SnmpValue.OctetString(address.IsIPv4MappedToIPv6 ? address.MapToIPv4().GetAddressBytes() : address.GetAddressBytes()));
        Add(node + ".8.1", SnmpValue.OctetString("StandAloneCluster"));

        // CISCO-CCM-MIB ccmGlobalInfo: live registration counters from the SCCP and SIP registries.
        var devices = context.Devices;
        var global = CcmMib + ".1.5";
        Live(global + ".5.0", BerTag.Gauge32, () => SnmpValue.Gauge32((uint)devices.Count));
        Live(global + ".6.0", BerTag.Gauge32, () => SnmpValue.Gauge32((uint)devices.Unregistrations));
        Live(global + ".7.0", BerTag.Gauge32, () => SnmpValue.Gauge32((uint)devices.Rejections));
        for (var i = 8; i <= 19; i++)
        {
            Add(global + "." + i.ToString(CultureInfo.InvariantCulture) + ".0", SnmpValue.Gauge32(0));
        }

        Add(global + ".20.0", SnmpValue.OctetString(DateAndTime(context.Time.GetUtcNow())));
        Add(global + ".29.0", SnmpValue.OctetString(Truncate(context.Identity.Version, 24)));
        Add(global + ".31.0", SnmpValue.Gauge32(0));
        return e;
    }

    /// <summary>ccmPhoneTable rows for the registered devices (CISCO-CCM-MIB ccmPhoneEntry).</summary>
    public static IEnumerable<MibEntry> Phones(IReadOnlyList<DeviceRecord> devices, Func<string, uint> indexOf)
    {
        foreach (var d in devices)
        {
            var p = indexOf(d.Name);
            MibEntry Col(uint column, SnmpValue value) => new(Ber.ParseOid(string.Create(CultureInfo.InvariantCulture, $"{CcmPhoneEntry}.{column}.{p}")), value);
            yield return Col(2, SnmpValue.OctetString(MacOf(d.Name)));
            yield return Col(4, SnmpValue.OctetString(d.Type));
            yield return Col(5, SnmpValue.OctetString(string.Empty));
            yield return Col(7, SnmpValue.Integer(2));
            yield return Col(8, SnmpValue.OctetString(DateAndTime(d.Since)));
            yield return Col(10, SnmpValue.OctetString(string.Empty));
            var seen = HostOf(d.SeenAddress);
            yield return Col(14, SnmpValue.Integer(seen.Length == 16 ? 2 : 1));
            yield return Col(15, SnmpValue.OctetString(seen));
            yield return Col(16, SnmpValue.Integer(0));
            yield return Col(19, SnmpValue.Integer(ProtocolOf(d.Protocol)));
            yield return Col(20, SnmpValue.OctetString(d.Name));
        }
    }

    /// <summary>CcmDevRegProtocol (unknown 1, sccp 2, sip 3).</summary>
    public static int ProtocolOf(string protocol) => protocol.StartsWith("sccp", StringComparison.OrdinalIgnoreCase) ? 2 : protocol.StartsWith("sip", StringComparison.OrdinalIgnoreCase) ? 3 : 1;

    /// <summary>RFC 2579 DateAndTime, 11 octets with the UTC offset.</summary>
    public static byte[] DateAndTime(DateTimeOffset t)
    {
        var u = t.UtcDateTime;
        var b = new byte[11];
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)u.Year);
        b[2] = (byte)u.Month;
        b[3] = (byte)u.Day;
        b[4] = (byte)u.Hour;
        b[5] = (byte)u.Minute;
        b[6] = (byte)u.Second;
        b[7] = (byte)(u.Millisecond / 100);
        b[8] = (byte)'+';
        return b;
    }

    private static byte[] MacOf(string name)
    {
        // Cisco device names are SEP/ATA/... followed by the 12 hex digits of the MAC.
        var mac = new byte[6];
        if (name.Length >= 12 && Convert.FromHexString(name.AsSpan(name.Length - 12), mac, out _, out var written) == System.Buffers.OperationStatus.Done && written == 6)
        {
            return mac;
        }

        return [];
    }

    private static byte[] HostOf(string endpoint)
    {
        if (System.Net.IPEndPoint.TryParse(endpoint, out var ep))
        {
            var a = ep.Address.IsIPv4MappedToIPv6 ? ep.Address.MapToIPv4() : ep.Address;
            return a.GetAddressBytes();
        }

        return [];
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    private static void AddInterfaces(List<MibEntry> e)
    {
        NetworkInterface[] nics;
        try
        {
            nics = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            nics = [];
        }

        // IF-MIB (RFC 2863): ifNumber and the ifTable columns a poller reads.
        e.Add(new MibEntry(Ber.ParseOid("1.3.6.1.2.1.2.1.0"), SnmpValue.Integer(nics.Length)));
        for (var i = 0; i < nics.Length; i++)
        {
            var nic = nics[i];
            var index = (uint)(i + 1);
            MibEntry Col(uint column, SnmpValue value) => new(Ber.ParseOid(string.Create(CultureInfo.InvariantCulture, $"1.3.6.1.2.1.2.2.1.{column}.{index}")), value);
            MibEntry LiveCol(uint column, Func<SnmpValue> get) => new(Ber.ParseOid(string.Create(CultureInfo.InvariantCulture, $"1.3.6.1.2.1.2.2.1.{column}.{index}")), BerTag.Counter32, get);
            var loopback = nic.NetworkInterfaceType == NetworkInterfaceType.Loopback;
            int mtu = 1500;
            long speed = 0;
            byte[] mac = [];
            try
            {
                mtu = nic.GetIPProperties().GetIPv4Properties()?.Mtu ?? mtu;
                speed = nic.Speed;
                mac = nic.GetPhysicalAddress().GetAddressBytes();
            }
            catch (Exception ex) when (ex is NetworkInformationException or PlatformNotSupportedException or InvalidOperationException)
            {
            }

            e.Add(Col(1, SnmpValue.Integer((int)index)));
            e.Add(Col(2, SnmpValue.OctetString(Encoding.ASCII.GetBytes(nic.Name))));
            e.Add(Col(3, SnmpValue.Integer(loopback ? 24 : nic.NetworkInterfaceType == NetworkInterfaceType.Ethernet ? 6 : 1)));
            e.Add(Col(4, SnmpValue.Integer(mtu)));
            e.Add(Col(5, SnmpValue.Gauge32(speed is > 0 and < uint.MaxValue ? (uint)speed : speed >= uint.MaxValue ? uint.MaxValue : 0)));
            e.Add(Col(6, SnmpValue.OctetString(mac)));
            e.Add(Col(7, SnmpValue.Integer(1)));
            e.Add(Col(8, SnmpValue.Integer(nic.OperationalStatus == OperationalStatus.Up || loopback ? 1 : 2)));
            e.Add(Col(9, SnmpValue.TimeTicks(0)));
            e.Add(LiveCol(10, () => SnmpValue.Counter32(Stat(nic, s => s.BytesReceived))));
            e.Add(LiveCol(11, () => SnmpValue.Counter32(Stat(nic, s => s.UnicastPacketsReceived))));
            e.Add(LiveCol(16, () => SnmpValue.Counter32(Stat(nic, s => s.BytesSent))));
            e.Add(LiveCol(17, () => SnmpValue.Counter32(Stat(nic, s => s.UnicastPacketsSent))));
        }
    }

    private static uint Stat(NetworkInterface nic, Func<IPInterfaceStatistics, long> pick)
    {
        try
        {
            // Counter32 wraps (RFC 2578 §7.1.6).
            return unchecked((uint)pick(nic.GetIPStatistics()));
        }
        catch (Exception ex) when (ex is NetworkInformationException or PlatformNotSupportedException)
        {
            return 0;
        }
    }
}

using System.Globalization;
using System.Net;
using System.Text;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// Generated provisioning files: SEP&lt;MAC&gt;.cnf.xml (SIP or SCCP flavour), XMLDefault.cnf.xml and
/// ConfigFileCacheList.txt. Element names and nesting follow a CUCM-generated config and chan-sccp's
/// annotated template (protocols.md §3.5). Every address in them is the one the request reached (or --external-address), and a
/// comment names the requester as this node saw it, so a client can tell whether a NAT sat in between.
/// </summary>
public static class PhoneConfig
{
    public const string DefaultConfigName = "XMLDefault.cnf.xml";
    public const string CacheListName = "ConfigFileCacheList.txt";

    /// <summary>The device name of "SEP001122334455.cnf.xml" (any case), upper-cased; null for other names.</summary>
    public static string? DeviceName(string fileName)
    {
        const string suffix = ".cnf.xml";
        if (fileName.Length != 3 + 12 + suffix.Length ||
            !fileName.StartsWith("SEP", StringComparison.OrdinalIgnoreCase) ||
            !fileName.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var mac = fileName.AsSpan(3, 12);
        foreach (var c in mac)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return null;
            }
        }

        return "SEP" + mac.ToString().ToUpperInvariant();
    }

    public static string DeviceConfig(string deviceName, bool sip, ProvisioningPorts ports, IPAddress external, string requester, string channel)
    {
        var address = external.ToString();
        var sb = new StringBuilder(3072);
        sb.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Comment(sb, deviceName, address, requester, channel);
        sb.Append("<device>\n");
        sb.Append("  <fullConfig>true</fullConfig>\n");
        sb.Append("  <deviceProtocol>").Append(sip ? "SIP" : "SCCP").Append("</deviceProtocol>\n");
        sb.Append("  <sshUserId></sshUserId>\n  <sshPassword></sshPassword>\n");
        DevicePool(sb, ports, address);
        Tvs(sb, ports, address);
        if (ports.Capf is { } capf)
        {
            sb.Append("  <capfAuthMode>0</capfAuthMode>\n");
            sb.Append("  <capfList>\n    <capf>\n      <phonePort>").Append(Port(capf)).Append("</phonePort>\n      <processNodeName>")
              .Append(address).Append("</processNodeName>\n    </capf>\n  </capfList>\n");
        }

        if (sip)
        {
            SipProfile(sb, ports, deviceName);
        }

        sb.Append("  <loadInformation></loadInformation>\n");
        ServiceUrls(sb, ports, address);
        if (sip)
        {
            // usecallmanager: 1 TCP, 2 UDP, 3 TLS.
            sb.Append("  <transportLayerProtocol>2</transportLayerProtocol>\n");
        }

        sb.Append("  <deviceSecurityMode>1</deviceSecurityMode>\n");
        sb.Append("</device>\n");
        return sb.ToString();
    }

    /// <summary>XMLDefault.cnf.xml: root &lt;Default&gt; with the call manager group and TVS (chan-sccp conf/tftp).</summary>
    public static string DefaultConfig(ProvisioningPorts ports, IPAddress external, string requester, string channel)
    {
        var address = external.ToString();
        var sb = new StringBuilder(2048);
        sb.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Comment(sb, DefaultConfigName, address, requester, channel);
        sb.Append("<Default>\n");
        CallManagerGroup(sb, ports, address, "  ");
        Tvs(sb, ports, address);
        sb.Append("  <loadInformation30018 model=\"IP Phone 7961\"></loadInformation30018>\n");
        sb.Append("  <loadInformation434 model=\"Cisco 7942\"></loadInformation434>\n");
        sb.Append("  <loadInformation36670 model=\"Cisco 8845\"></loadInformation36670>\n");
        sb.Append("  <authenticationURL></authenticationURL>\n");
        sb.Append("  <directoryURL></directoryURL>\n");
        sb.Append("  <idleURL></idleURL>\n");
        sb.Append("  <informationURL></informationURL>\n");
        sb.Append("  <messagesURL></messagesURL>\n");
        sb.Append("  <servicesURL></servicesURL>\n");
        sb.Append("</Default>\n");
        return sb.ToString();
    }

    /// <summary>ConfigFileCacheList.txt: the names the TFTP service can serve, one per line.</summary>
    public static string CacheList(IEnumerable<string> names) => string.Concat(names.Select(n => n + "\n"));

    private static void Comment(StringBuilder sb, string name, string address, string requester, string channel) =>
        sb.Append("<!-- cucmsim ").Append(name).Append(": served to ").Append(requester).Append(" over ").Append(channel)
          .Append("; the address inside is ").Append(address).Append(" -->\n");

    private static void DevicePool(StringBuilder sb, ProvisioningPorts ports, string address)
    {
        sb.Append("  <devicePool>\n");
        sb.Append("    <revertPriority>0</revertPriority>\n");
        sb.Append("    <name>Default</name>\n");
        sb.Append("    <dateTimeSetting>\n");
        sb.Append("      <name>CMLocal</name>\n");
        sb.Append("      <dateTemplate>M/D/YA</dateTemplate>\n");
        sb.Append("      <timeZone>Central Standard/Daylight Time</timeZone>\n");
        sb.Append("      <ntps>\n        <ntp>\n          <name>").Append(address).Append("</name>\n          <ntpMode>Unicast</ntpMode>\n        </ntp>\n      </ntps>\n");
        sb.Append("    </dateTimeSetting>\n");
        CallManagerGroup(sb, ports, address, "    ");
        sb.Append("  </devicePool>\n");
    }

    private static void CallManagerGroup(StringBuilder sb, ProvisioningPorts ports, string address, string indent)
    {
        sb.Append(indent).Append("<callManagerGroup>\n");
        sb.Append(indent).Append("  <name>Default</name>\n");
        sb.Append(indent).Append("  <members>\n");
        sb.Append(indent).Append("    <member priority=\"0\">\n");
        sb.Append(indent).Append("      <callManager>\n");
        sb.Append(indent).Append("        <name>").Append(address).Append("</name>\n");
        sb.Append(indent).Append("        <ports>\n");
        var inner = indent + "          ";
        Element(sb, inner, "ethernetPhonePort", ports.Sccp);
        Element(sb, inner, "sipPort", ports.Sip);
        Element(sb, inner, "securedSipPort", ports.SipTls);
        if (ports.Mgcp is not null || ports.MgcpBackhaul is not null)
        {
            sb.Append(inner).Append("<mgcpPorts>\n");
            Element(sb, inner + "  ", "listen", ports.Mgcp);
            Element(sb, inner + "  ", "keepAlive", ports.MgcpBackhaul);
            sb.Append(inner).Append("</mgcpPorts>\n");
        }

        sb.Append(indent).Append("        </ports>\n");
        sb.Append(indent).Append("        <processNodeName>").Append(address).Append("</processNodeName>\n");
        sb.Append(indent).Append("      </callManager>\n");
        sb.Append(indent).Append("    </member>\n");
        sb.Append(indent).Append("  </members>\n");
        sb.Append(indent).Append("</callManagerGroup>\n");
    }

    private static void Tvs(StringBuilder sb, ProvisioningPorts ports, string address)
    {
        if (ports.Tvs is { } tvs)
        {
            sb.Append("  <TVS>\n    <members>\n      <member priority=\"0\">\n        <port>").Append(Port(tvs))
              .Append("</port>\n        <address>").Append(address).Append("</address>\n      </member>\n    </members>\n  </TVS>\n");
        }
    }

    private static void SipProfile(StringBuilder sb, ProvisioningPorts ports, string deviceName)
    {
        var sipPort = ports.Sip is { } p ? Port(p) : string.Empty;
        sb.Append("  <sipProfile>\n");
        sb.Append("    <sipProxies>\n");
        sb.Append("      <backupProxy>USECALLMANAGER</backupProxy>\n      <backupProxyPort>").Append(sipPort).Append("</backupProxyPort>\n");
        sb.Append("      <emergencyProxy>USECALLMANAGER</emergencyProxy>\n      <emergencyProxyPort>").Append(sipPort).Append("</emergencyProxyPort>\n");
        sb.Append("      <outboundProxy>USECALLMANAGER</outboundProxy>\n      <outboundProxyPort>").Append(sipPort).Append("</outboundProxyPort>\n");
        sb.Append("      <registerWithProxy>true</registerWithProxy>\n");
        sb.Append("    </sipProxies>\n");
        sb.Append("    <phoneLabel>").Append(deviceName).Append("</phoneLabel>\n");
        sb.Append("    <sipLines>\n      <line button=\"1\">\n        <featureID>9</featureID>\n        <featureLabel>").Append(deviceName)
          .Append("</featureLabel>\n        <proxy>USECALLMANAGER</proxy>\n        <port>").Append(sipPort)
          .Append("</port>\n        <name>").Append(deviceName).Append("</name>\n        <displayName>").Append(deviceName)
          .Append("</displayName>\n        <autoAnswer><autoAnswerEnabled>2</autoAnswerEnabled></autoAnswer>\n        <callWaiting>3</callWaiting>\n      </line>\n    </sipLines>\n");
        sb.Append("    <voipControlPort>").Append(sipPort).Append("</voipControlPort>\n");
        sb.Append("    <startMediaPort>16384</startMediaPort>\n    <stopMediaPort>32766</stopMediaPort>\n");
        sb.Append("    <dscpForAudio>184</dscpForAudio>\n");
        sb.Append("  </sipProfile>\n");
    }

    private static void ServiceUrls(StringBuilder sb, ProvisioningPorts ports, string address)
    {
        if (ports.PhoneServices is not { } http)
        {
            return;
        }

        var hostPort = (address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address) + ":" + Port(http);
        sb.Append("  <authenticationURL>http://").Append(hostPort).Append("/ccmcip/authenticate.jsp</authenticationURL>\n");
        sb.Append("  <directoryURL>http://").Append(hostPort).Append("/ccmcip/xmldirectory.jsp</directoryURL>\n");
        sb.Append("  <servicesURL>http://").Append(hostPort).Append("/ccmcip/getservicesmenu.jsp</servicesURL>\n");
        sb.Append("  <informationURL>http://").Append(hostPort).Append("/ccmcip/GetTelecasterHelpText.jsp</informationURL>\n");
    }

    private static void Element(StringBuilder sb, string indent, string name, int? port)
    {
        if (port is { } p)
        {
            sb.Append(indent).Append('<').Append(name).Append('>').Append(Port(p)).Append("</").Append(name).Append(">\n");
        }
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}

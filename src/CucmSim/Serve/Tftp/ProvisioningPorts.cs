using CucmSim.Catalog;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// The ports a generated phone config names, looked up in the profile (the role's flows from phones and
/// gateways) plus the port offset. A port the profile does not name is left out of the config.
/// </summary>
public sealed record ProvisioningPorts(int? Sccp, int? Sip, int? SipTls, int? Mgcp, int? MgcpBackhaul, int? Tvs, int? Capf, int? PhoneServices)
{
    public static ProvisioningPorts FromProfile(Profile profile, string role, int offset)
    {
        var flows = profile.Flows.Where(f => f.To == role && f.IsBindable).ToList();

        int? Find(string protocol, Func<Flow, bool>? also = null)
        {
            // Prefer the phone's own flows (table 6 of the port guide), then any other sender.
            var match = flows.Where(f => f.Protocol == protocol && (also is null || also(f)))
                .OrderBy(f => f.From == "phone" ? 0 : 1).ThenBy(f => f.Table).FirstOrDefault();
            return match is null ? null : match.Ports.Ranges[0].Low + offset;
        }

        return new ProvisioningPorts(
            Sccp: Find("sccp"),
            Sip: Find("sip"),
            SipTls: Find("sip-tls"),
            Mgcp: Find("mgcp"),
            MgcpBackhaul: Find("mgcp-backhaul"),
            Tvs: Find("tvs"),
            Capf: Find("capf"),
            PhoneServices: Find("http", f => f.From == "phone" && !IsProvisioningFlow(f)));
    }

    /// <summary>True for the flows that carry provisioning files (TFTP and its HTTP/HTTPS ports).</summary>
    public static bool IsProvisioningFlow(Flow flow) =>
        flow.Protocol == "tftp" || string.Equals(flow.Service, "TFTP", StringComparison.OrdinalIgnoreCase) || flow.Id.Contains("tftp", StringComparison.OrdinalIgnoreCase);
}

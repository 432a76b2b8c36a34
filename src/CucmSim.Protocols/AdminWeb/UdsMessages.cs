using System.Text;

namespace CucmSim.Protocols.AdminWeb;

/// <summary>A UDS user and the devices that belong to it.</summary>
public sealed record UdsUser(string Id, string UserName, IReadOnlyList<UdsDevice> Devices);

public sealed record UdsDevice(string Name, string Model, string Protocol);

/// <summary>The XML documents of Cisco User Data Services (UDS) REST: version, servers, users, a user's devices, errors.</summary>
public static class UdsMessages
{
    private const string Declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>";

    public static string Version(string version, string baseUri) =>
        $"{Declaration}<versionInformation version=\"{Esc(version)}\" uri=\"{Esc(baseUri)}/version\"><version>{Esc(version)}</version>" +
        "<capabilities><usersEndpointSupportsEmailSearch>true</usersEndpointSupportsEmailSearch></capabilities></versionInformation>";

    public static string Servers(string version, string baseUri, IEnumerable<string> hosts)
    {
        var sb = new StringBuilder($"{Declaration}<servers version=\"{Esc(version)}\" uri=\"{Esc(baseUri)}/servers\">");
        foreach (var host in hosts)
        {
            sb.Append("<server><host>").Append(Esc(host)).Append("</host></server>");
        }

        return sb.Append("</servers>").ToString();
    }

    public static string Users(string version, string baseUri, IReadOnlyList<UdsUser> users)
    {
        var sb = new StringBuilder($"{Declaration}<users version=\"{Esc(version)}\" uri=\"{Esc(baseUri)}/users\" start=\"0\" requestedCount=\"64\" returnedCount=\"{users.Count}\" totalCount=\"{users.Count}\">");
        foreach (var user in users)
        {
            sb.Append($"<user uri=\"{Esc(baseUri)}/user/{Uri.EscapeDataString(user.Id)}\"><id>{Esc(user.Id)}</id><userName>{Esc(user.UserName)}</userName></user>");
        }

        return sb.Append("</users>").ToString();
    }

    public static string Devices(string version, string baseUri, UdsUser user)
    {
        var sb = new StringBuilder($"{Declaration}<devices version=\"{Esc(version)}\" uri=\"{Esc(baseUri)}/user/{Uri.EscapeDataString(user.Id)}/devices\">");
        foreach (var device in user.Devices)
        {
            sb.Append($"<device uri=\"{Esc(baseUri)}/user/{Uri.EscapeDataString(user.Id)}/device/{AxlMessages.Uuid(device.Name).Trim('{', '}')}\">")
              .Append($"<id>{AxlMessages.Uuid(device.Name).Trim('{', '}')}</id><name>{Esc(device.Name)}</name><model>{Esc(device.Model)}</model>")
              .Append($"<deviceProtocol>{Esc(device.Protocol)}</deviceProtocol></device>");
        }

        return sb.Append("</devices>").ToString();
    }

    public static string Error(string message) => $"{Declaration}<error><message>{Esc(message)}</message></error>";

    private static string Esc(string text) => AxlMessages.Esc(text);
}

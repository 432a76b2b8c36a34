using System.Security;
using System.Text;
using System.Xml;

namespace CucmSim.Protocols.AdminWeb;

/// <summary>An AXL request as read from its SOAP envelope: the operation and the text of its leaf elements.</summary>
/// <param name="Operation">The Body's first element, without prefix ("getCCMVersion").</param>
/// <param name="Values">Leaf text by path below the operation ("name", "searchCriteria/name").</param>
public sealed record AxlRequest(string Operation, IReadOnlyDictionary<string, string> Values)
{
    public string? Value(string path) => Values.TryGetValue(path, out var v) ? v : null;
}

/// <summary>A phone as AXL's listPhone and getPhone return it.</summary>
public sealed record AxlPhone(string Name, string Model, string Protocol, string Description);

/// <summary>
/// AXL SOAP 1.1 (schema namespace http://www.cisco.com/AXL/API/&lt;version&gt;): reading requests with limits
/// (no DTD, no external entities, bounded size and depth) and writing the responses and faults CUCM writes.
/// </summary>
public static class AxlMessages
{
    public const string SoapNamespace = "http://schemas.xmlsoap.org/soap/envelope/";

    /// <summary>Deepest element nesting read in a request.</summary>
    public const int MaxDepth = 32;

    /// <summary>Reads the operation of a SOAP request; null with <paramref name="error"/> when it is not one.</summary>
    public static AxlRequest? Parse(ReadOnlySpan<byte> body, out string? error)
    {
        error = null;
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = Math.Max(1, body.Length) * 4L,
            MaxCharactersFromEntities = 1024,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            IgnoreWhitespace = true,
        };
        try
        {
            using var stream = new MemoryStream(body.ToArray(), writable: false);
            using var reader = XmlReader.Create(stream, settings);
            if (!reader.ReadToFollowing("Envelope", SoapNamespace))
            {
                error = "not a SOAP 1.1 envelope";
                return null;
            }

            if (!reader.ReadToDescendant("Body", SoapNamespace))
            {
                error = "no SOAP Body";
                return null;
            }

            var bodyDepth = reader.Depth;
            string? operation = null;
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            var path = new List<string>();
            while (reader.Read())
            {
                if (reader.Depth > bodyDepth + MaxDepth)
                {
                    error = "elements nested too deep";
                    return null;
                }

                switch (reader.NodeType)
                {
                    case XmlNodeType.Element when operation is null && reader.Depth == bodyDepth + 1:
                        operation = reader.LocalName;
                        break;
                    case XmlNodeType.Element when operation is not null && reader.Depth > bodyDepth + 1:
                        path.RemoveRange(reader.Depth - bodyDepth - 2, path.Count - (reader.Depth - bodyDepth - 2));
                        path.Add(reader.LocalName);
                        break;
                    case XmlNodeType.Text or XmlNodeType.CDATA when path.Count > 0:
                        values.TryAdd(string.Join('/', path), reader.Value);
                        break;
                }
            }

            if (operation is null)
            {
                error = "empty SOAP Body";
                return null;
            }

            return new AxlRequest(operation, values);
        }
        catch (XmlException ex)
        {
            error = ex.Message;
            return null;
        }
    }

    /// <summary>The operation a SOAPAction header names: <c>"CUCM:DB ver=14.0 getCCMVersion"</c> or a bare name.</summary>
    public static string? ActionOperation(string? soapAction)
    {
        if (soapAction is null)
        {
            return null;
        }

        var text = soapAction.Trim().Trim('"').Trim();
        var space = text.LastIndexOf(' ');
        var op = space < 0 ? text : text[(space + 1)..];
        var colon = op.LastIndexOf(':');
        return colon < 0 ? op : op[(colon + 1)..];
    }

    public static string GetCcmVersionResponse(string schema, string version) =>
        Envelope(schema, "getCCMVersionResponse", $"<return><componentVersion><version>{Esc(version)}</version></componentVersion></return>");

    public static string ListPhoneResponse(string schema, IEnumerable<AxlPhone> phones)
    {
        var sb = new StringBuilder("<return>");
        foreach (var phone in phones)
        {
            sb.Append(PhoneElement(phone));
        }

        return Envelope(schema, "listPhoneResponse", sb.Append("</return>").ToString());
    }

    public static string GetPhoneResponse(string schema, AxlPhone phone) =>
        Envelope(schema, "getPhoneResponse", $"<return>{PhoneElement(phone)}</return>");

    /// <summary>A SOAP fault; with <paramref name="axlCode"/>, the axlError detail AXL adds.</summary>
    public static string Fault(string faultCode, string message, int? axlCode = null, string? request = null)
    {
        var detail = axlCode is null ? string.Empty
            : $"<detail><axlError><axlcode>{axlCode}</axlcode><axlmessage>{Esc(message)}</axlmessage><request>{Esc(request ?? string.Empty)}</request></axlError></detail>";
        return $"<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv=\"{SoapNamespace}\"><soapenv:Body><soapenv:Fault>" +
               $"<faultcode>soapenv:{Esc(faultCode)}</faultcode><faultstring>{Esc(message)}</faultstring>{detail}</soapenv:Fault></soapenv:Body></soapenv:Envelope>";
    }

    /// <summary>True when a listPhone name pattern (SQL LIKE: % any run, _ one character) matches, case-insensitively.</summary>
    public static bool Like(string value, string pattern)
    {
        var regex = "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("%", ".*", StringComparison.Ordinal).Replace("_", ".", StringComparison.Ordinal) + "$";
        return System.Text.RegularExpressions.Regex.IsMatch(value, regex, System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>A stable uuid per device name, braced and upper-case as AXL writes it.</summary>
    public static string Uuid(string name)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(name.ToUpperInvariant()));
        return "{" + new Guid(hash.AsSpan(0, 16)).ToString().ToUpperInvariant() + "}";
    }

    internal static string Esc(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static string PhoneElement(AxlPhone phone) =>
        $"<phone uuid=\"{Uuid(phone.Name)}\"><name>{Esc(phone.Name)}</name><description>{Esc(phone.Description)}</description>" +
        $"<product>{Esc(phone.Model)}</product><model>{Esc(phone.Model)}</model><class>Phone</class><protocol>{Esc(phone.Protocol)}</protocol></phone>";

    private static string Envelope(string schema, string element, string inner) =>
        $"<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv=\"{SoapNamespace}\"><soapenv:Body>" +
        $"<ns:{element} xmlns:ns=\"http://www.cisco.com/AXL/API/{Esc(schema)}\">{inner}</ns:{element}></soapenv:Body></soapenv:Envelope>";
}

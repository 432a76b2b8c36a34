using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using CucmSim.Protocols.Ike;

namespace CucmSim.Serve.Ike;

/// <summary>
/// IKE on 500/udp that proves the path without making an SA: every IKEv1 Main Mode or Aggressive Mode first
/// message gets NO-PROPOSAL-CHOSEN in an Informational exchange (RFC 2408 §4.8, RFC 2409), every IKEv2
/// IKE_SA_INIT gets NO_PROPOSAL_CHOSEN with a zero responder SPI (RFC 7296 §2.6). Other requests outside an
/// SA get the protocol's own error; responses and informational messages are recorded and never answered.
/// </summary>
internal sealed class IkeResponder(ListenerRuntime listener) : IUdpProtocol
{
    private readonly byte[] _out = new byte[64];

    public void OnDatagram(ref UdpRequest request)
    {
        var status = IkeCodec.TryParse(request.Data, out var m, out var error);
        var detail = new Dictionary<string, string>
        {
            ["version"] = m.MajorVersion.ToString(CultureInfo.InvariantCulture) + "." + m.MinorVersion.ToString(CultureInfo.InvariantCulture),
            ["exchange"] = m.ExchangeType.ToString(CultureInfo.InvariantCulture),
            ["initiatorSpi"] = m.InitiatorSpi.ToString("x16", CultureInfo.InvariantCulture),
        };
        request.Detail = detail;
        if (status != OperationStatus.Done)
        {
            detail["error"] = error!;
            Malformed(ref request, m);
            return;
        }

        switch (m.MajorVersion)
        {
            case 1:
                OnV1(ref request, in m, detail);
                break;
            case 2:
                OnV2(ref request, in m, detail);
                break;
            default:
                // RFC 7296 §2.5: a higher major version is answered with INVALID_MAJOR_VERSION in the highest we speak.
                request.Verdict = "ike-invalid-major-version";
                Error(ref request, in m, IkeNotify.InvalidMajorVersion, detail, v2: true);
                break;
        }
    }

    private void OnV1(ref UdpRequest request, in IkeMessage m, Dictionary<string, string> detail)
    {
        var exchange = (IkeExchange)m.ExchangeType;
        if (exchange == IkeExchange.V1Informational)
        {
            Ignore(ref request, "ike-v1-informational");
            return;
        }

        if (m.ResponderSpi != 0)
        {
            // Not a first message, and no SA was ever made: the cookie is unknown (RFC 2408 §5.2).
            request.Verdict = "ike-v1-invalid-cookie";
            Error(ref request, in m, IkeNotify.InvalidCookieOrSpi, detail, v2: false);
            return;
        }

        if (exchange is not (IkeExchange.V1IdentityProtection or IkeExchange.V1Aggressive))
        {
            request.Verdict = "ike-v1-unsupported-exchange";
            Error(ref request, in m, IkeNotify.UnsupportedExchangeType, detail, v2: false);
            return;
        }

        if (m.Payloads.Count == 0 || m.Payloads[0] != IkeCodec.V1Sa)
        {
            // RFC 2409 §5: the first message of Main and Aggressive Mode begins with the SA payload.
            request.Verdict = "ike-v1-malformed";
            listener.MalformedInput();
            Error(ref request, in m, IkeNotify.PayloadMalformed, detail, v2: false);
            return;
        }

        request.Verdict = exchange == IkeExchange.V1Aggressive ? "ike-v1-aggressive" : "ike-v1-main-mode";
        detail["notify"] = "NO-PROPOSAL-CHOSEN";
        var n = IkeCodec.WriteV1Notify(_out, m.InitiatorSpi, ResponderCookie(), RandomMessageId(), IkeNotify.NoProposalChosen);
        request.Reply(_out.AsSpan(0, n));
    }

    private void OnV2(ref UdpRequest request, in IkeMessage m, Dictionary<string, string> detail)
    {
        if (m.IsV2Response)
        {
            // RFC 7296 §2.21.4: a response outside any known SA may be audited, never answered.
            Ignore(ref request, "ike-v2-response");
            return;
        }

        var exchange = (IkeExchange)m.ExchangeType;
        if (exchange != IkeExchange.V2IkeSaInit || m.ResponderSpi != 0)
        {
            // §2.21.4: a request for an SA this node does not know gets INVALID_IKE_SPI, unprotected.
            request.Verdict = "ike-v2-invalid-spi";
            Error(ref request, in m, IkeNotify.InvalidCookieOrSpi, detail, v2: true);
            return;
        }

        if (m.MessageId != 0 || !m.Payloads.Contains(IkeCodec.V2Sa) || !m.Payloads.Contains(IkeCodec.V2Ke) || !m.Payloads.Contains(IkeCodec.V2Nonce))
        {
            // §1.2: IKE_SA_INIT carries SA, KE and Ni with Message ID zero.
            request.Verdict = "ike-v2-malformed";
            listener.MalformedInput();
            Error(ref request, in m, IkeNotify.InvalidSyntax, detail, v2: true);
            return;
        }

        request.Verdict = "ike-v2-sa-init";
        detail["notify"] = "NO_PROPOSAL_CHOSEN";
        var n = IkeCodec.WriteV2Notify(_out, m.InitiatorSpi, 0, IkeExchange.V2IkeSaInit, 0, IkeNotify.NoProposalChosen);
        request.Reply(_out.AsSpan(0, n));
    }

    private void Error(ref UdpRequest request, in IkeMessage m, IkeNotify type, Dictionary<string, string> detail, bool v2)
    {
        detail["notify"] = type.ToString();
        var n = v2
            ? IkeCodec.WriteV2Notify(_out, m.InitiatorSpi, m.ResponderSpi, m.MajorVersion == 2 ? (IkeExchange)m.ExchangeType : IkeExchange.V2IkeSaInit, m.MessageId, type)
            : IkeCodec.WriteV1Notify(_out, m.InitiatorSpi, m.ResponderSpi, RandomMessageId(), type);
        // An unauthenticated error is never larger than what provoked it: no amplification towards a forged source.
        if (n > request.Data.Length)
        {
            detail["notify"] += " (not sent: larger than the request)";
            return;
        }

        request.Reply(_out.AsSpan(0, n));
    }

    private void Malformed(ref UdpRequest request, in IkeMessage m)
    {
        listener.MalformedInput();
        request.Verdict = "ike-malformed";
        // A header that parsed as IKEv1 with a broken chain has its own error (RFC 2408 §5.1); anything less is dropped.
        if (request.Data.Length >= IkeCodec.HeaderSize && request.Data.Length <= IkeCodec.MaxMessageSize && m.MajorVersion == 1 && m.ResponderSpi == 0)
        {
            Error(ref request, in m, IkeNotify.PayloadMalformed, request.Detail!, v2: false);
        }
    }

    private static void Ignore(ref UdpRequest request, string verdict) => request.Verdict = verdict;

    private static ulong ResponderCookie()
    {
        Span<byte> b = stackalloc byte[8];
        RandomNumberGenerator.Fill(b);
        return BitConverter.ToUInt64(b) | 1;
    }

    private static uint RandomMessageId() => (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
}

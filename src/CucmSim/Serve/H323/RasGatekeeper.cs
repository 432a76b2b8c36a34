using System.Buffers;
using System.Globalization;
using System.Net;
using CucmSim.Protocols.H323;

namespace CucmSim.Serve.H323;

/// <summary>
/// CUCM's gatekeeper RAS on 1719/udp (H.225.0 §7): GRQ gets GCF as CUCM sends it (gatekeeper "GATEKEEPER", protocol
/// version 5; nmap names the service by it), RRQ gets RCF (or RRJ invalidAlias for an alias starting with the
/// reject prefix, RRJ undefinedReason when it names another gatekeeper), LRQ gets LCF for a number this node
/// answers and LRJ requestDenied otherwise, URQ gets UCF, ARQ gets ARJ and DRQ gets DRJ (no admission is
/// granted: calls come straight to 1720). Other requests get XRS; confirms and rejects are recorded, never answered.
/// A GRQ whose head reads (kind and sequence number) is answered even when its body does not, as CUCM does.
/// </summary>
internal sealed class RasGatekeeper(ListenerRuntime listener, ServeContext context) : IUdpProtocol
{
    private readonly H323Options _options = context.H323;
    private readonly H323Directory _directory = H323Directory.For(context);

    public void OnDatagram(ref UdpRequest request)
    {
        var status = RasCodec.TryDecode(request.Data, out var m, out var error);
        var detail = new Dictionary<string, string> { ["message"] = m.Kind < 0 ? "unreadable" : m.Name };
        request.Detail = detail;
        if (m.SequenceNumber > 0)
        {
            detail["seq"] = m.SequenceNumber.ToString(CultureInfo.InvariantCulture);
        }

        if (status != OperationStatus.Done)
        {
            listener.MalformedInput();
            detail["error"] = error!;
            if (m.Type == RasKind.GatekeeperRequest && m.SequenceNumber > 0)
            {
                request.Verdict = "ras-gcf";
                Gcf(ref request, m);
            }
            else if (m.SequenceNumber > 0 && IsRequest(m.Kind))
            {
                request.Verdict = "ras-xrs";
                request.Reply(RasCodec.WriteXrs(m.SequenceNumber, request.Data));
            }
            else
            {
                request.Verdict = "ras-malformed";
            }

            return;
        }

        if (m.ProtocolIdentifier is { } protocol)
        {
            detail["protocol"] = protocol;
        }

        switch (m.Type)
        {
            case RasKind.GatekeeperRequest when m.GatekeeperIdentifier is { } asked && asked != _options.GatekeeperId:
                detail["gatekeeper"] = asked;
                request.Verdict = "ras-grj";
                request.Reply(RasCodec.WriteGrj(m.SequenceNumber, _options.GatekeeperId, RasReason.GrjUndefinedReason));
                break;
            case RasKind.GatekeeperRequest:
                request.Verdict = "ras-gcf";
                Gcf(ref request, m);
                break;
            case RasKind.RegistrationRequest:
                OnRegistration(ref request, m, detail);
                break;
            case RasKind.LocationRequest:
                OnLocation(ref request, m, detail);
                break;
            case RasKind.UnregistrationRequest:
                var gone = _directory.Unregister(m.EndpointIdentifier, m.Aliases);
                detail["unregistered"] = gone.Count == 0 ? "(none)" : string.Join(",", gone);
                request.Verdict = "ras-ucf";
                request.Reply(RasCodec.WriteUcf(m.SequenceNumber));
                Record(ref request, detail);
                break;
            case RasKind.AdmissionRequest:
                request.Verdict = "ras-arj";
                request.Reply(RasCodec.WriteArj(m.SequenceNumber, RasReason.ArjRequestDenied));
                break;
            case RasKind.DisengageRequest:
                request.Verdict = "ras-drj";
                request.Reply(RasCodec.WriteDrj(m.SequenceNumber, RasReason.DrjNotRegistered));
                break;
            case var _ when IsRequest(m.Kind) && m.SequenceNumber > 0:
                // H.225.0 §7.11: a message the gatekeeper does not serve gets unknownMessageResponse.
                request.Verdict = "ras-xrs";
                request.Reply(RasCodec.WriteXrs(m.SequenceNumber, request.Data));
                break;
            default:
                request.Verdict = "ras-unexpected";
                break;
        }
    }

    /// <summary>The messages an endpoint sends a gatekeeper and expects an answer to.</summary>
    private static bool IsRequest(int kind) => kind is 0 or 3 or 6 or 9 or 12 or 15 or 18 or 21 or 23 or 26 or 30;

    private void Gcf(ref UdpRequest request, RasMessage m) =>
        request.Reply(RasCodec.WriteGcf(m.SequenceNumber, _options.GatekeeperId, RasAddress(ref request)));

    private void OnRegistration(ref UdpRequest request, RasMessage m, Dictionary<string, string> detail)
    {
        detail["aliases"] = string.Join(",", m.Aliases);
        if (m.GatekeeperIdentifier is { } asked && asked != _options.GatekeeperId)
        {
            detail["gatekeeper"] = asked;
            Reject(ref request, m, RasReason.RrjUndefinedReason, "another gatekeeper named", detail);
            return;
        }

        if (m.Aliases.FirstOrDefault(a => a.Value.StartsWith(_options.RejectAliasPrefix, StringComparison.OrdinalIgnoreCase)) is { } refused)
        {
            Reject(ref request, m, RasReason.RrjInvalidAlias, $"alias {refused} matches the reject rule", detail);
            return;
        }

        var signalling = m.CallSignalAddresses.FirstOrDefault()?.EndPoint;
        var registration = _directory.Register(m.Aliases, m.EndpointKind ?? H225EndpointKind.Undefined, signalling?.ToString() ?? string.Empty, Text.EndPoint(request.Peer), listener.Id);
        detail["endpointId"] = registration.EndpointId;
        detail["device"] = registration.Name;
        if (signalling is not null)
        {
            detail["callSignalAddress"] = signalling.ToString();
        }

        request.Verdict = "ras-rcf";
        var ours = CallSignalAddress(ref request);
        request.Reply(RasCodec.WriteRcf(m.SequenceNumber, ours is null ? [] : [ours], _options.GatekeeperId, registration.EndpointId, _options.TimeToLive));
        Record(ref request, detail);
    }

    private void Reject(ref UdpRequest request, RasMessage m, int reason, string why, Dictionary<string, string> detail)
    {
        detail["reason"] = why;
        request.Verdict = "ras-rrj";
        context.Devices.Rejected();
        request.Reply(RasCodec.WriteRrj(m.SequenceNumber, _options.GatekeeperId, reason));
        Record(ref request, detail);
    }

    private void OnLocation(ref UdpRequest request, RasMessage m, Dictionary<string, string> detail)
    {
        var number = m.DestinationInfo.FirstOrDefault(a => a.Kind == AliasKind.DialledDigits)?.Value;
        detail["destination"] = string.Join(",", m.DestinationInfo);
        if (m.ReplyAddress?.EndPoint is { } reply)
        {
            // The answer goes back to the source (what a stateful firewall lets through); the reply address is recorded.
            detail["replyAddress"] = reply.ToString();
        }

        var signalling = CallSignalAddress(ref request);
        if (_directory.Knows(number) && signalling is not null)
        {
            request.Verdict = "ras-lcf";
            request.Reply(RasCodec.WriteLcf(m.SequenceNumber, signalling, RasAddress(ref request)));
        }
        else
        {
            request.Verdict = "ras-lrj";
            detail["reason"] = signalling is null ? "H.225 call signalling is not served" : "unknown number";
            request.Reply(RasCodec.WriteLrj(m.SequenceNumber, RasReason.LrjRequestDenied));
        }
    }

    /// <summary>Registrations and unregistrations change state: each is a ledger record of its own, not only the flow's first.</summary>
    private void Record(ref UdpRequest request, Dictionary<string, string> detail) =>
        context.Ledger.Append(listener.Record("ras", Text.EndPoint(request.Peer)) with { Verdict = request.Verdict, Detail = new(detail) });

    private IPAddress Embedded(ref UdpRequest request) => H323Ports.Plain(context.Embedded(request.LocalAddress, request.Peer.Address));

    private IPEndPoint RasAddress(ref UdpRequest request) => new(Embedded(ref request), listener.BoundEndPoint?.Port ?? listener.Port);

    private IPEndPoint? CallSignalAddress(ref UdpRequest request) =>
        H323Ports.CallSignalling(context, listener) is { BoundEndPoint: { } bound } ? new IPEndPoint(Embedded(ref request), bound.Port) : null;
}

using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using CucmSim.Protocols.Mgcp;

namespace CucmSim.Serve.Mgcp;

/// <summary>
/// CUCM as the MGCP call agent on 2427/udp (RFC 3435). A gateway's RSIP and NTFY get 200 with their transaction
/// id, and after an RSIP the gateway is audited with AUEP (F: A, its capabilities), whose answer is recorded.
/// Commands a call agent does not take get 504, a wrong version 528, an unknown restart method 536, a broken
/// message 510 when its transaction id can be read. A repeated transaction id gets the same response again
/// (at-most-once, §3.5.1). Responses this side did not ask for are counted and dropped.
/// </summary>
internal sealed class MgcpCallAgent(ListenerRuntime listener, ServeContext context) : IUdpProtocol
{
    /// <summary>Responses kept for retransmitted commands, and audits awaiting their answer (oldest dropped first).</summary>
    public const int MaxRemembered = 1024;

    private static readonly string[] RestartMethods = ["graceful", "forced", "restart", "disconnected", "cancel-graceful"];

    private readonly Dictionary<(string Peer, uint Tid), byte[]> _responses = [];
    private readonly Queue<(string Peer, uint Tid)> _responseOrder = new();
    private readonly Dictionary<uint, string> _audits = [];
    private readonly Queue<uint> _auditOrder = new();
    private uint _nextTid = (uint)RandomNumberGenerator.GetInt32(1, 500_000_000);

    public void OnDatagram(ref UdpRequest request)
    {
        var peer = Text.EndPoint(request.Peer);
        var status = MgcpCodec.TryParse(request.Data, out var message, out var tid, out var error);
        if (status != OperationStatus.Done)
        {
            listener.MalformedInput();
            request.Verdict = "mgcp-malformed";
            request.Detail = new() { ["error"] = error! };
            if (tid != 0)
            {
                Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.ProtocolError, tid, "Protocol error"));
            }

            return;
        }

        if (message!.IsResponse)
        {
            OnResponse(ref request, peer, message);
            return;
        }

        // §3.5.1: a command seen before is answered with the response it got, not executed again.
        if (_responses.TryGetValue((peer, message.TransactionId), out var cached))
        {
            request.Verdict = "mgcp-retransmission";
            request.Reply(cached);
            return;
        }

        request.Detail = new() { ["verb"] = message.Verb, ["endpoint"] = message.Endpoint, ["tid"] = message.TransactionId.ToString(CultureInfo.InvariantCulture) };
        if (message.Version is not ("1.0" or "0.1"))
        {
            request.Verdict = "mgcp-incompatible-version";
            Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.IncompatibleVersion, message.TransactionId, "Incompatible protocol version"));
            return;
        }

        switch (message.Verb)
        {
            case "RSIP":
                OnRestart(ref request, peer, message);
                break;
            case "NTFY":
                request.Verdict = "mgcp-ntfy";
                Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.Ok, message.TransactionId, "OK"));
                break;
            case "DLCX":
                // A gateway deletes a connection on its own (§2.3.9) and tells the call agent, which acknowledges.
                request.Verdict = "mgcp-dlcx";
                Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.Ok, message.TransactionId, "OK"));
                break;
            default:
                // EPCF, CRCX, MDCX, RQNT, AUEP, AUCX are sent by a call agent, not to one; anything else is unknown.
                request.Verdict = "mgcp-unsupported-command";
                Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.UnknownCommand, message.TransactionId, "Unknown or unsupported command"));
                break;
        }
    }

    private void OnRestart(ref UdpRequest request, string peer, MgcpMessage message)
    {
        var method = message["RM"];
        if (method is not null && !RestartMethods.Contains(method, StringComparer.OrdinalIgnoreCase))
        {
            request.Verdict = "mgcp-rsip-bad-method";
            Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.UnsupportedRestartMethod, message.TransactionId, "Unknown or unsupported RestartMethod"));
            return;
        }

        request.Verdict = "mgcp-rsip";
        request.Detail!["restartMethod"] = method ?? "(none)";
        Respond(ref request, peer, MgcpMessage.Response(MgcpCodes.Ok, message.TransactionId, "OK"));

        // A gateway that restarted (anything but going out of service) is audited for its capabilities.
        if (string.Equals(method, "forced", StringComparison.OrdinalIgnoreCase) || string.Equals(method, "graceful", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var tid = NextTransactionId();
        Remember(_audits, _auditOrder, tid, message.Endpoint);
        var audit = MgcpMessage.Command("AUEP", tid, message.Endpoint, message.Version, [new("F", "A")]);
        request.Reply(MgcpCodec.Encode(audit));
        request.Detail!["auditTid"] = tid.ToString(CultureInfo.InvariantCulture);
    }

    private void OnResponse(ref UdpRequest request, string peer, MgcpMessage message)
    {
        if (!_audits.Remove(message.TransactionId, out var endpoint))
        {
            // Not an answer to anything this side sent (a response-ack 000 is also taken here).
            request.Verdict = message.Code == 0 ? "mgcp-response-ack" : "mgcp-unexpected-response";
            if (message.Code != 0)
            {
                listener.MalformedInput();
            }

            return;
        }

        request.Verdict = "mgcp-audit";
        var detail = new Dictionary<string, string>
        {
            ["endpoint"] = endpoint,
            ["tid"] = message.TransactionId.ToString(CultureInfo.InvariantCulture),
            ["code"] = message.Code.ToString("000", CultureInfo.InvariantCulture),
        };
        if (message["A"] is { } capabilities)
        {
            detail["capabilities"] = capabilities.Length > 512 ? capabilities[..512] : capabilities;
        }

        request.Detail = detail;
        context.Ledger.Append(listener.Record("mgcp-audit", peer) with { Verdict = message.Code is >= 200 and < 300 ? "mgcp-audit-ok" : "mgcp-audit-error", Detail = detail });
    }

    private void Respond(ref UdpRequest request, string peer, MgcpMessage response)
    {
        var bytes = MgcpCodec.Encode(response);
        Remember(_responses, _responseOrder, (peer, response.TransactionId), bytes);
        request.Reply(bytes);
    }

    private static void Remember<TKey, TValue>(Dictionary<TKey, TValue> map, Queue<TKey> order, TKey key, TValue value)
        where TKey : notnull
    {
        if (map.TryAdd(key, value))
        {
            order.Enqueue(key);
            while (order.Count > MaxRemembered)
            {
                map.Remove(order.Dequeue());
            }
        }
    }

    private uint NextTransactionId()
    {
        _nextTid = _nextTid >= MgcpCodec.MaxTransactionId ? 1 : _nextTid + 1;
        return _nextTid;
    }
}

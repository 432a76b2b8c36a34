using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CucmSim.Protocols.Snmp;

namespace CucmSim.Clients.Snmp;

/// <summary>The outcome of one SNMP request: the answer's error status and varbinds, or why there was none.</summary>
public sealed record SnmpResult(IPEndPoint Target, SnmpError ErrorStatus, int ErrorIndex, IReadOnlyList<SnmpVarBind> VarBinds, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Error is null && ErrorStatus == SnmpError.NoError;

    /// <summary>SNMPv3: the agent's snmpEngineID (hex) as discovery found it.</summary>
    public string? EngineId { get; init; }

    /// <summary>SNMPv3: the usmStats (or other) counter of the Report that came in place of the response.</summary>
    public string? Report { get; init; }

    /// <summary>SNMPv3: the agent said notInTimeWindow once, and the request was sent again with its clock.</summary>
    public bool Resynchronised { get; init; }

    /// <summary>The value of an OID in the answer, if present.</summary>
    public SnmpValue? this[string oid] => VarBinds.FirstOrDefault(v => Ber.FormatOid(v.Oid) == oid.TrimStart('.')) is { Oid: not null } vb ? vb.Value : null;
}

/// <summary>
/// A community-based (v1/v2c) SNMP manager: Get, GetNext and GetBulk over UDP with retries. Proves an SNMP
/// path the way a monitoring system uses it: an answer with the right request-id, or a reason.
/// </summary>
public static class SnmpClient
{
    public static Task<SnmpResult> GetAsync(IPEndPoint target, string community, IReadOnlyList<string> oids, SnmpVersion version = SnmpVersion.V2c, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RequestAsync(target, community, PduType.Get, oids, 0, 0, version, timeout, attempts, cancellationToken);

    public static Task<SnmpResult> GetNextAsync(IPEndPoint target, string community, IReadOnlyList<string> oids, SnmpVersion version = SnmpVersion.V2c, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RequestAsync(target, community, PduType.GetNext, oids, 0, 0, version, timeout, attempts, cancellationToken);

    public static Task<SnmpResult> GetBulkAsync(IPEndPoint target, string community, IReadOnlyList<string> oids, int nonRepeaters, int maxRepetitions, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RequestAsync(target, community, PduType.GetBulk, oids, nonRepeaters, maxRepetitions, SnmpVersion.V2c, timeout, attempts, cancellationToken);

    /// <summary>Sends one request (retrying on silence) and decodes the matching Response.</summary>
    public static async Task<SnmpResult> RequestAsync(IPEndPoint target, string community, PduType type, IReadOnlyList<string> oids, int errorStatusOrNonRepeaters, int errorIndexOrMaxRepetitions, SnmpVersion version, TimeSpan? timeout, int attempts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(oids);
        var started = TimeProvider.System.GetTimestamp();
        var requestId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        var request = new byte[SnmpLimits.MaxMessageSize];
        var length = SnmpCodec.WriteMessage(request, version, Encoding.UTF8.GetBytes(community), type, requestId, errorStatusOrNonRepeaters, errorIndexOrMaxRepetitions,
            oids.Select(o => new SnmpVarBind(o, SnmpValue.Null)).ToArray());
        if (length < 0)
        {
            return Fail(target, "request too large", started);
        }

        SnmpResult? result = null;
        var error = await UdpExchange.RequestAsync(target, request.AsMemory(0, length), SnmpLimits.MaxMessageSize, (ReadOnlySpan<byte> answer, out string? problem) =>
        {
            // A stale or foreign datagram is passed over: keep waiting for ours.
            if (TryDecode(answer, requestId, out var status, out var index, out var varBinds, out var why))
            {
                result = new SnmpResult(target, status, index, varBinds, null, TimeProvider.System.GetElapsedTime(started));
                problem = null;
                return true;
            }

            problem = why;
            return false;
        }, "timeout: no answer (wrong community, filtered, or no agent)", timeout, attempts, cancellationToken).ConfigureAwait(false);
        if (result is not null)
        {
            return result;
        }

        return Fail(target, error!, started);
    }

    private static SnmpResult Fail(IPEndPoint target, string error, long started) =>
        new(target, SnmpError.NoError, 0, [], error, TimeProvider.System.GetElapsedTime(started));

    private static bool TryDecode(ReadOnlySpan<byte> data, int requestId, out SnmpError status, out int index, out List<SnmpVarBind> varBinds, out string problem)
    {
        status = SnmpError.NoError;
        index = 0;
        varBinds = [];
        var vbs = new VarBind[SnmpLimits.MaxVarBinds];
        if (SnmpCodec.DecodeMessage(data, out var message) != OperationStatus.Done || message.Version == SnmpVersion.V3
            || SnmpCodec.DecodePdu(data, message.Pdu, out var pdu, vbs) != OperationStatus.Done)
        {
            problem = "an answer that is not a valid SNMP v1/v2c message";
            return false;
        }

        if (pdu.Type != PduType.Response || pdu.RequestId != requestId)
        {
            problem = "an answer with another request-id";
            return false;
        }

        status = (SnmpError)pdu.ErrorStatus;
        index = pdu.ErrorIndex;
        Span<uint> oid = stackalloc uint[Ber.MaxOidLength];
        for (var i = 0; i < pdu.VarBindCount; i++)
        {
            var n = Ber.DecodeOid(data[vbs[i].Name], oid);
            varBinds.Add(new SnmpVarBind(oid[..n].ToArray(), SnmpValue.Read(data, vbs[i].ValueTag, vbs[i].Value)));
        }

        problem = string.Empty;
        return true;
    }
}

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CucmSim.Protocols.Ike;

namespace CucmSim.Clients.Ike;

/// <summary>What an IKE responder said to a first message: the notify type it carried, or why there was none.</summary>
public sealed record IkeResult(IPEndPoint Target, int Version, ushort? Notify, string? Error, TimeSpan Elapsed)
{
    public bool NoProposalChosen => Notify == (ushort)IkeNotify.NoProposalChosen;
}

/// <summary>
/// Sends an IKEv1 Main Mode or IKEv2 IKE_SA_INIT first message and waits for the answer with its SPI, as a
/// gateway starting IPsec does: an answer proves 500/udp both ways without any SA being made.
/// </summary>
public static class IkeClient
{
    public static async Task<IkeResult> ProbeAsync(IPEndPoint target, int version, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, 2);
        var started = TimeProvider.System.GetTimestamp();
        Span<byte> spiBytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(spiBytes);
        var spi = BinaryPrimitives.ReadUInt64BigEndian(spiBytes) | 1;
        var request = new byte[1024];
        var length = version == 1 ? IkeCodec.WriteV1MainModeRequest(request, spi) : IkeCodec.WriteV2SaInitRequest(request, spi);
        IkeResult? result = null;
        var error = await UdpExchange.RequestAsync(target, request.AsMemory(0, length), IkeCodec.MaxMessageSize, (ReadOnlySpan<byte> answer, out string? problem) =>
        {
            problem = null;
            // Ours when it carries our SPI; anything else on the socket is stale.
            if (answer.Length < IkeCodec.HeaderSize || BinaryPrimitives.ReadUInt64BigEndian(answer) != spi)
            {
                return false;
            }

            var notify = IkeCodec.FirstNotifyType(answer);
            result = new IkeResult(target, version, notify, notify is null ? "answer without a notify" : null, TimeProvider.System.GetElapsedTime(started));
            return true;
        }, "timeout: no answer", timeout, attempts, cancellationToken).ConfigureAwait(false);
        return result ?? new IkeResult(target, version, null, error, TimeProvider.System.GetElapsedTime(started));
    }
}

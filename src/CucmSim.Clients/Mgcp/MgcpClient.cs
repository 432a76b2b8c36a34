using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CucmSim.Protocols.Mgcp;

namespace CucmSim.Clients.Mgcp;

/// <summary>What the call agent answered to a command, or why there was no answer.</summary>
public sealed record MgcpResult(IPEndPoint Target, MgcpMessage? Response, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Error is null && Response is { Code: >= 200 and < 300 };
}

/// <summary>A restart as a gateway makes it: the RSIP's answer, then the call agent's audit (AUEP) that this side answered.</summary>
public sealed record MgcpRestartResult(MgcpResult Restart, MgcpMessage? Audit, string? AuditError);

/// <summary>
/// An MGCP gateway towards a call agent (RFC 3435): commands with their own transaction ids, retransmitted
/// on silence, answered responses matched by transaction id; after RSIP, the call agent's AUEP is answered
/// with 200 and the capabilities of a small voice gateway.
/// </summary>
public static class MgcpClient
{
    /// <summary>What this gateway says it can do when audited (F: A).</summary>
    public const string Capabilities = "a:PCMU;PCMA;G729, p:10-20, e:on, s:off, v:L;G;D, m:sendonly;recvonly;sendrecv;inactive;netwtest";

    public static uint NewTransactionId() => (uint)RandomNumberGenerator.GetInt32(1, (int)MgcpCodec.MaxTransactionId);

    /// <summary>Sends one command (its transaction id is used as given) and waits for the response with that id.</summary>
    public static async Task<MgcpResult> CommandAsync(IPEndPoint target, MgcpMessage command, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target);
        return await CommandAsync(socket, target, command, timeout, attempts, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>RSIP (RM: restart) for the endpoint, then the call agent's AUEP on the same socket, answered.</summary>
    public static async Task<MgcpRestartResult> RestartAsync(IPEndPoint target, string endpoint, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target);
        var rsip = MgcpMessage.Command("RSIP", NewTransactionId(), endpoint, "1.0", [new("RM", "restart")]);
        var restart = await CommandAsync(socket, target, rsip, timeout, 2, cancellationToken).ConfigureAwait(false);
        if (!restart.Ok)
        {
            return new MgcpRestartResult(restart, null, "no restart acknowledged");
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(3));
        var buffer = new byte[MgcpCodec.MaxMessageSize + 1];
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (MgcpCodec.TryParse(buffer.AsSpan(0, n), out var message, out _, out _) == OperationStatus.Done && message is { IsResponse: false, Verb: "AUEP" })
                {
                    var answer = MgcpMessage.Response(200, message.TransactionId, "OK", [new("A", Capabilities)]);
                    await socket.SendAsync(MgcpCodec.Encode(answer), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    return new MgcpRestartResult(restart, message, null);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new MgcpRestartResult(restart, null, "timeout: no AUEP after the restart");
        }
    }

    private static async Task<MgcpResult> CommandAsync(Socket socket, IPEndPoint target, MgcpMessage command, TimeSpan? timeout, int attempts, CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        MgcpMessage? response = null;
        var error = await UdpExchange.RequestAsync(socket, MgcpCodec.Encode(command), MgcpCodec.MaxMessageSize, (ReadOnlySpan<byte> answer, out string? problem) =>
        {
            problem = null;
            if (MgcpCodec.TryParse(answer, out var message, out _, out var why) != OperationStatus.Done)
            {
                problem = "an answer that is not MGCP: " + why;
                return false;
            }

            // Provisional responses (1xx) and commands from the call agent are not the final answer.
            if (!message!.IsResponse || message.TransactionId != command.TransactionId || message.Code is >= 100 and < 200)
            {
                return false;
            }

            response = message;
            return true;
        }, "timeout: no answer", timeout, attempts, cancellationToken).ConfigureAwait(false);
        return new MgcpResult(target, response, error, TimeProvider.System.GetElapsedTime(started));
    }
}

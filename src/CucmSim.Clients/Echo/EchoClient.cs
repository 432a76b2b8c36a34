using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Net;
using CucmSim.Protocols.Echo;

namespace CucmSim.Clients.Echo;

/// <summary>Why a probe got no answer.</summary>
public enum EchoFailure
{
    None,

    /// <summary>Nothing came back in time.</summary>
    Timeout,

    /// <summary>TCP: the connection was refused (a RST answered the SYN).</summary>
    Reset,

    /// <summary>An ICMP error came back (see <see cref="EchoResult.Icmp"/>).</summary>
    Icmp,

    /// <summary>Something answered, but not the echo (another nonce, another protocol, a closed connection).</summary>
    Other,
}

/// <summary>The outcome of one probe: the answer, or why there was none.</summary>
public sealed record EchoResult(IPEndPoint Target, string Transport, string Nonce, EchoReply? Reply, string? Error, TimeSpan Elapsed)
{
    public bool Ok => Reply is { } r && r.Nonce == Nonce;

    public EchoFailure Failure { get; init; }

    /// <summary>The ICMP error the kernel queued for the probe's socket, when one came back.</summary>
    public IcmpError? Icmp { get; init; }

    /// <summary>The probe's own address and port (what the server would see without NAT).</summary>
    public IPEndPoint? Local { get; init; }

    /// <summary>How many probes were sent (UDP repeats until an answer).</summary>
    public int Sent { get; init; } = 1;

    /// <summary>
    /// UDP with <see cref="EchoOptions.IdleSeconds"/>: the wait for the server's delayed answer, on the same socket
    /// (which it owns and closes); null when no answer came, or the server scheduled no callback.
    /// </summary>
    public Task<EchoCallbackResult>? Callback { get; init; }
}

/// <summary>What came of a wait for the delayed answer: the callback, or nothing within the idle time and the timeout.</summary>
public sealed record EchoCallbackResult(EchoReply? Reply, int IdleSeconds, TimeSpan Waited)
{
    public bool Ok => Reply is not null;
}

/// <summary>How a probe is sent.</summary>
public sealed record EchoOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>UDP: datagrams sent (the timeout is shared between them).</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>Local address (port 0) or endpoint to send from.</summary>
    public IPEndPoint? Source { get; init; }

    /// <summary>Queue ICMP errors and report their type, code and sender (Linux).</summary>
    public bool ReadIcmp { get; init; } = true;

    /// <summary>
    /// UDP: ask the server for a second answer after this many seconds of silence (<c>idle=S</c>); 0 asks for none.
    /// The wait for it (<see cref="EchoResult.Callback"/>) lasts the idle time and <see cref="Timeout"/>.
    /// </summary>
    public int IdleSeconds { get; init; }
}

/// <summary>Sends CUCMSIM-PROBE over TCP or UDP and reads the CUCMSIM-ECHO answer.</summary>
public static class EchoClient
{
    public static string NewNonce() => Convert.ToHexString(Guid.NewGuid().ToByteArray().AsSpan(0, 8)).ToLowerInvariant();

    public static Task<EchoResult> TcpAsync(IPEndPoint target, string? nonce = null, TimeSpan? timeout = null, IPEndPoint? source = null, CancellationToken cancellationToken = default) =>
        TcpAsync(target, new EchoOptions { Timeout = timeout ?? TimeSpan.FromSeconds(3), Source = source }, nonce, cancellationToken);

    public static async Task<EchoResult> TcpAsync(IPEndPoint target, EchoOptions options, string? nonce, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        nonce ??= NewNonce();
        var started = TimeProvider.System.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(options.Timeout);
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        IPEndPoint? local = null;
        EchoResult Result(EchoReply? reply, string? error, EchoFailure failure, IcmpError? icmp = null) =>
            new(target, "tcp", nonce, reply, error, TimeProvider.System.GetElapsedTime(started)) { Failure = failure, Icmp = icmp, Local = local };

        try
        {
            if (options.ReadIcmp)
            {
                IcmpErrorQueue.Enable(socket);
            }

            if (options.Source is not null)
            {
                socket.Bind(options.Source);
            }

            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            local = (IPEndPoint?)socket.LocalEndPoint;
            await socket.SendAsync(Encoding.ASCII.GetBytes($"CUCMSIM-PROBE {nonce}\n"), SocketFlags.None, cts.Token).ConfigureAwait(false);
            var buffer = new byte[EchoProbe.MaxEchoLength];
            var length = 0;
            while (length < buffer.Length)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return Result(null, "connection closed before the answer", EchoFailure.Other);
                }

                length += n;
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, length);
                if (newline >= 0)
                {
                    return EchoProbe.TryParseEcho(buffer.AsSpan(0, newline), out var reply)
                        ? Result(reply, reply.Nonce == nonce ? null : "answer carries another nonce", reply.Nonce == nonce ? EchoFailure.None : EchoFailure.Other)
                        : Result(null, $"not an echo: {Encoding.ASCII.GetString(buffer, 0, newline)}", EchoFailure.Other);
                }
            }

            return Result(null, "answer too long", EchoFailure.Other);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Result(null, "timeout", EchoFailure.Timeout);
        }
        catch (SocketException ex)
        {
            var icmp = options.ReadIcmp ? IcmpErrorQueue.Drain(socket).LastOrDefault() : null;
            if (icmp is not null)
            {
                return Result(null, icmp.ToString(), EchoFailure.Icmp, icmp);
            }

            return ex.SocketErrorCode == SocketError.ConnectionRefused
                ? Result(null, ex.SocketErrorCode.ToString(), EchoFailure.Reset)
                : Result(null, ex.SocketErrorCode.ToString(), ex.SocketErrorCode == SocketError.TimedOut ? EchoFailure.Timeout : EchoFailure.Other);
        }
    }

    public static Task<EchoResult> UdpAsync(IPEndPoint target, string? nonce = null, TimeSpan? timeout = null, int attempts = 3, CancellationToken cancellationToken = default) =>
        UdpAsync(target, new EchoOptions { Timeout = timeout ?? TimeSpan.FromSeconds(3), Attempts = attempts }, nonce, cancellationToken);

    public static async Task<EchoResult> UdpAsync(IPEndPoint target, EchoOptions options, string? nonce, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var owned = new SocketOwner(socket);
        return await UdpExchangeAsync(owned, target, options, nonce ?? NewNonce(), connect: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The UDP echo from a socket the caller owns and keeps (bound, not connected): a call's RTP socket, so that the
    /// probe and its delayed answer take the call's own media path and pinholes. <see cref="EchoOptions.Source"/> and
    /// <see cref="EchoOptions.ReadIcmp"/> do not apply; the socket is not disposed, also not after the callback.
    /// </summary>
    public static Task<EchoResult> UdpFromAsync(Socket socket, IPEndPoint target, EchoOptions options, string? nonce, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        return UdpExchangeAsync(new SocketOwner(socket, owns: false), target, options with { Source = null, ReadIcmp = false }, nonce ?? NewNonce(), connect: false, cancellationToken);
    }

    private static async Task<EchoResult> UdpExchangeAsync(SocketOwner owned, IPEndPoint target, EchoOptions options, string nonce, bool connect, CancellationToken cancellationToken)
    {
        var socket = owned.Socket;
        var started = TimeProvider.System.GetTimestamp();
        var request = Encoding.ASCII.GetBytes(options.IdleSeconds > 0
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"CUCMSIM-PROBE {nonce} idle={options.IdleSeconds}")
            : $"CUCMSIM-PROBE {nonce}");
        var buffer = new byte[EchoProbe.MaxEchoLength];
        var attempts = Math.Max(1, options.Attempts);
        var each = options.Timeout / attempts;
        var error = "timeout";
        var failure = EchoFailure.Timeout;
        IcmpError? icmp = null;
        IPEndPoint? local = null;
        var sent = 0;
        try
        {
            if (options.ReadIcmp)
            {
                IcmpErrorQueue.Enable(socket);
            }

            if (options.Source is not null)
            {
                socket.Bind(options.Source);
            }

            if (connect)
            {
                socket.Connect(target);
            }

            local = (IPEndPoint?)socket.LocalEndPoint;
            for (var attempt = 0; attempt < attempts; attempt++)
            {
                _ = connect
                    ? await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false)
                    : await socket.SendToAsync(request, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
                sent++;
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                cts.CancelAfter(each);
                try
                {
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                        if (EchoProbe.TryParseEcho(buffer.AsSpan(0, n), out var reply) && reply.Nonce == nonce && !reply.IsCallback)
                        {
                            var callback = options.IdleSeconds > 0 && reply.IdleScheduled > 0
                                ? WaitCallbackAsync(owned.Release(), owned.Owns, nonce, reply.IdleScheduled, options.Timeout, cancellationToken)
                                : null;
                            return new EchoResult(target, "udp", nonce, reply, null, TimeProvider.System.GetElapsedTime(started)) { Local = local, Sent = sent, Callback = callback };
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
                catch (SocketException ex)
                {
                    icmp = options.ReadIcmp ? IcmpErrorQueue.Drain(socket).LastOrDefault() : null;
                    if (icmp is not null || ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
                    {
                        error = icmp?.ToString() ?? (ex.SocketErrorCode == SocketError.ConnectionRefused ? "ICMP port unreachable" : ex.SocketErrorCode.ToString());
                        failure = EchoFailure.Icmp;
                        break;
                    }

                    throw;
                }
            }
        }
        catch (SocketException ex)
        {
            error = ex.SocketErrorCode.ToString();
            failure = EchoFailure.Other;
        }

        return new EchoResult(target, "udp", nonce, null, error, TimeProvider.System.GetElapsedTime(started)) { Failure = failure, Icmp = icmp, Local = local, Sent = sent };
    }

    /// <summary>Keeps the socket silent for the idle time and the timeout, and reads the server's delayed answer; disposes the socket if it owns it.</summary>
    private static async Task<EchoCallbackResult> WaitCallbackAsync(Socket socket, bool owns, string nonce, int idleSeconds, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (owns ? socket : null)
        {
            var started = TimeProvider.System.GetTimestamp();
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(idleSeconds) + timeout);
            var buffer = new byte[EchoProbe.MaxEchoLength];
            var errors = 0;
            try
            {
                while (true)
                {
                    int n;
                    try
                    {
                        n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                    }
                    catch (SocketException) when (++errors < 16)
                    {
                        // An ICMP error for the echo's retransmissions: the socket still waits for the callback.
                        continue;
                    }

                    // A late copy of the echo is not the callback: only CUCMSIM-IDLE proves the path after the silence.
                    if (EchoProbe.TryParseEcho(buffer.AsSpan(0, n), out var reply) && reply.Nonce == nonce && reply.IsCallback)
                    {
                        return new EchoCallbackResult(reply, idleSeconds, TimeProvider.System.GetElapsedTime(started));
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                return new EchoCallbackResult(null, idleSeconds, TimeProvider.System.GetElapsedTime(started));
            }
        }
    }

    /// <summary>Disposes a socket at the end of a scope unless it was handed on, or was never its own to dispose.</summary>
    private sealed class SocketOwner(Socket socket, bool owns = true) : IDisposable
    {
        private Socket? _socket = socket;

        public Socket Socket { get; } = socket;

        /// <summary>False for a socket the caller keeps: neither this nor the callback's wait disposes it.</summary>
        public bool Owns { get; } = owns;

        public Socket Release()
        {
            var s = _socket!;
            _socket = null;
            return s;
        }

        public void Dispose()
        {
            if (Owns)
            {
                _socket?.Dispose();
            }
        }
    }
}

using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CucmSim.Protocols.H323;

namespace CucmSim.Clients.H323;

/// <summary>A RAS exchange: the answer (matched by sequence number), or why there was none.</summary>
public sealed record RasResult(RasMessage? Answer, string? Error, IPEndPoint? Local, TimeSpan Elapsed)
{
    public bool Ok => Error is null;
}

/// <summary>What an H.225 call saw: the answers in order, the H.245 address of the Connect, and whether it could be reached.</summary>
public sealed record H225CallResult
{
    public List<Q931Message> Answers { get; init; } = [];
    public IPEndPoint? Local { get; init; }
    public IPEndPoint? H245Address { get; init; }
    public bool Connected => Answers.Any(a => a.Type == Q931Type.Connect);
    public Q931Message? Release => Answers.FirstOrDefault(a => a.Type == Q931Type.ReleaseComplete);
    public Q931Message? Status { get; init; }

    /// <summary>True when a TCP connection to the Connect's H.245 address was made; null when not tried.</summary>
    public bool? H245Reached { get; init; }

    public string? H245Error { get; init; }
    public string? Error { get; init; }
    public TimeSpan Elapsed { get; init; }

    public bool Ok => Error is null;
}

/// <summary>Options of an H.225 call.</summary>
public sealed record H225CallOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    public IPEndPoint? Source { get; init; }
    public string Calling { get; init; } = "2001";

    /// <summary>After Connect, open a TCP connection to the H.245 address (the secondary channel inspection opens).</summary>
    public bool ConnectH245 { get; init; } = true;

    /// <summary>After Connect, ask Status Enquiry and wait for Status.</summary>
    public bool StatusEnquiry { get; init; }
}

/// <summary>
/// H.323 from a gateway's or a gatekeeper's side: RAS requests (GRQ, RRQ, LRQ, URQ) over UDP, and a call over
/// H.225.0 call signalling: Setup, the answers up to Connect or ReleaseComplete, the H.245 connection the Connect
/// names, then ReleaseComplete.
/// </summary>
public static class H323Client
{
    private static int _sequence = RandomNumberGenerator.GetInt32(1, 60_000);

    public static int NextSequence() => Interlocked.Increment(ref _sequence) % 65535 + 1;

    /// <summary>Sends one RAS request built from this client's own address (for the addresses it embeds) and waits for the answer with its sequence number.</summary>
    public static async Task<RasResult> RasAsync(IPEndPoint target, Func<IPEndPoint, int, byte[]> build, TimeSpan? timeout = null, int attempts = 2,
        IPEndPoint? source = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(build);
        var started = TimeProvider.System.GetTimestamp();
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        IPEndPoint local;
        try
        {
            socket.Bind(source ?? new IPEndPoint(target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
            socket.Connect(target);
            local = (IPEndPoint)socket.LocalEndPoint!;
        }
        catch (SocketException ex)
        {
            return new RasResult(null, ex.SocketErrorCode.ToString(), null, TimeProvider.System.GetElapsedTime(started));
        }

        var seq = NextSequence();
        var request = build(local, seq);
        RasMessage? answer = null;
        var error = await UdpExchange.RequestAsync(socket, request, RasCodec.MaxMessageSize, (ReadOnlySpan<byte> datagram, out string? problem) =>
        {
            problem = null;
            if (RasCodec.TryDecode(datagram, out var m, out var decodeError) != OperationStatus.Done)
            {
                problem = "not RAS: " + decodeError;
                return false;
            }

            if (m.SequenceNumber != seq)
            {
                problem = "an answer to another request";
                return false;
            }

            answer = m;
            return true;
        }, "timeout: no RAS answer", timeout, attempts, cancellationToken).ConfigureAwait(false);
        return new RasResult(answer, error, local, TimeProvider.System.GetElapsedTime(started));
    }

    public static Task<RasResult> DiscoverAsync(IPEndPoint target, TimeSpan? timeout = null, int attempts = 2, string? gatekeeperId = null, CancellationToken cancellationToken = default) =>
        RasAsync(target, (local, seq) => RasCodec.WriteGrq(seq, local, [H225Alias.H323Id("cucmsim")], gatekeeperId), timeout, attempts, null, cancellationToken);

    /// <summary>RRQ with the given aliases; the call signalling address it names is this client's address, port 1720.</summary>
    public static Task<RasResult> RegisterAsync(IPEndPoint target, IReadOnlyList<H225Alias> aliases, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RasAsync(target, (local, seq) => RasCodec.WriteRrq(seq, new IPEndPoint(Plain(local.Address), 1720), Plain(local), aliases), timeout, attempts, null, cancellationToken);

    public static Task<RasResult> LocateAsync(IPEndPoint target, string number, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RasAsync(target, (local, seq) => RasCodec.WriteLrq(seq, H225Alias.Digits(number), Plain(local)), timeout, attempts, null, cancellationToken);

    public static Task<RasResult> UnregisterAsync(IPEndPoint target, string? endpointId, TimeSpan? timeout = null, int attempts = 2, CancellationToken cancellationToken = default) =>
        RasAsync(target, (local, seq) => RasCodec.WriteUrq(seq, new IPEndPoint(Plain(local.Address), 1720), endpointId), timeout, attempts, null, cancellationToken);

    /// <summary>
    /// A call to <paramref name="number"/>: Setup, then every answer until Connect or ReleaseComplete. After Connect,
    /// optionally Status Enquiry, then a TCP connection to the H.245 address, then ReleaseComplete from this side.
    /// </summary>
    public static async Task<H225CallResult> CallAsync(IPEndPoint target, string number, H225CallOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        options ??= new H225CallOptions();
        var started = TimeProvider.System.GetTimestamp();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(options.Timeout);
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var answers = new List<Q931Message>();
        IPEndPoint? local = null;
        var stage = "connect";
        try
        {
            if (options.Source is { } source)
            {
                socket.Bind(source);
            }

            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            local = (IPEndPoint)socket.LocalEndPoint!;
            var reference = (ushort)RandomNumberGenerator.GetInt32(1, 0x7FFF);
            var guid = RandomNumberGenerator.GetBytes(16);
            var setup = Q931Codec.Encode(
                new Q931Message { Type = Q931Type.Setup, CallReference = reference, BearerCapability = true, CalledNumber = number, CallingNumber = options.Calling, Display = "cucmsim" },
                UuieCodec.WriteSetup([H225Alias.Digits(options.Calling)], [H225Alias.Digits(number)], guid, guid));
            await socket.SendAsync(setup, SocketFlags.None, cts.Token).ConfigureAwait(false);
            var stream = new FrameReader(socket);
            stage = "answer to Setup";
            while (!answers.Any(a => a.Type is Q931Type.Connect or Q931Type.ReleaseComplete))
            {
                answers.Add(await stream.NextAsync(cts.Token).ConfigureAwait(false));
            }

            var connect = answers.FirstOrDefault(a => a.Type == Q931Type.Connect);
            var h245 = connect?.Uuie?.H245Address?.EndPoint;
            Q931Message? status = null;
            if (connect is not null && options.StatusEnquiry)
            {
                stage = "Status";
                await socket.SendAsync(Q931Codec.Encode(new Q931Message { Type = Q931Type.StatusEnquiry, CallReference = reference }, null), SocketFlags.None, cts.Token).ConfigureAwait(false);
                status = await stream.NextAsync(cts.Token).ConfigureAwait(false);
            }

            bool? reached = null;
            string? h245Error = null;
            if (connect is not null && h245 is not null && options.ConnectH245)
            {
                // The H.245 attempt has half the timeout of its own; the signalling's clock starts again for what follows.
                cts.CancelAfter(options.Timeout);
                using var reach = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                reach.CancelAfter(options.Timeout / 2);
                (reached, h245Error) = await ReachAsync(h245, options, reach.Token, cancellationToken).ConfigureAwait(false);
            }

            if (connect is not null)
            {
                stage = "ReleaseComplete";
                await socket.SendAsync(Q931Codec.Encode(new Q931Message { Type = Q931Type.ReleaseComplete, CallReference = reference, Cause = Q931Cause.NormalClearing },
                    UuieCodec.WriteReleaseComplete(ReleaseReason.UndefinedReason, guid)), SocketFlags.None, cts.Token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }

            return new H225CallResult
            {
                Answers = answers, Local = local, H245Address = h245, Status = status, H245Reached = reached, H245Error = h245Error,
                Error = connect is not null && h245 is null ? "Connect without an H.245 address" : null,
                Elapsed = TimeProvider.System.GetElapsedTime(started),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed(answers, local, $"timeout: no {stage}", started);
        }
        catch (SocketException ex)
        {
            return Failed(answers, local, ex.SocketErrorCode == SocketError.ConnectionRefused ? "refused" : $"{ex.SocketErrorCode} ({stage})", started);
        }
        catch (InvalidDataException ex)
        {
            return Failed(answers, local, ex.Message, started);
        }
    }

    private static async Task<(bool, string?)> ReachAsync(IPEndPoint h245, H225CallOptions options, CancellationToken timeout, CancellationToken cancellationToken)
    {
        using var socket = new Socket(h245.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (options.Source is { } source)
            {
                socket.Bind(new IPEndPoint(source.Address, 0));
            }

            await socket.ConnectAsync(h245, timeout).ConfigureAwait(false);
            return (true, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, $"timeout: no SYN-ACK from the H.245 address {h245}");
        }
        catch (SocketException ex)
        {
            return (false, ex.SocketErrorCode == SocketError.ConnectionRefused ? $"refused: a TCP RST from the H.245 address {h245}" : $"{ex.SocketErrorCode} connecting to {h245}");
        }
    }

    private static H225CallResult Failed(List<Q931Message> answers, IPEndPoint? local, string error, long started) =>
        new() { Answers = answers, Local = local, Error = error, Elapsed = TimeProvider.System.GetElapsedTime(started) };

    private static IPAddress Plain(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static IPEndPoint Plain(IPEndPoint endPoint) => new(Plain(endPoint.Address), endPoint.Port);

    /// <summary>Reads TPKT frames off a stream socket, one Q.931 message at a time.</summary>
    private sealed class FrameReader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[Tpkt.DefaultMaxLength * 2];
        private int _filled;

        public async Task<Q931Message> NextAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(_buffer, 0, _filled);
                var reader = new SequenceReader<byte>(sequence);
                switch (Tpkt.TryRead(ref reader, out var payload))
                {
                    case OperationStatus.Done:
                        var status = Q931Codec.TryDecode(payload, out var message, out var error);
                        var used = (int)reader.Consumed;
                        Buffer.BlockCopy(_buffer, used, _buffer, 0, _filled - used);
                        _filled -= used;
                        return status == OperationStatus.Done ? message! : throw new InvalidDataException("not Q.931: " + error);
                    case OperationStatus.InvalidData:
                        throw new InvalidDataException("not TPKT");
                }

                var n = await socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new InvalidDataException("closed by the server");
                }

                _filled += n;
            }
        }
    }
}

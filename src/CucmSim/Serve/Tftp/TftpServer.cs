using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Tftp;
using Microsoft.Extensions.Logging;

namespace CucmSim.Serve.Tftp;

/// <summary>
/// The TFTP listener (69, 6969): read requests start transfers, everything else is answered with the
/// right ERROR (RFC 1350 §5, §7). In single-port mode it also hands ACKs to the peer's transfer.
/// </summary>
internal sealed partial class TftpServer : IUdpProtocol
{
    /// <summary>Netascii files are converted in memory; larger ones are refused.</summary>
    private const long MaxNetAsciiBytes = 16L * 1024 * 1024;

    /// <summary>An ERROR is at most this many times the bytes of the request it answers (docs/security.md).</summary>
    internal const int MaxAmplification = 3;

    private readonly ListenerRuntime _listener;
    private readonly ServeContext _context;
    private readonly ProvisioningService _service;
    private readonly Dictionary<SocketAddress, TftpTransfer> _transfers = [];
    private readonly Lock _lock = new();
    private readonly IPEndPoint _template;
    private readonly ILogger _log;

    public TftpServer(ListenerRuntime listener, ServeContext context, ProvisioningService service)
    {
        _listener = listener;
        _context = context;
        _service = service;
        _template = new IPEndPoint(listener.Address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        _log = context.Loggers.CreateLogger("CucmSim.Tftp");
    }

    internal ListenerRuntime Listener => _listener;

    internal ServeContext Context => _context;

    internal ProvisioningService Service => _service;

    internal ILogger Log => _log;

    public int Active
    {
        get
        {
            lock (_lock)
            {
                return _transfers.Count;
            }
        }
    }

    public void OnDatagram(ref UdpRequest request)
    {
        var data = request.Data;
        if (!TftpPacket.TryReadOpcode(data, out var opcode))
        {
            _listener.MalformedInput();
            request.Verdict = "tftp-malformed";
            ReplyError(ref request, TftpErrorCode.IllegalOperation, "Illegal TFTP operation");
            return;
        }

        TftpTransfer? existing;
        lock (_lock)
        {
            _transfers.TryGetValue(request.PeerAddress, out existing);
        }

        if (existing is not null)
        {
            if (opcode == TftpOpcode.ReadRequest && !existing.HasHeardFromPeer)
            {
                // The client repeated its RRQ before our first packet reached it: that packet again, from the
                // transfer's port (a second transfer would double the traffic; the timer sends nothing to an
                // unproven peer, against reflection).
                existing.RepeatFirst();
                request.Verdict = "tftp-rrq-repeat";
                return;
            }

            // A read request from the same address and port after the client acknowledged data is a new
            // transfer from a reused port (the old one's last ACK may still be on its way): it replaces the entry.
            if (opcode != TftpOpcode.ReadRequest && existing.SharesListenerSocket)
            {
                existing.OnPacket(data, request.PeerAddress);
                return;
            }
        }

        switch (opcode)
        {
            case TftpOpcode.ReadRequest:
                StartTransfer(ref request);
                break;
            case TftpOpcode.WriteRequest:
                // The ledger names the file a client tried to write (or says the request did not parse).
                request.Verdict = "tftp-wrq";
                Refuse(ref request, TftpErrorCode.AccessViolation, "Access violation: this server does not accept writes",
                    TftpPacket.TryParseRequest(data, out var wrq, out _) == OperationStatus.Done ? wrq!.FileName : "(unparsed write request)", "write request");
                break;
            case TftpOpcode.Error:
                // RFC 1350 §7: an ERROR is never answered.
                request.Verdict = "tftp-error";
                break;
            default:
                // DATA, ACK or OACK to the request port: not part of any transfer (RFC 1350 §4).
                request.Verdict = "tftp-unknown-tid";
                ReplyError(ref request, TftpErrorCode.UnknownTransferId, "Unknown transfer ID");
                break;
        }
    }

    private void StartTransfer(ref UdpRequest request)
    {
        var status = TftpPacket.TryParseRequest(request.Data, out var rrq, out var parseError);
        if (status != OperationStatus.Done || rrq is null)
        {
            _listener.MalformedInput();
            request.Verdict = "tftp-malformed";
            var optionError = parseError is not null && (parseError.Contains("blksize", StringComparison.Ordinal) || parseError.Contains("tsize", StringComparison.Ordinal) ||
                                                          parseError.Contains("timeout", StringComparison.Ordinal) || parseError.Contains("windowsize", StringComparison.Ordinal) ||
                                                          parseError.Contains("option", StringComparison.Ordinal));
            // RFC 2347 §2: a request whose options cannot be accepted gets ERROR 8.
            Refuse(ref request, optionError ? TftpErrorCode.OptionNegotiationFailed : TftpErrorCode.IllegalOperation,
                optionError ? "Option negotiation failed: " + parseError : "Illegal TFTP operation: " + parseError, "malformed request", parseError);
            return;
        }

        request.Verdict = "tftp-rrq";
        request.Detail = new() { ["file"] = rrq.FileName };
        if (rrq.Mode == TftpMode.Mail)
        {
            Refuse(ref request, TftpErrorCode.IllegalOperation, "Illegal TFTP operation: mail mode is not supported", rrq.FileName, "mail mode");
            return;
        }

        if (!_service.TryEnter())
        {
            request.Verdict = "tftp-busy";
            Refuse(ref request, TftpErrorCode.NotDefined, "Server busy: too many transfers, retry later", rrq.FileName, "busy");
            return;
        }

        var entered = true;
        ProvisioningFile? file = null;
        try
        {
            var peer = request.Peer;
            var lookup = _service.Content.Lookup(rrq.FileName, Text.EndPoint(peer), "tftp", _context.Embedded(request.LocalAddress, peer.Address), out file, out var reason);
            if (lookup == LookupStatus.NotFound)
            {
                Refuse(ref request, TftpErrorCode.FileNotFound, "File not found", rrq.FileName, reason, rrq);
                return;
            }

            if (lookup == LookupStatus.Refused)
            {
                Refuse(ref request, TftpErrorCode.AccessViolation, "Access violation: " + reason, rrq.FileName, reason, rrq);
                return;
            }

            if (rrq.Mode == TftpMode.NetAscii)
            {
                if (file!.Length > MaxNetAsciiBytes)
                {
                    Refuse(ref request, TftpErrorCode.NotDefined, "File too large for netascii mode", rrq.FileName, "netascii size limit", rrq);
                    return;
                }

                var raw = new byte[file.Length];
                file.Read(0, raw);
                var converted = new MemoryFile(file.Name, NetAscii.Encode(raw), file.Generated);
                file.Dispose();
                file = converted;
            }

            var negotiated = Negotiate(rrq.Options, file!.Length);
            // The data port is opened on the address the request reached, so the transfer (and its errors) come
            // from the server the client asked, through a firewall that only lets that address answer.
            var dataAddress = request.Local.ToSocketAddress() ?? _listener.Address;
            Socket? socket;
            var shares = false;
            switch (_service.Options.PortMode)
            {
                case TftpPortMode.Single:
                    socket = _listener.Socket;
                    shares = true;
                    break;
                case TftpPortMode.Range:
                    socket = _service.Pool!.TryBind(dataAddress);
                    break;
                default:
                    // RFC 1350 §4: the server picks a fresh transfer ID (port) for every transfer.
                    socket = TftpSockets.TryBind(dataAddress, 0);
                    break;
            }

            if (socket is null)
            {
                Refuse(ref request, TftpErrorCode.NotDefined, "No data port free, retry later", rrq.FileName, "no data port", rrq);
                return;
            }

            var key = new SocketAddress(request.PeerAddress.Family, request.PeerAddress.Size);
            request.PeerAddress.Buffer.Span[..request.PeerAddress.Size].CopyTo(key.Buffer.Span);
            var transfer = new TftpTransfer(this, rrq, file, negotiated, key, Text.EndPoint(peer), socket, shares) { Local = request.Local };
            lock (_lock)
            {
                _transfers[key] = transfer;
            }

            file = null;
            entered = false;
            transfer.Start();
        }
        finally
        {
            file?.Dispose();
            if (entered)
            {
                _service.Exit();
            }
        }
    }

    /// <summary>What the server grants (RFC 2347 §2: only options it accepts appear in the OACK).</summary>
    private Negotiated Negotiate(TftpOptionSet requested, long size)
    {
        var options = _service.Options;
        var blksize = requested.BlockSize is { } b ? Math.Min(b, options.MaxBlockSize) : (int?)null;
        var window = requested.WindowSize is { } w ? Math.Min(w, options.MaxWindowSize) : (int?)null;

        // RFC 2349 §4: in a read request tsize is 0 and the server answers the size.
        var tsize = requested.TransferSize is not null ? size : (long?)null;
        var granted = new TftpOptionSet(blksize, tsize, requested.Timeout, window);
        var timeout = requested.Timeout is { } t ? TimeSpan.FromSeconds(t) : options.Timeout;
        return new Negotiated(granted, blksize ?? TftpPacket.DefaultBlockSize, window ?? 1, timeout);
    }

    private void Refuse(ref UdpRequest request, TftpErrorCode code, string message, string file, string? reason = null, TftpRequest? rrq = null)
    {
        if (code is TftpErrorCode.FileNotFound or TftpErrorCode.AccessViolation && _service.Options.PortMode != TftpPortMode.Single &&
            TftpSockets.TryBind(request.Local.ToSocketAddress() ?? _listener.Address, 0) is { } socket)
        {
            // The refusal of a well-formed request is the first (and last) packet of its transfer: it comes
            // from a new transfer ID, as tftpd does, so a client's trailing ACK finds a closed port and no
            // second error from the request port.
            using (socket)
            {
                Span<byte> buffer = stackalloc byte[TftpPacket.HeaderLength + TftpPacket.MaxErrorMessageLength + 1];
                var n = WriteBoundedError(buffer, code, message, request.Data.Length);
                try
                {
                    if (n > 0)
                    {
                        _listener.Sent(socket.SendTo(buffer[..n], SocketFlags.None, request.PeerAddress));
                    }
                }
                catch (SocketException)
                {
                }
            }
        }
        else
        {
            ReplyError(ref request, code, message);
        }

        var peer = Text.EndPoint(request.Peer);
        LogRefused(_log, _listener.Id, peer, file, code, message);
        _service.Record(new ProvisioningEvent
        {
            Listener = _listener,
            Channel = "tftp",
            Peer = peer,
            File = file,
            Outcome = "error",
            Options = rrq?.Options.ToString(),
            Error = $"ERROR {(int)code}: {message}",
            Extra = reason is null ? null : new() { ["reason"] = reason },
        });
    }

    private static void ReplyError(ref UdpRequest request, TftpErrorCode code, string message)
    {
        Span<byte> buffer = stackalloc byte[TftpPacket.HeaderLength + TftpPacket.MaxErrorMessageLength + 1];
        var n = WriteBoundedError(buffer, code, message, request.Data.Length);
        if (n > 0)
        {
            request.Reply(buffer[..n]);
        }
    }

    /// <summary>
    /// An ERROR within <see cref="MaxAmplification"/> times the request: its text is cut to fit, down to none (the
    /// 4-byte header and the NUL); 0 when even that would not fit, and nothing is sent (the request port answers
    /// anyone, and a forged source would draw the answer).
    /// </summary>
    internal static int WriteBoundedError(Span<byte> buffer, TftpErrorCode code, string message, int requestLength)
    {
        var room = MaxAmplification * requestLength - TftpPacket.HeaderLength - 1;
        if (room < 0)
        {
            return 0;
        }

        return TftpPacket.WriteError(buffer, code, message.Length > room ? message[..room] : message);
    }

    internal void Remove(TftpTransfer transfer)
    {
        lock (_lock)
        {
            if (_transfers.TryGetValue(transfer.PeerAddress, out var current) && ReferenceEquals(current, transfer))
            {
                _transfers.Remove(transfer.PeerAddress);
            }
        }
    }

    internal IPEndPoint ToEndPoint(SocketAddress address)
    {
        var ep = (IPEndPoint)_template.Create(address);
        return ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "{Listener} {Peer}: {File} refused with ERROR {Code}: {Message}")]
    private static partial void LogRefused(ILogger logger, string listener, string peer, string file, TftpErrorCode code, string message);
}

/// <summary>The options granted for one transfer and the parameters they imply.</summary>
internal sealed record Negotiated(TftpOptionSet Granted, int BlockSize, int WindowSize, TimeSpan Timeout);

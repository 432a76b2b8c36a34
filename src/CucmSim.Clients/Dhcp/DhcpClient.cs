using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Dhcp;

namespace CucmSim.Clients.Dhcp;

/// <summary>What a server answered a request (null: nothing in time).</summary>
public sealed record DhcpAnswer(DhcpMessage? Reply, string? Error)
{
    public DhcpMessageType Type => Reply?.MessageType ?? DhcpMessageType.None;

    /// <summary>Option 150 (Cisco's TFTP server address; the first one when several).</summary>
    public IPAddress? TftpServer => Reply?.Get(DhcpOption.TftpServerAddress) is { Length: >= 4 } v ? new IPAddress(v.AsSpan(0, 4)) : null;
}

/// <summary>
/// A DHCP client that talks to a server by unicast the way a relay agent does (ip helper-address, as phones reach
/// CUCM's DHCP server across subnets): giaddr is this socket's address, and the Relay Agent Information option asks,
/// with the relay source port sub-option of RFC 8357, for the answers on this socket's own port. So it needs no port
/// 67 or 68 and no broadcast, and runs beside a server on the same host. One socket per client; one exchange at a time.
/// </summary>
public sealed class DhcpRelayClient : IDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _server;
    private readonly IPAddress _relay;
    private readonly byte[] _buffer = new byte[2048];

    public DhcpRelayClient(IPEndPoint server, byte[] hardwareAddress, IPAddress? relayAddress = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(hardwareAddress);
        _server = server;
        HardwareAddress = hardwareAddress;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(relayAddress ?? IPAddress.Any, 0));
        _socket.Connect(server);
        _relay = ((IPEndPoint)_socket.LocalEndPoint!).Address;
    }

    public byte[] HardwareAddress { get; }

    /// <summary>A fresh transaction id per exchange.</summary>
    public uint TransactionId { get; set; } = (uint)Random.Shared.Next();

    public DhcpMessage NewRequest(DhcpMessageType type)
    {
        var message = new DhcpMessage { TransactionId = TransactionId, RelayAddress = _relay, Hops = 1, HardwareLength = (byte)HardwareAddress.Length };
        HardwareAddress.CopyTo(message.ClientHardwareAddress, 0);
        message.Set(DhcpOption.MessageType, [(byte)type]);
        message.Set(DhcpOption.ParameterRequestList, [DhcpOption.SubnetMask, DhcpOption.TftpServerName, DhcpOption.TftpServerAddress]);
        message.Set(DhcpOption.RelayAgentInformation, [DhcpOption.RelaySourcePortSubOption, 0]);
        return message;
    }

    /// <summary>DISCOVER; the OFFER.</summary>
    public Task<DhcpAnswer> DiscoverAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        ExchangeAsync(NewRequest(DhcpMessageType.Discover), timeout, cancellationToken);

    /// <summary>REQUEST of an offered address from the server that offered it (SELECTING); the ACK or NAK.</summary>
    public Task<DhcpAnswer> RequestAsync(IPAddress address, IPAddress serverIdentifier, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var request = NewRequest(DhcpMessageType.Request);
        request.Set(DhcpOption.RequestedAddress, address);
        request.Set(DhcpOption.ServerIdentifier, serverIdentifier);
        return ExchangeAsync(request, timeout, cancellationToken);
    }

    /// <summary>RELEASE of a leased address (no answer).</summary>
    public async Task ReleaseAsync(IPAddress address, IPAddress serverIdentifier, CancellationToken cancellationToken = default)
    {
        var release = NewRequest(DhcpMessageType.Release);
        release.ClientAddress = address;
        release.Set(DhcpOption.ServerIdentifier, serverIdentifier);
        await SendAsync(release, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a message and waits for the answer of the same transaction (others are skipped).</summary>
    public async Task<DhcpAnswer> ExchangeAsync(DhcpMessage request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await SendAsync(request, cts.Token).ConfigureAwait(false);
            while (true)
            {
                var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (DhcpCodec.TryRead(_buffer.AsSpan(0, n), out var reply, out _) && reply.Op == 2 && reply.TransactionId == request.TransactionId)
                {
                    return new DhcpAnswer(reply, null);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new DhcpAnswer(null, "timeout: no answer");
        }
        catch (SocketException ex)
        {
            return new DhcpAnswer(null, ex.SocketErrorCode == SocketError.ConnectionRefused ? "port unreachable" : ex.SocketErrorCode.ToString());
        }
    }

    private async Task SendAsync(DhcpMessage message, CancellationToken cancellationToken)
    {
        var bytes = new byte[DhcpCodec.MaxReplySize];
        var n = DhcpCodec.Write(message, bytes);
        await _socket.SendAsync(bytes.AsMemory(0, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _socket.Dispose();
}

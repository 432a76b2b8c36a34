using System.Net;
using System.Net.Sockets;
using CucmSim.Protocols.Tftp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Tftp;

/// <summary>A bare UDP socket that speaks TFTP packet by packet, so a test can drop, repeat or misdirect any of them.</summary>
internal sealed class RawTftpSocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly byte[] _buffer = new byte[70_000];

    public RawTftpSocket() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public IPEndPoint Local => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Bytes waiting to be read (a datagram sent on loopback is queued by the time its send returns).</summary>
    public int Available => _socket.Available;

    public void Send(IPEndPoint to, ReadOnlySpan<byte> datagram) => _socket.SendTo(datagram, SocketFlags.None, to);

    public void SendRrq(IPEndPoint to, string file, TftpOptionSet options = default, TftpMode mode = TftpMode.Octet)
    {
        var buffer = new byte[512];
        Send(to, buffer.AsSpan(0, TftpPacket.WriteRequest(buffer, TftpOpcode.ReadRequest, file, mode, options)));
    }

    public void SendAck(IPEndPoint to, ushort block)
    {
        Span<byte> ack = stackalloc byte[4];
        TftpPacket.WriteAck(ack, block);
        Send(to, ack);
    }

    public async Task<(IPEndPoint From, byte[] Data)> ReceiveAsync(TimeSpan? timeout = null)
    {
        var r = await _socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout(timeout ?? TimeSpan.FromSeconds(10));
        return ((IPEndPoint)r.RemoteEndPoint, _buffer.AsSpan(0, r.ReceivedBytes).ToArray());
    }

    public async Task<(IPEndPoint From, ushort Block, byte[] Data)> ReceiveDataAsync()
    {
        var (from, packet) = await ReceiveAsync();
        Assert.True(TftpPacket.TryParseData(packet, out var block, out var data), $"expected DATA, got {Describe(packet)}");
        return (from, block, data.ToArray());
    }

    public async Task<(TftpErrorCode Code, string Message, IPEndPoint From)> ReceiveErrorAsync()
    {
        var (from, packet) = await ReceiveAsync();
        Assert.True(TftpPacket.TryParseError(packet, out var code, out var message), $"expected ERROR, got {Describe(packet)}");
        return (code, message, from);
    }

    public static string Describe(byte[] packet) =>
        TftpPacket.TryReadOpcode(packet, out var op) ? $"{op} ({packet.Length} bytes)" : Convert.ToHexString(packet);

    public void Dispose() => _socket.Dispose();
}
